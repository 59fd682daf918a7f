// Pure verification of challenge answers: Freivalds' check, recomputed rows,
// regenerated memory chunks, proof-of-work hashes.
#include "scheduler/verify.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <vector>

namespace gm {
namespace {

using json = nlohmann::json;
namespace ch = challenge;

Status Malformed(const std::string& m) { return Status::InvalidArgument("answer." + m); }

// A failed verification: OK status, passed = false.
Status Fail(VerifyResult* out, std::string reason) {
  out->passed = false;
  out->reason = std::move(reason);
  return Status::OK();
}

Status RequireInt(const json& a, const char* name, int64_t* v) {
  auto it = a.find(name);
  if (it == a.end()) return Malformed(std::string(name) + " is missing");
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX)))
    return Malformed(std::string(name) + " must be an integer");
  *v = it->get<int64_t>();
  return Status::OK();
}

Status RequireHex64(const json& v, const std::string& name, std::string* out) {
  if (!v.is_string()) return Malformed(name + " must be a string");
  const std::string& s = v.get_ref<const std::string&>();
  if (s.size() != 64 || !std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      }))
    return Malformed(name + " must be 64 lower-case hex characters");
  *out = s;
  return Status::OK();
}

Status RequireHexList(const json& a, const char* name, std::vector<std::string>* out) {
  auto it = a.find(name);
  if (it == a.end()) return Malformed(std::string(name) + " is missing");
  if (!it->is_array()) return Malformed(std::string(name) + " must be an array");
  out->resize(it->size());
  for (size_t i = 0; i < it->size(); ++i)
    GM_RETURN_IF_ERROR(RequireHex64((*it)[i], std::string(name) + "[" + std::to_string(i) + "]", &(*out)[i]));
  return Status::OK();
}

// `count` distinct indices in [0, n), chosen by check_seed and a salt.
std::vector<int64_t> PickDistinct(uint64_t check_seed, uint64_t salt, int64_t n, int count) {
  std::set<int64_t> picked;
  const int64_t want = std::min<int64_t>(n, std::max(count, 0));
  for (uint64_t c = 0; static_cast<int64_t>(picked.size()) < want; ++c)
    picked.insert(static_cast<int64_t>(ch::CounterPrng(check_seed ^ salt, c) % static_cast<uint64_t>(n)));
  return {picked.begin(), picked.end()};
}

// Plausibility of the claimed time: cheap, so it comes before the arithmetic.
bool ImplausibleTime(int64_t elapsed_ns, const VerifyOptions& o, VerifyResult* out) {
  if (o.round_trip_ns > 0 && elapsed_ns > o.round_trip_ns) {
    Fail(out, "implausible: claimed " + std::to_string(elapsed_ns) + " ns of work in a round trip of " +
                  std::to_string(o.round_trip_ns) + " ns");
    return true;
  }
  return false;
}

// --------------------------------------------------------------------------
// matmul

Status ParseFullProduct(const json& a, int n, std::vector<int32_t>* c) {
  auto it = a.find("c");
  if (it == a.end()) return Malformed("c is missing (required for n <= " + std::to_string(kMatmulFullResultMaxN) + ")");
  if (!it->is_array() || it->size() != static_cast<size_t>(n))
    return Malformed("c must be an array of " + std::to_string(n) + " rows");
  c->assign(static_cast<size_t>(n) * n, 0);
  for (int i = 0; i < n; ++i) {
    const json& row = (*it)[i];
    if (!row.is_array() || row.size() != static_cast<size_t>(n))
      return Malformed("c[" + std::to_string(i) + "] must be an array of " + std::to_string(n) + " integers");
    for (int j = 0; j < n; ++j) {
      const json& v = row[j];
      if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)))
        return Malformed("c[" + std::to_string(i) + "][" + std::to_string(j) + "] must be an integer");
      int64_t x = v.get<int64_t>();
      // Out of range for 32 bits: keep it as an impossible value for the check below.
      (*c)[static_cast<size_t>(i) * n + j] =
          x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : static_cast<int32_t>(x);
    }
  }
  return Status::OK();
}

// Freivalds over the full product; returns the round that failed, or -1.
int FreivaldsFailedRound(const ChallengeSpec& spec, const std::vector<int32_t>& c, const VerifyOptions& o) {
  const int n = spec.n;
  std::vector<int> a(static_cast<size_t>(n) * n), b(static_cast<size_t>(n) * n);
  const uint64_t ka = ch::MatrixKeyA(spec.seed_hex), kb = ch::MatrixKeyB(spec.seed_hex);
  for (int i = 0; i < n; ++i) {
    ch::MatrixRow(ka, n, i, a.data() + static_cast<size_t>(i) * n);
    ch::MatrixRow(kb, n, i, b.data() + static_cast<size_t>(i) * n);
  }
  for (int round = 0; round < std::max(1, o.freivalds_rounds); ++round) {
    std::vector<__int128> r(n), br(n, 0);
    const uint64_t key = o.check_seed ^ (0x46524549564c4453ULL + static_cast<uint64_t>(round));  // "FREIVLDS"
    for (int j = 0; j < n; ++j) r[j] = static_cast<__int128>(ch::CounterPrng(key, j) & 0xffffffffULL);
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) br[i] += b[static_cast<size_t>(i) * n + j] * r[j];
    for (int i = 0; i < n; ++i) {
      __int128 abr = 0, cr = 0;
      for (int k = 0; k < n; ++k) abr += a[static_cast<size_t>(i) * n + k] * br[k];
      for (int j = 0; j < n; ++j) cr += c[static_cast<size_t>(i) * n + j] * r[j];
      if (abr != cr) return round;
    }
  }
  return -1;
}

// Exact rows of A.B for the given row indices, B streamed from the seed.
std::vector<std::vector<int32_t>> RecomputeRows(const ChallengeSpec& spec, const std::vector<int64_t>& rows) {
  const int n = spec.n;
  const uint64_t ka = ch::MatrixKeyA(spec.seed_hex), kb = ch::MatrixKeyB(spec.seed_hex);
  std::vector<std::vector<int>> a_rows(rows.size(), std::vector<int>(n));
  for (size_t s = 0; s < rows.size(); ++s) ch::MatrixRow(ka, n, rows[s], a_rows[s].data());
  std::vector<std::vector<int32_t>> c_rows(rows.size(), std::vector<int32_t>(n, 0));
  std::vector<int> b_row(n);
  for (int k = 0; k < n; ++k) {
    ch::MatrixRow(kb, n, k, b_row.data());
    for (size_t s = 0; s < rows.size(); ++s) {
      const int aik = a_rows[s][k];
      if (aik == 0) continue;
      int32_t* cs = c_rows[s].data();
      for (int j = 0; j < n; ++j) cs[j] += aik * b_row[j];
    }
  }
  return c_rows;
}

Status VerifyMatmul(const ChallengeSpec& spec, const json& a, const VerifyOptions& o, VerifyResult* out) {
  const int n = spec.n;
  int64_t claimed_n = 0, elapsed = 0, flops = 0;
  GM_RETURN_IF_ERROR(RequireInt(a, "n", &claimed_n));
  std::string c_sha;
  if (!a.contains("c_sha256")) return Malformed("c_sha256 is missing");
  GM_RETURN_IF_ERROR(RequireHex64(a["c_sha256"], "c_sha256", &c_sha));
  std::vector<std::string> rows;
  GM_RETURN_IF_ERROR(RequireHexList(a, "row_sha256", &rows));
  GM_RETURN_IF_ERROR(RequireInt(a, "elapsed_ns", &elapsed));
  GM_RETURN_IF_ERROR(RequireInt(a, "flops", &flops));
  if (a.contains("device") && !a["device"].is_string()) return Malformed("device must be a string");
  const bool full = n <= kMatmulFullResultMaxN;
  std::vector<int32_t> c;
  if (full) GM_RETURN_IF_ERROR(ParseFullProduct(a, n, &c));

  if (claimed_n != n) return Fail(out, "answer is for n = " + std::to_string(claimed_n) + ", the challenge is n = " + std::to_string(n));
  const int64_t expect_flops = 2 * static_cast<int64_t>(n) * n * n;
  if (flops != expect_flops)
    return Fail(out, "flops claims " + std::to_string(flops) + ", the product takes " + std::to_string(expect_flops));
  if (elapsed <= 0) return Fail(out, "implausible: elapsed_ns " + std::to_string(elapsed) + " is not positive");
  out->elapsed_ns = elapsed;
  out->tflops = MatmulTflops(n, elapsed);
  if (o.max_tflops > 0 && out->tflops > o.max_tflops) {
    char buf[160];
    snprintf(buf, sizeof buf, "implausible: %.3f TFLOPS measured, faster than the %.3f TFLOPS the claimed hardware can do",
             out->tflops, o.max_tflops);
    return Fail(out, buf);
  }
  if (ImplausibleTime(elapsed, o, out)) return Status::OK();
  if (rows.size() != static_cast<size_t>(n))
    return Fail(out, "row_sha256 has " + std::to_string(rows.size()) + " digests for " + std::to_string(n) + " rows");
  if (ch::ProductDigestHex(rows) != c_sha) return Fail(out, "c_sha256 does not match the row digests");

  if (full) {
    const int64_t bound = 64 * static_cast<int64_t>(n);
    for (int i = 0; i < n; ++i) {
      const int32_t* row = c.data() + static_cast<size_t>(i) * n;
      for (int j = 0; j < n; ++j)
        if (row[j] > bound || row[j] < -bound)
          return Fail(out, "wrong product: c[" + std::to_string(i) + "][" + std::to_string(j) + "] = " +
                               std::to_string(row[j]) + " is impossible (|c| <= " + std::to_string(bound) + ")");
      if (ch::RowDigestHex(row, n) != rows[i])
        return Fail(out, "row_sha256[" + std::to_string(i) + "] does not match row " + std::to_string(i) + " of c");
    }
    int round = FreivaldsFailedRound(spec, c, o);
    if (round >= 0) return Fail(out, "wrong product: Freivalds' check failed (round " + std::to_string(round + 1) + ")");
  } else {
    std::vector<int64_t> picked = PickDistinct(o.check_seed, 0x524f5753ULL /* "ROWS" */, n, o.spot_rows);
    auto exact = RecomputeRows(spec, picked);
    for (size_t s = 0; s < picked.size(); ++s)
      if (ch::RowDigestHex(exact[s].data(), n) != rows[picked[s]])
        return Fail(out, "wrong product: row " + std::to_string(picked[s]) + " does not match its recomputation");
  }
  char buf[160];
  snprintf(buf, sizeof buf, "matmul n=%d correct, %.3f TFLOPS", n, out->tflops);
  out->passed = true;
  out->reason = buf;
  return Status::OK();
}

// --------------------------------------------------------------------------
// memory

Status VerifyMemory(const ChallengeSpec& spec, const json& a, const VerifyOptions& o, VerifyResult* out) {
  int64_t bytes = 0, chunk_bytes = 0, elapsed = 0;
  GM_RETURN_IF_ERROR(RequireInt(a, "bytes", &bytes));
  GM_RETURN_IF_ERROR(RequireInt(a, "chunk_bytes", &chunk_bytes));
  std::vector<std::string> chunks;
  GM_RETURN_IF_ERROR(RequireHexList(a, "chunk_sha256", &chunks));
  GM_RETURN_IF_ERROR(RequireInt(a, "elapsed_ns", &elapsed));

  if (bytes != spec.bytes)
    return Fail(out, "answer covers " + std::to_string(bytes) + " bytes, the challenge is " + std::to_string(spec.bytes));
  if (chunk_bytes != kMemoryChunkBytes)
    return Fail(out, "chunk_bytes " + std::to_string(chunk_bytes) + " is not " + std::to_string(kMemoryChunkBytes));
  const int64_t want = ch::MemoryChunkCount(spec.bytes);
  if (static_cast<int64_t>(chunks.size()) != want)
    return Fail(out, "chunk count " + std::to_string(chunks.size()) + " does not match the claimed " +
                         std::to_string(spec.bytes) + " bytes (" + std::to_string(want) + " chunks)");
  if (elapsed <= 0) return Fail(out, "implausible: elapsed_ns " + std::to_string(elapsed) + " is not positive");
  out->elapsed_ns = elapsed;
  // Written once and read once: 2 bytes moved per byte of stream.
  double gbps = 2.0 * static_cast<double>(spec.bytes) / static_cast<double>(elapsed);
  if (o.max_memory_gbps > 0 && gbps > o.max_memory_gbps) {
    char buf[160];
    snprintf(buf, sizeof buf, "implausible: %.1f GB/s of memory traffic, faster than the %.1f GB/s allowed", gbps,
             o.max_memory_gbps);
    return Fail(out, buf);
  }
  if (ImplausibleTime(elapsed, o, out)) return Status::OK();

  std::vector<int64_t> picked = PickDistinct(o.check_seed, 0x4d454dULL /* "MEM" */, want, o.spot_chunks);
  if (std::find(picked.begin(), picked.end(), want - 1) == picked.end()) picked.push_back(want - 1);
  const uint64_t key = ch::MemoryKey(spec.seed_hex);
  std::string buf(static_cast<size_t>(kMemoryChunkBytes), '\0');
  for (int64_t c : picked) {
    int64_t size = ch::MemoryChunkSize(spec.bytes, c);
    ch::FillMemoryChunk(key, spec.bytes, c, reinterpret_cast<unsigned char*>(buf.data()));
    if (Sha256Hex(buf.substr(0, static_cast<size_t>(size))) != chunks[c])
      return Fail(out, "memory chunk " + std::to_string(c) + " does not match the seeded stream");
  }
  out->passed = true;
  out->reason = "memory " + std::to_string(spec.bytes) + " bytes correct (" + std::to_string(picked.size()) +
                " of " + std::to_string(want) + " chunks checked)";
  return Status::OK();
}

// --------------------------------------------------------------------------
// pow

Status VerifyPow(const ChallengeSpec& spec, const json& a, VerifyResult* out) {
  auto it = a.find("nonce");
  if (it == a.end()) return Malformed("nonce is missing");
  if (!it->is_number_integer() || (!it->is_number_unsigned() && it->get<int64_t>() < 0))
    return Malformed("nonce must be a non-negative integer");
  uint64_t nonce = it->get<uint64_t>();
  std::string hash;
  if (!a.contains("hash")) return Malformed("hash is missing");
  GM_RETURN_IF_ERROR(RequireHex64(a["hash"], "hash", &hash));
  int64_t attempts = 0;
  GM_RETURN_IF_ERROR(RequireInt(a, "attempts", &attempts));
  if (attempts < 1) return Malformed("attempts must be >= 1");

  if (ch::PowDigestHex(spec.seed_hex, nonce) != hash)
    return Fail(out, "hash does not match SHA-256(seed || nonce " + std::to_string(nonce) + ")");
  int bits = ch::LeadingZeroBits(hash);
  if (bits < spec.difficulty_bits)
    return Fail(out, "hash has " + std::to_string(bits) + " leading zero bits, the challenge needs " +
                         std::to_string(spec.difficulty_bits));
  out->passed = true;
  out->reason = "pow nonce " + std::to_string(nonce) + " gives " + std::to_string(bits) + " leading zero bits";
  return Status::OK();
}

}  // namespace

double MatmulTflops(int n, int64_t elapsed_ns) {
  if (elapsed_ns <= 0) return 0;
  double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
  return flops / static_cast<double>(elapsed_ns) / 1000.0;  // flop/ns = GFLOPS
}

Result<ChallengeSpec> NewChallenge(const std::string& kind, uint64_t rng_seed, const ChallengeSizes& sizes) {
  std::string material = "gridmint-challenge\n" + kind + "\n";
  for (int b = 0; b < 8; ++b) material.push_back(static_cast<char>((rng_seed >> (8 * b)) & 0xff));
  ChallengeSpec spec;
  spec.kind = kind;
  spec.seed_hex = Sha256Hex(material);
  if (kind == kChallengeMatmul) spec.n = sizes.matmul_n;
  if (kind == kChallengeMemory) spec.bytes = sizes.memory_bytes;
  if (kind == kChallengePow) spec.difficulty_bits = sizes.pow_difficulty_bits;
  GM_RETURN_IF_ERROR(ValidateChallengeSpec(spec));
  return spec;
}

Status VerifyAnswer(const ChallengeSpec& spec, const json& answer, const VerifyOptions& options, VerifyResult* out) {
  VerifyResult local;
  VerifyResult& r = out ? *out : local;
  r = VerifyResult{};
  Status s = [&]() -> Status {
    GM_RETURN_IF_ERROR(ValidateChallengeSpec(spec));
    if (!answer.is_object()) return Status::InvalidArgument("answer is not a JSON object");
    auto kind = answer.find("kind");
    if (kind == answer.end()) return Malformed("kind is missing");
    if (!kind->is_string()) return Malformed("kind must be a string");
    if (kind->get<std::string>() != spec.kind)
      return Malformed("kind is '" + kind->get<std::string>() + "', the challenge is '" + spec.kind + "'");
    try {
      if (spec.kind == kChallengeMatmul) return VerifyMatmul(spec, answer, options, &r);
      if (spec.kind == kChallengeMemory) return VerifyMemory(spec, answer, options, &r);
      return VerifyPow(spec, answer, &r);
    } catch (const std::exception& e) {
      // Allocation for a huge spec; nothing in a peer's answer can throw here.
      return Status::ResourceExhausted(std::string("verifying the answer: ") + e.what());
    }
  }();
  if (!s.ok()) {
    r.passed = false;
    r.reason = s.message();
  }
  return s;
}

}  // namespace gm
