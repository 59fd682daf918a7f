// The worker's challenge solver: a cache-blocked CPU SGEMM (cuBLAS through
// dlopen where a GPU is usable), the memory stream, the hash search.
#include "worker/challenges.h"

#include <dlfcn.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <new>
#include <random>
#include <thread>

namespace gm::worker {
namespace {

using json = nlohmann::json;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int ThreadCount(const SolveOptions& o) {
  if (o.threads > 0) return o.threads;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Runs fn(begin, end) over [0, count) split into `threads` contiguous ranges.
template <typename Fn>
void ParallelFor(int64_t count, int threads, Fn&& fn) {
  int t = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, count)));
  if (t == 1) {
    fn(int64_t{0}, count);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(t);
  for (int k = 0; k < t; ++k) {
    int64_t begin = count * k / t, end = count * (k + 1) / t;
    pool.emplace_back([&fn, begin, end] { fn(begin, end); });
  }
  for (auto& th : pool) th.join();
}

std::string Sha256HexOf(const unsigned char* p, size_t n) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(p, n, md);
  return BytesToHex(std::string(reinterpret_cast<char*>(md), sizeof md));
}

// ---------------------------------------------------------------------------
// CPU kernel.

// Blocks sized for a 256 KiB slice of B and a 64 KiB slice of C, which stay
// in L2 on every x86 and ARM server core of the last decade.
constexpr int kBlockI = 32;
constexpr int kBlockK = 128;
constexpr int kBlockJ = 512;

// AVX2+FMA where the CPU has it, baseline SSE2/NEON otherwise; one binary
// for every provider. FMA does not change the result: every value is an
// integer far below 2^24.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define GM_KERNEL_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define GM_KERNEL_CLONES
#endif

GM_KERNEL_CLONES
void MultiplyRows(const float* __restrict a, const float* __restrict b, float* __restrict c, int n,
                  int64_t row_begin, int64_t row_end) {
  for (int64_t i = row_begin; i < row_end; ++i)
    for (int j = 0; j < n; ++j) c[i * n + j] = 0.0f;
  for (int64_t i0 = row_begin; i0 < row_end; i0 += kBlockI) {
    int64_t i1 = std::min<int64_t>(i0 + kBlockI, row_end);
    for (int k0 = 0; k0 < n; k0 += kBlockK) {
      int k1 = std::min(k0 + kBlockK, n);
      for (int j0 = 0; j0 < n; j0 += kBlockJ) {
        int j1 = std::min(j0 + kBlockJ, n);
        for (int64_t i = i0; i < i1; ++i) {
          float* __restrict ci = c + i * n;
          const float* __restrict ai = a + i * n;
          for (int k = k0; k < k1; ++k) {
            const float aik = ai[k];
            const float* __restrict bk = b + static_cast<int64_t>(k) * n;
            for (int j = j0; j < j1; ++j) ci[j] += aik * bk[j];
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// cuBLAS through dlopen. Hand-declared ABI (as in gpu_discovery.cc: gmd must
// not link CUDA); signatures and values checked against CUDA 13.0's
// cuda_runtime_api.h, driver_types.h and cublas_api.h. Results are C ints.

constexpr int kCudaSuccess = 0;
constexpr int kCudaMemcpyHostToDevice = 1;
constexpr int kCudaMemcpyDeviceToHost = 2;
constexpr int kCublasSuccess = 0;
constexpr int kCublasOpN = 0;

struct CudaApi {
  int (*get_device_count)(int*) = nullptr;
  int (*set_device)(int) = nullptr;
  int (*malloc_)(void**, size_t) = nullptr;
  int (*memcpy_)(void*, const void*, size_t, int) = nullptr;
  int (*free_)(void*) = nullptr;
  int (*synchronize)() = nullptr;
  int (*get_last_error)() = nullptr;
  const char* (*error_string)(int) = nullptr;
  int (*cublas_create)(void**) = nullptr;
  int (*cublas_destroy)(void*) = nullptr;
  int (*sgemm)(void*, int, int, int, int, int, const float*, const float*, int, const float*, int,
               const float*, float*, int) = nullptr;
};

void* OpenFirst(const std::vector<std::string>& names, std::string* why) {
  for (const auto& name : names)
    if (void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
  const char* e = dlerror();
  *why = names.empty() ? "no library names given" : names.front() + " not found (" + (e ? e : "") + ")";
  return nullptr;
}

template <typename Fn>
bool Bind(void* lib, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(lib, name));
  return *out != nullptr;
}

// Libraries stay loaded for the life of the process: the CUDA runtime does
// not survive being unloaded and reloaded.
bool LoadCuda(const SolveOptions& o, CudaApi* api, std::string* why) {
  void* rt = OpenFirst(o.cudart_names, why);
  if (!rt) return false;
  void* bl = OpenFirst(o.cublas_names, why);
  if (!bl) return false;
  bool ok = Bind(rt, "cudaGetDeviceCount", &api->get_device_count) && Bind(rt, "cudaSetDevice", &api->set_device) &&
            Bind(rt, "cudaMalloc", &api->malloc_) && Bind(rt, "cudaMemcpy", &api->memcpy_) &&
            Bind(rt, "cudaFree", &api->free_) && Bind(rt, "cudaDeviceSynchronize", &api->synchronize) &&
            Bind(rt, "cudaGetLastError", &api->get_last_error) &&
            Bind(rt, "cudaGetErrorString", &api->error_string) &&
            Bind(bl, "cublasCreate_v2", &api->cublas_create) && Bind(bl, "cublasDestroy_v2", &api->cublas_destroy) &&
            Bind(bl, "cublasSgemm_v2", &api->sgemm);
  if (!ok) *why = "a CUDA runtime or cuBLAS symbol is missing";
  return ok;
}

// C = A.B on the GPU; the time is that of one SGEMM after a warm-up call
// (the first call loads kernels). False with `why` when no GPU is usable.
bool MultiplyOnGpu(const SolveOptions& o, const float* a, const float* b, float* c, int n, int64_t* elapsed_ns,
                   std::string* why) {
  CudaApi api;
  if (!LoadCuda(o, &api, why)) return false;
  int count = -1;
  int err = api.get_device_count(&count);
  if (err != kCudaSuccess || count <= 0) {
    *why = "cudaGetDeviceCount: " + (err != kCudaSuccess ? "error " + std::to_string(err) + " (" +
                                                                std::string(api.error_string(err)) + ")"
                                                          : std::string("no device"));
    api.get_last_error();  // clear the sticky error for the rest of the process
    return false;
  }
  if (o.gpu_index < 0 || o.gpu_index >= count || api.set_device(o.gpu_index) != kCudaSuccess) {
    *why = "GPU " + std::to_string(o.gpu_index) + " is not usable (" + std::to_string(count) + " devices)";
    return false;
  }
  size_t bytes = static_cast<size_t>(n) * static_cast<size_t>(n) * sizeof(float);
  void *da = nullptr, *db = nullptr, *dc = nullptr;
  void* handle = nullptr;
  bool ok = api.malloc_(&da, bytes) == kCudaSuccess && api.malloc_(&db, bytes) == kCudaSuccess &&
            api.malloc_(&dc, bytes) == kCudaSuccess &&
            api.memcpy_(da, a, bytes, kCudaMemcpyHostToDevice) == kCudaSuccess &&
            api.memcpy_(db, b, bytes, kCudaMemcpyHostToDevice) == kCudaSuccess &&
            api.cublas_create(&handle) == kCublasSuccess;
  const float one = 1.0f, zero = 0.0f;
  // cuBLAS is column-major: handed row-major B and A it sees B^T and A^T and
  // computes B^T.A^T = (A.B)^T column-major, which is A.B row-major.
  auto gemm = [&] {
    return api.sgemm(handle, kCublasOpN, kCublasOpN, n, n, n, &one, static_cast<const float*>(db), n,
                     static_cast<const float*>(da), n, &zero, static_cast<float*>(dc), n) == kCublasSuccess &&
           api.synchronize() == kCudaSuccess;
  };
  if (ok) ok = gemm();  // warm-up
  if (ok) {
    int64_t t0 = NowNs();
    ok = gemm();
    *elapsed_ns = NowNs() - t0;
  }
  if (ok) ok = api.memcpy_(c, dc, bytes, kCudaMemcpyDeviceToHost) == kCudaSuccess;
  if (!ok) *why = "cuBLAS SGEMM failed";
  if (handle) api.cublas_destroy(handle);
  for (void* p : {da, db, dc})
    if (p) api.free_(p);
  api.get_last_error();
  return ok;
}

// The worker's own Freivalds round (exact integers) on a product from the GPU,
// so a faulty device makes the node fall back to the CPU instead of failing
// verification. Error probability per round <= 2^-20.
bool ProductLooksRight(const float* a, const float* b, const float* c, int n) {
  std::mt19937_64 rng(std::random_device{}());
  std::vector<int64_t> r(n), br(n, 0), abr(n, 0), cr(n, 0);
  for (auto& x : r) x = static_cast<int64_t>(rng() & 0xfffff);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      br[i] += static_cast<int64_t>(b[static_cast<int64_t>(i) * n + j]) * r[j];
      cr[i] += static_cast<int64_t>(c[static_cast<int64_t>(i) * n + j]) * r[j];
    }
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < n; ++k) abr[i] += static_cast<int64_t>(a[static_cast<int64_t>(i) * n + k]) * br[k];
  return abr == cr;
}

// ---------------------------------------------------------------------------
// The three solvers.

template <typename T>
std::unique_ptr<T[]> Allocate(int64_t count) {
  return std::unique_ptr<T[]>(new (std::nothrow) T[static_cast<size_t>(count)]);
}

Status CheckMemoryBudget(int64_t need, const SolveOptions& o, const char* what) {
  int64_t budget = o.max_memory_bytes;
  if (budget <= 0) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    budget = pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page / 10 * 9 : INT64_MAX;
  }
  if (need > budget)
    return Status::ResourceExhausted(std::string(what) + " needs " + std::to_string(need) +
                                     " bytes of memory, more than the " + std::to_string(budget) + " allowed");
  return Status::OK();
}

Result<json> SolveMatmul(const ChallengeSpec& spec, const SolveOptions& o) {
  const int n = spec.n;
  const int64_t nn = static_cast<int64_t>(n) * n;
  GM_RETURN_IF_ERROR(CheckMemoryBudget(3 * nn * static_cast<int64_t>(sizeof(float)), o, "matmul challenge"));
  auto a = Allocate<float>(nn), b = Allocate<float>(nn), c = Allocate<float>(nn);
  if (!a || !b || !c)
    return Status::ResourceExhausted("matmul challenge: cannot allocate 3 x " + std::to_string(nn * 4) +
                                     " bytes for n = " + std::to_string(n));
  const int threads = ThreadCount(o);
  const uint64_t ka = challenge::MatrixKeyA(spec.seed_hex), kb = challenge::MatrixKeyB(spec.seed_hex);
  ParallelFor(n, threads, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      challenge::MatrixRow(ka, n, i, a.get() + i * n);
      challenge::MatrixRow(kb, n, i, b.get() + i * n);
    }
  });

  int64_t elapsed_ns = 0;
  std::string device = "cpu", gpu_status;
  bool on_gpu = false;
  if (o.allow_gpu) {
    on_gpu = MultiplyOnGpu(o, a.get(), b.get(), c.get(), n, &elapsed_ns, &gpu_status);
    if (on_gpu && !ProductLooksRight(a.get(), b.get(), c.get(), n)) {
      on_gpu = false;
      gpu_status = "the cuBLAS product failed the worker's own check; computed on the CPU";
    }
    if (on_gpu) {
      device = "cuda";
      gpu_status = "GPU " + std::to_string(o.gpu_index);
    }
  }
  if (!on_gpu) {
    int64_t t0 = NowNs();
    ParallelFor(n, threads, [&](int64_t begin, int64_t end) {
      // Whole row blocks per thread keep the blocks' cache reuse.
      MultiplyRows(a.get(), b.get(), c.get(), n, begin, end);
    });
    elapsed_ns = NowNs() - t0;
  }

  std::vector<std::string> rows(n);
  const bool full = n <= kMatmulFullResultMaxN;
  json c_json = json::array();
  ParallelFor(n, threads, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> row(n);
    for (int64_t i = begin; i < end; ++i) {
      for (int j = 0; j < n; ++j) row[j] = static_cast<int32_t>(c[i * n + j]);
      rows[i] = challenge::RowDigestHex(row.data(), n);
    }
  });
  if (full) {
    for (int64_t i = 0; i < n; ++i) {
      json row = json::array();
      for (int j = 0; j < n; ++j) row.push_back(static_cast<int32_t>(c[i * n + j]));
      c_json.push_back(std::move(row));
    }
  }
  json answer{{"kind", kChallengeMatmul},
              {"n", n},
              {"c_sha256", challenge::ProductDigestHex(rows)},
              {"row_sha256", rows},
              {"elapsed_ns", std::max<int64_t>(elapsed_ns, 1)},
              {"flops", 2 * static_cast<int64_t>(n) * n * n},
              {"device", device}};
  if (full) answer["c"] = std::move(c_json);
  if (!gpu_status.empty()) answer["gpu_status"] = gpu_status;
  return answer;
}

Result<json> SolveMemory(const ChallengeSpec& spec, const SolveOptions& o) {
  const int64_t total = spec.bytes;
  GM_RETURN_IF_ERROR(CheckMemoryBudget(total, o, "memory challenge"));
  auto buf = Allocate<unsigned char>(total);
  if (!buf) return Status::ResourceExhausted("memory challenge: cannot allocate " + std::to_string(total) + " bytes");
  const int64_t chunks = challenge::MemoryChunkCount(total);
  const uint64_t key = challenge::MemoryKey(spec.seed_hex);
  std::vector<std::string> digests(chunks);
  const int threads = ThreadCount(o);
  int64_t t0 = NowNs();
  // Write everything first, then read everything back: the stream must have
  // been held in memory, not hashed as it was generated.
  ParallelFor(chunks, threads, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch)
      challenge::FillMemoryChunk(key, total, ch, buf.get() + ch * kMemoryChunkBytes);
  });
  ParallelFor(chunks, threads, [&](int64_t begin, int64_t end) {
    for (int64_t ch = begin; ch < end; ++ch)
      digests[ch] = Sha256HexOf(buf.get() + ch * kMemoryChunkBytes,
                                static_cast<size_t>(challenge::MemoryChunkSize(total, ch)));
  });
  int64_t elapsed = NowNs() - t0;
  return json{{"kind", kChallengeMemory},
              {"bytes", total},
              {"chunk_bytes", kMemoryChunkBytes},
              {"chunk_sha256", digests},
              {"elapsed_ns", std::max<int64_t>(elapsed, 1)}};
}

// Number of leading zero bits of a binary digest.
int LeadingZeroBitsRaw(const unsigned char* md) {
  int bits = 0;
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    if (md[i] == 0) {
      bits += 8;
      continue;
    }
    for (int b = 7; b >= 0 && !(md[i] >> b & 1); --b) ++bits;
    break;
  }
  return bits;
}

Result<json> SolvePow(const ChallengeSpec& spec, const SolveOptions& o) {
  const std::string seed = *HexToBytes(spec.seed_hex);
  const int want = spec.difficulty_bits;
  // 2^(d+10) tries fail to find a solution with probability e^-1024.
  const uint64_t budget = uint64_t{1} << (want + 10);
  const int threads = ThreadCount(o);
  std::atomic<bool> found{false};
  std::atomic<uint64_t> winner{0}, attempts{0};
  ParallelFor(threads, threads, [&](int64_t t, int64_t) {
    std::string msg = seed + std::string(8, '\0');
    auto* p = reinterpret_cast<unsigned char*>(msg.data());
    const size_t off = seed.size();
    uint64_t mine = 0;
    for (uint64_t nonce = static_cast<uint64_t>(t); nonce < budget; nonce += static_cast<uint64_t>(threads)) {
      if ((mine & 1023) == 0 && found.load(std::memory_order_relaxed)) break;
      for (int b = 0; b < 8; ++b) p[off + b] = static_cast<unsigned char>(nonce >> (8 * (7 - b)));
      unsigned char md[SHA256_DIGEST_LENGTH];
      SHA256(p, msg.size(), md);
      ++mine;
      if (LeadingZeroBitsRaw(md) >= want) {
        bool expected = false;
        if (found.compare_exchange_strong(expected, true)) winner = nonce;
        break;
      }
    }
    attempts += mine;
  });
  if (!found) return Status::Internal("pow challenge: no nonce found in " + std::to_string(budget) + " attempts");
  return json{{"kind", kChallengePow},
              {"nonce", winner.load()},
              {"hash", challenge::PowDigestHex(spec.seed_hex, winner.load())},
              {"attempts", attempts.load()}};
}

}  // namespace

void MultiplyBlocked(const float* a, const float* b, float* c, int n, int threads) {
  ParallelFor(n, threads < 1 ? 1 : threads,
              [&](int64_t begin, int64_t end) { MultiplyRows(a, b, c, n, begin, end); });
}

Result<json> SolveChallenge(const ChallengeSpec& spec, const SolveOptions& options) {
  GM_RETURN_IF_ERROR(ValidateChallengeSpec(spec));
  try {
    if (spec.kind == kChallengeMatmul) return SolveMatmul(spec, options);
    if (spec.kind == kChallengeMemory) return SolveMemory(spec, options);
    return SolvePow(spec, options);
  } catch (const std::exception& e) {
    // Thread creation and JSON building can throw; the agent gets a value.
    return Status::Internal(std::string("challenge solver: ") + e.what());
  }
}

}  // namespace gm::worker
