// Verification challenges: what the controller asks a new (or re-verified)
// node to compute, and the worker's solver.
//
// The first half of this header is the CONTRACT shared with the controller's
// verifier (scheduler/verify.h): the challenge spec, its JSON, and the exact
// deterministic streams both sides generate from the seed. It is header-only
// (inline) on purpose, so that the pure verifier links no worker code; it is a
// frozen wire format: change it and every deployed worker answers wrongly.
//
// Challenges are seeded by the controller with fresh randomness, so a node
// cannot precompute answers:
//  - matmul: C = A.B for n x n matrices A, B whose entries are small integers
//    (-8..7) drawn from the seed. Floats (FP32) hold them exactly, and every
//    partial sum is an integer of magnitude <= 64n <= 2^22 < 2^24, so any
//    summation order - blocked CPU code, cuBLAS SGEMM, even TF32/FP16 tensor
//    cores with FP32 accumulation - yields the one exact integer product. The
//    controller can then check it exactly (Freivalds' algorithm / recomputed
//    rows) and the node's measured speed is real FP32 work.
//  - memory: a seeded pseudo-random stream written over `bytes` of memory and
//    read back, hashed in 1 MiB chunks; the controller regenerates a few
//    chunks it picks after the answer arrives. It proves the node produced the
//    exact stream and read it back intact; it does not by itself prove that all
//    `bytes` were resident at once (a node could stream), so it is a check of
//    claimed memory's integrity and of liveness, not a capacity proof.
//  - pow: a nonce such that SHA-256(seed || nonce) has difficulty_bits leading
//    zero bits: cheap to check, costly to fake; a liveness proof.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/crypto.h"
#include "common/signing.h"
#include "common/status.h"

namespace gm {

// ---------------------------------------------------------------------------
// The contract (frozen).

inline constexpr char kChallengeMatmul[] = "matmul";
inline constexpr char kChallengeMemory[] = "memory";
inline constexpr char kChallengePow[] = "pow";

// Bounds a spec must respect; they keep every integer exact and every answer
// finite. Past kMatmulMaxN a partial sum could exceed 2^24 and FP32 would round.
inline constexpr int kMatmulMaxN = 65536;
// Up to this n the answer carries the whole product C, so that the controller
// can run Freivalds' check on it; above it, only row digests.
inline constexpr int kMatmulFullResultMaxN = 256;
inline constexpr int64_t kMemoryChunkBytes = int64_t{1} << 20;
inline constexpr int64_t kMemoryMaxBytes = int64_t{1} << 40;
inline constexpr int kPowMaxDifficultyBits = 40;
inline constexpr size_t kChallengeSeedBytes = 32;  // seed_hex: 64 hex characters

struct ChallengeSpec {
  std::string kind;        // "matmul" | "memory" | "pow"
  std::string seed_hex;    // 32 random bytes from the controller, lower-case hex
  int n = 0;               // matmul: matrix size, 1..kMatmulMaxN
  int64_t bytes = 0;       // memory: stream length, 1..kMemoryMaxBytes
  int difficulty_bits = 0; // pow: leading zero bits wanted, 1..kPowMaxDifficultyBits

  bool operator==(const ChallengeSpec&) const = default;
};

// Checks the kind, the seed and the one size field the kind uses.
// Errors: InvalidArgument naming the field.
inline Status ValidateChallengeSpec(const ChallengeSpec& spec) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("challenge: " + m); };
  auto seed = HexToBytes(spec.seed_hex);
  if (!seed || seed->size() != kChallengeSeedBytes) return bad("seed must be 64 hex characters");
  if (spec.kind == kChallengeMatmul) {
    if (spec.n < 1 || spec.n > kMatmulMaxN)
      return bad("n must be in [1, " + std::to_string(kMatmulMaxN) + "], got " + std::to_string(spec.n));
  } else if (spec.kind == kChallengeMemory) {
    if (spec.bytes < 1 || spec.bytes > kMemoryMaxBytes)
      return bad("bytes must be in [1, 2^40], got " + std::to_string(spec.bytes));
  } else if (spec.kind == kChallengePow) {
    if (spec.difficulty_bits < 1 || spec.difficulty_bits > kPowMaxDifficultyBits)
      return bad("difficulty_bits must be in [1, " + std::to_string(kPowMaxDifficultyBits) + "], got " +
                 std::to_string(spec.difficulty_bits));
  } else {
    return bad("kind '" + spec.kind + "' is not one of matmul, memory, pow");
  }
  return Status::OK();
}

// {"kind": "matmul", "seed": "<hex>", "n": 128}, with "bytes" for memory and
// "difficulty_bits" for pow; only the kind's own size field is written.
inline nlohmann::json ChallengeSpecToJson(const ChallengeSpec& spec) {
  nlohmann::json j{{"kind", spec.kind}, {"seed", spec.seed_hex}};
  if (spec.kind == kChallengeMatmul) j["n"] = spec.n;
  if (spec.kind == kChallengeMemory) j["bytes"] = spec.bytes;
  if (spec.kind == kChallengePow) j["difficulty_bits"] = spec.difficulty_bits;
  return j;
}

// Parses and validates. Errors: InvalidArgument naming the missing or
// mistyped field ("challenge: n must be an integer").
inline Result<ChallengeSpec> ChallengeSpecFromJson(const nlohmann::json& j) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument("challenge: " + m); };
  if (!j.is_object()) return bad("not a JSON object");
  ChallengeSpec spec;
  for (const char* f : {"kind", "seed"}) {
    if (!j.contains(f)) return bad(std::string(f) + " is missing");
    if (!j[f].is_string()) return bad(std::string(f) + " must be a string");
  }
  spec.kind = j["kind"].get<std::string>();
  spec.seed_hex = j["seed"].get<std::string>();
  const char* size_field = spec.kind == kChallengeMatmul   ? "n"
                           : spec.kind == kChallengeMemory ? "bytes"
                           : spec.kind == kChallengePow    ? "difficulty_bits"
                                                           : nullptr;
  if (size_field) {
    if (!j.contains(size_field)) return bad(std::string(size_field) + " is missing");
    const auto& v = j[size_field];
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{1} << 62))
      return bad(std::string(size_field) + " must be an integer");
    int64_t x = v.get<int64_t>();
    if (spec.kind == kChallengeMemory) spec.bytes = x;
    else if (x < INT32_MIN || x > INT32_MAX) return bad(std::string(size_field) + " is out of range");
    else if (spec.kind == kChallengeMatmul) spec.n = static_cast<int>(x);
    else spec.difficulty_bits = static_cast<int>(x);
  }
  GM_RETURN_IF_ERROR(ValidateChallengeSpec(spec));
  return spec;
}

namespace challenge {

// SplitMix64 in counter mode: output number `counter` (from 0) of Vigna's
// SplitMix64 seeded with `key`. Any element is computable on its own, so the
// verifier regenerates one row or one chunk without the rest.
inline uint64_t CounterPrng(uint64_t key, uint64_t counter) {
  uint64_t z = key + (counter + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The first 8 bytes, little-endian, of SHA-256(label || seed bytes). Labels
// keep A, B and the memory stream independent of each other.
inline uint64_t DeriveKey(const std::string& seed_hex, const char* label) {
  auto seed = HexToBytes(seed_hex);
  std::string digest = *HexToBytes(Sha256Hex(std::string(label) + (seed ? *seed : std::string())));
  uint64_t k = 0;
  for (int i = 7; i >= 0; --i) k = (k << 8) | static_cast<unsigned char>(digest[i]);
  return k;
}
inline uint64_t MatrixKeyA(const std::string& seed_hex) { return DeriveKey(seed_hex, "gridmint-matmul-A"); }
inline uint64_t MatrixKeyB(const std::string& seed_hex) { return DeriveKey(seed_hex, "gridmint-matmul-B"); }
inline uint64_t MemoryKey(const std::string& seed_hex) { return DeriveKey(seed_hex, "gridmint-memory"); }

// Entry (i, j) of an n x n matrix, in -8..7: element e = i*n + j is nibble
// e % 16 (from the least significant) of CounterPrng(key, e / 16), minus 8.
inline int MatrixEntry(uint64_t key, int n, int64_t i, int64_t j) {
  uint64_t e = static_cast<uint64_t>(i) * static_cast<uint64_t>(n) + static_cast<uint64_t>(j);
  return static_cast<int>((CounterPrng(key, e / 16) >> (4 * (e % 16))) & 15) - 8;
}

// Row i of the matrix into out[0..n), 16 entries per PRNG call.
template <typename T>
inline void MatrixRow(uint64_t key, int n, int64_t i, T* out) {
  uint64_t e = static_cast<uint64_t>(i) * static_cast<uint64_t>(n);
  uint64_t end = e + static_cast<uint64_t>(n);
  T* p = out;
  while (e < end) {
    uint64_t word = CounterPrng(key, e / 16);
    for (uint64_t k = e % 16; k < 16 && e < end; ++k, ++e) *p++ = static_cast<T>(static_cast<int>((word >> (4 * k)) & 15) - 8);
  }
}

// A row of C as hashed: SHA-256 of its n entries as int32 little-endian.
inline std::string RowDigestHex(const int32_t* row, int n) {
  std::string bytes(static_cast<size_t>(n) * 4, '\0');
  for (int j = 0; j < n; ++j) {
    uint32_t v = static_cast<uint32_t>(row[j]);
    for (int b = 0; b < 4; ++b) bytes[4 * static_cast<size_t>(j) + b] = static_cast<char>((v >> (8 * b)) & 0xff);
  }
  return Sha256Hex(bytes);
}

// The commitment to all of C: SHA-256 of the n row digests' hex text,
// concatenated in row order.
inline std::string ProductDigestHex(const std::vector<std::string>& row_digests) {
  std::string all;
  all.reserve(row_digests.size() * 64);
  for (const auto& d : row_digests) all += d;
  return Sha256Hex(all);
}

// The memory stream: 64-bit word w is CounterPrng(key, w), stored
// little-endian at byte 8w. Chunk c is bytes [c MiB, min((c+1) MiB, total)).
inline int64_t MemoryChunkCount(int64_t total_bytes) {
  return (total_bytes + kMemoryChunkBytes - 1) / kMemoryChunkBytes;
}
inline int64_t MemoryChunkSize(int64_t total_bytes, int64_t chunk) {
  int64_t begin = chunk * kMemoryChunkBytes;
  return std::min(kMemoryChunkBytes, total_bytes - begin);
}
// Writes chunk `chunk` of the stream (MemoryChunkSize bytes) to `out`.
inline void FillMemoryChunk(uint64_t key, int64_t total_bytes, int64_t chunk, unsigned char* out) {
  int64_t size = MemoryChunkSize(total_bytes, chunk);
  uint64_t w = static_cast<uint64_t>(chunk * kMemoryChunkBytes / 8);
  for (int64_t off = 0; off < size; off += 8, ++w) {
    uint64_t v = CounterPrng(key, w);
    for (int64_t b = 0; b < 8 && off + b < size; ++b) out[off + b] = static_cast<unsigned char>(v >> (8 * b));
  }
}

// SHA-256(seed bytes || nonce as 8 bytes big-endian), hex.
inline std::string PowDigestHex(const std::string& seed_hex, uint64_t nonce) {
  std::string msg = HexToBytes(seed_hex).value_or(std::string());
  for (int b = 7; b >= 0; --b) msg.push_back(static_cast<char>((nonce >> (8 * b)) & 0xff));
  return Sha256Hex(msg);
}

// Leading zero bits of a hex digest (4 per leading '0', then the first
// non-zero nibble's). A non-hex character counts as non-zero.
inline int LeadingZeroBits(const std::string& hex) {
  int bits = 0;
  for (char c : hex) {
    int v = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : 16;
    if (v == 0) { bits += 4; continue; }
    if (v < 16) bits += v >= 8 ? 0 : v >= 4 ? 1 : v >= 2 ? 2 : 3;
    break;
  }
  return bits;
}

}  // namespace challenge

// Answer fields (frozen), by kind:
//  matmul: kind, n, c_sha256 (ProductDigestHex), row_sha256 [n hex], c [[n ints] x n]
//          only when n <= kMatmulFullResultMaxN, elapsed_ns (the multiply
//          alone), flops (= 2 n^3), device ("cpu" | "cuda")
//  memory: kind, bytes, chunk_bytes (= kMemoryChunkBytes), chunk_sha256
//          [MemoryChunkCount(bytes) hex], elapsed_ns (write + read back)
//  pow:    kind, nonce (unsigned 64-bit integer), hash (PowDigestHex), attempts

// ---------------------------------------------------------------------------
// The worker's solver.

namespace worker {

struct SolveOptions {
  // Worker threads for the CPU kernels and the hash search; 0 = all cores.
  int threads = 0;
  // Try cuBLAS (libcudart + libcublas through dlopen, GPU `gpu_index`) for
  // matmul. Without a usable device the CPU kernel runs and the answer says
  // device "cpu"; the reason is in "gpu_status". A GPU product is checked
  // on the worker (Freivalds, exact integers) before it is sent, and a wrong
  // one falls back to the CPU rather than failing verification.
  bool allow_gpu = false;
  int gpu_index = 0;
  // Most host memory a challenge may take (matmul: 3 n^2 floats; memory:
  // `bytes`); beyond it the answer is ResourceExhausted instead of an OOM kill
  // of gmd (allocations succeed lazily and fail only when touched).
  // 0 = 90 % of the machine's physical memory.
  int64_t max_memory_bytes = 0;
  std::vector<std::string> cudart_names = {"libcudart.so.13", "libcudart.so.12",
                                           "/usr/local/cuda/lib64/libcudart.so.13",
                                           "/usr/local/cuda/lib/libcudart.so.13"};
  std::vector<std::string> cublas_names = {"libcublas.so.13", "libcublas.so.12",
                                           "/usr/local/cuda/lib64/libcublas.so.13",
                                           "/usr/local/cuda/lib/libcublas.so.13"};
};

// Computes the answer to `spec` (fields above). Errors: InvalidArgument (the
// spec), ResourceExhausted (the matrices or the stream need more memory than
// max_memory_bytes, or could not be allocated). Never throws.
Result<nlohmann::json> SolveChallenge(const ChallengeSpec& spec, const SolveOptions& options = {});

// The CPU kernel: C = A.B for row-major n x n floats, cache-blocked and split
// by row blocks over `threads` threads. Exposed for tests and benchmarks.
void MultiplyBlocked(const float* a, const float* b, float* c, int n, int threads);

}  // namespace worker
}  // namespace gm
