// Tests for the challenge contract and the worker's solver. Expected values
// come from SplitMix64's reference outputs and from products, streams and
// hashes computed here independently (naive loops, word by word).
//
// Suite names start with "challenge" so that `ctest -R challenge` selects
// them: gm_add_test registers tests under their GoogleTest names.
#include "worker/challenges.h"

#include <gtest/gtest.h>

#include <iostream>
#include <random>

namespace gm {
namespace {

using json = nlohmann::json;

const std::string kSeed = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const std::string kOtherSeed = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

ChallengeSpec Matmul(int n, const std::string& seed = kSeed) { return {kChallengeMatmul, seed, n, 0, 0}; }

// C = A.B in int64 by the textbook triple loop, A and B element by element.
std::vector<int64_t> NaiveProduct(const std::string& seed, int n) {
  uint64_t ka = challenge::MatrixKeyA(seed), kb = challenge::MatrixKeyB(seed);
  std::vector<int64_t> a(n * n), b(n * n), c(n * n, 0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      a[i * n + j] = challenge::MatrixEntry(ka, n, i, j);
      b[i * n + j] = challenge::MatrixEntry(kb, n, i, j);
    }
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < n; ++k)
      for (int j = 0; j < n; ++j) c[i * n + j] += a[i * n + k] * b[k * n + j];
  return c;
}

// SHA-256 of a row as int32 little-endian, built byte by byte here.
std::string RowDigest(const std::vector<int64_t>& c, int n, int i) {
  std::string bytes;
  for (int j = 0; j < n; ++j) {
    uint32_t v = static_cast<uint32_t>(static_cast<int32_t>(c[i * n + j]));
    bytes += static_cast<char>(v & 0xff);
    bytes += static_cast<char>((v >> 8) & 0xff);
    bytes += static_cast<char>((v >> 16) & 0xff);
    bytes += static_cast<char>((v >> 24) & 0xff);
  }
  return Sha256Hex(bytes);
}

TEST(challengeContract, CounterPrngIsSplitMix64) {
  // Reference outputs of Vigna's splitmix64.c seeded with 0.
  EXPECT_EQ(challenge::CounterPrng(0, 0), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(challenge::CounterPrng(0, 1), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(challenge::CounterPrng(0, 2), 0x06c45d188009454fULL);
}

TEST(challengeContract, MatrixRowsAgreeWithSingleEntriesAndStayInRange) {
  const int n = 37;  // rows straddle the 16-entry words
  uint64_t key = challenge::MatrixKeyA(kSeed);
  int seen_min = 0, seen_max = 0;
  for (int i = 0; i < n; ++i) {
    std::vector<int> row(n);
    challenge::MatrixRow(key, n, i, row.data());
    for (int j = 0; j < n; ++j) {
      EXPECT_EQ(row[j], challenge::MatrixEntry(key, n, i, j)) << i << "," << j;
      seen_min = std::min(seen_min, row[j]);
      seen_max = std::max(seen_max, row[j]);
    }
  }
  EXPECT_EQ(seen_min, -8);
  EXPECT_EQ(seen_max, 7);
  EXPECT_NE(challenge::MatrixKeyA(kSeed), challenge::MatrixKeyB(kSeed));
  EXPECT_NE(challenge::MatrixKeyA(kSeed), challenge::MatrixKeyA(kOtherSeed));
}

TEST(challengeContract, LeadingZeroBits) {
  EXPECT_EQ(challenge::LeadingZeroBits("f0"), 0);
  EXPECT_EQ(challenge::LeadingZeroBits("80"), 0);
  EXPECT_EQ(challenge::LeadingZeroBits("7f"), 1);
  EXPECT_EQ(challenge::LeadingZeroBits("1f"), 3);
  EXPECT_EQ(challenge::LeadingZeroBits("00f"), 8);
  EXPECT_EQ(challenge::LeadingZeroBits("0001"), 15);
  EXPECT_EQ(challenge::LeadingZeroBits("000"), 12);
  EXPECT_EQ(challenge::LeadingZeroBits("0z"), 4);
}

TEST(challengeContract, MemoryChunking) {
  const int64_t total = 8 * kMemoryChunkBytes + 5;
  EXPECT_EQ(challenge::MemoryChunkCount(total), 9);
  EXPECT_EQ(challenge::MemoryChunkSize(total, 0), kMemoryChunkBytes);
  EXPECT_EQ(challenge::MemoryChunkSize(total, 8), 5);
  EXPECT_EQ(challenge::MemoryChunkCount(kMemoryChunkBytes), 1);
  EXPECT_EQ(challenge::MemoryChunkCount(1), 1);
}

TEST(challengeSpec, JsonRoundTripForEachKind) {
  for (const ChallengeSpec& s : {Matmul(128), ChallengeSpec{kChallengeMemory, kSeed, 0, 8 << 20, 0},
                                 ChallengeSpec{kChallengePow, kSeed, 0, 0, 12}}) {
    json j = ChallengeSpecToJson(s);
    auto back = ChallengeSpecFromJson(json::parse(j.dump()));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(ChallengeSpecToJson(Matmul(128)), json::parse(R"({"kind":"matmul","seed":")" + kSeed + R"(","n":128})"));
}

TEST(challengeSpec, MalformedSpecsNameTheField) {
  auto msg = [](const json& j) { return ChallengeSpecFromJson(j).status().message(); };
  EXPECT_NE(msg(json{{"kind", "matmul"}, {"n", 4}}).find("seed is missing"), std::string::npos);
  EXPECT_NE(msg(json{{"kind", "matmul"}, {"seed", kSeed}}).find("n is missing"), std::string::npos);
  EXPECT_NE(msg(json{{"kind", "matmul"}, {"seed", kSeed}, {"n", "4"}}).find("n must be an integer"), std::string::npos);
  EXPECT_NE(msg(json{{"kind", "matmul"}, {"seed", kSeed}, {"n", 4.0}}).find("n must be an integer"), std::string::npos);
  EXPECT_NE(msg(json{{"kind", "matmul"}, {"seed", kSeed}, {"n", 0}}).find("n must be in"), std::string::npos);
  EXPECT_NE(msg(json{{"kind", "gpu"}, {"seed", kSeed}}).find("kind 'gpu'"), std::string::npos);
  EXPECT_NE(msg(json{{"kind", "pow"}, {"seed", "abc"}, {"difficulty_bits", 3}}).find("seed must be 64 hex"),
            std::string::npos);
  EXPECT_NE(msg(json{{"kind", "pow"}, {"seed", kSeed}, {"difficulty_bits", 41}}).find("difficulty_bits"),
            std::string::npos);
  EXPECT_EQ(ChallengeSpecFromJson(json::array()).status().code(), Status::Code::kInvalidArgument);
}

TEST(challengeSolve, MatmulEqualsTheNaiveProduct) {
  for (int n : {1, 67, 128}) {  // 67: no dimension is a multiple of a block
    auto answer = worker::SolveChallenge(Matmul(n), {.threads = 2});
    ASSERT_TRUE(answer.ok()) << answer.status().ToString();
    std::vector<int64_t> c = NaiveProduct(kSeed, n);
    const json& a = *answer;
    EXPECT_EQ(a["kind"], "matmul");
    EXPECT_EQ(a["n"], n);
    EXPECT_EQ(a["device"], "cpu");
    EXPECT_EQ(a["flops"].get<int64_t>(), 2LL * n * n * n);
    EXPECT_GT(a["elapsed_ns"].get<int64_t>(), 0);
    ASSERT_EQ(a["c"].size(), static_cast<size_t>(n));
    std::string all_rows;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) ASSERT_EQ(a["c"][i][j].get<int64_t>(), c[i * n + j]) << n << ": " << i << "," << j;
      std::string d = RowDigest(c, n, i);
      EXPECT_EQ(a["row_sha256"][i], d);
      all_rows += d;
    }
    EXPECT_EQ(a["c_sha256"], Sha256Hex(all_rows));
  }
}

TEST(challengeSolve, LargeProductSendsOnlyDigests) {
  const int n = 300;
  auto answer = worker::SolveChallenge(Matmul(n), {.threads = 2});
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_FALSE(answer->contains("c"));
  ASSERT_EQ((*answer)["row_sha256"].size(), static_cast<size_t>(n));
  std::vector<int64_t> c = NaiveProduct(kSeed, n);
  for (int i : {0, 1, 150, 299}) EXPECT_EQ((*answer)["row_sha256"][i], RowDigest(c, n, i)) << i;
}

TEST(challengeSolve, BlockedKernelMatchesNaiveOnArbitrarySmallIntegers) {
  const int n = 600;  // several blocks in every dimension, and remainders
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> d(-8, 7);
  std::vector<float> a(n * n), b(n * n), c(n * n, 123.0f);  // garbage in C must be overwritten
  for (auto& x : a) x = static_cast<float>(d(rng));
  for (auto& x : b) x = static_cast<float>(d(rng));
  worker::MultiplyBlocked(a.data(), b.data(), c.data(), n, 2);
  for (int i : {0, 31, 32, 299, 599}) {
    for (int j = 0; j < n; ++j) {
      int64_t want = 0;
      for (int k = 0; k < n; ++k) want += static_cast<int64_t>(a[i * n + k]) * static_cast<int64_t>(b[k * n + j]);
      ASSERT_EQ(static_cast<int64_t>(c[i * n + j]), want) << i << "," << j;
    }
  }
}

TEST(challengeSolve, GpuRequestedFallsBackToTheCpuWithAReason) {
  worker::SolveOptions o;
  o.threads = 2;
  o.allow_gpu = true;
  auto answer = worker::SolveChallenge(Matmul(64), o);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  std::cout << "device " << (*answer)["device"] << ", gpu_status " << answer->value("gpu_status", "") << "\n";
  ASSERT_TRUE(answer->contains("gpu_status"));
  // On a GPU host the product comes from cuBLAS; it must be the same product.
  std::vector<int64_t> c = NaiveProduct(kSeed, 64);
  for (int i = 0; i < 64; ++i)
    for (int j = 0; j < 64; ++j) ASSERT_EQ((*answer)["c"][i][j].get<int64_t>(), c[i * 64 + j]);
  if ((*answer)["device"] == "cpu") {
    EXPECT_FALSE(answer->value("gpu_status", "").empty());
  }

  o.cudart_names = {"libcudart-that-does-not-exist.so"};
  auto none = worker::SolveChallenge(Matmul(8), o);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ((*none)["device"], "cpu");
  EXPECT_NE((*none)["gpu_status"].get<std::string>().find("not found"), std::string::npos) << (*none)["gpu_status"];
}

TEST(challengeSolve, MemoryDigestsMatchAnIndependentStream) {
  const int64_t total = 8 * kMemoryChunkBytes + 12345;  // a partial last chunk, not a multiple of 8
  ChallengeSpec spec{kChallengeMemory, kSeed, 0, total, 0};
  auto answer = worker::SolveChallenge(spec, {.threads = 2});
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  EXPECT_EQ((*answer)["bytes"], total);
  EXPECT_EQ((*answer)["chunk_bytes"], kMemoryChunkBytes);
  ASSERT_EQ((*answer)["chunk_sha256"].size(), 9u);
  // The stream, word by word, little-endian, cut at `total`.
  uint64_t key = challenge::MemoryKey(kSeed);
  std::string stream;
  stream.reserve(total + 8);
  for (uint64_t w = 0; static_cast<int64_t>(stream.size()) < total; ++w) {
    uint64_t v = challenge::CounterPrng(key, w);
    for (int b = 0; b < 8; ++b) stream += static_cast<char>(v >> (8 * b));
  }
  stream.resize(total);
  for (int c = 0; c < 9; ++c)
    EXPECT_EQ((*answer)["chunk_sha256"][c], Sha256Hex(stream.substr(c * kMemoryChunkBytes, kMemoryChunkBytes))) << c;
  EXPECT_GT((*answer)["elapsed_ns"].get<int64_t>(), 0);
}

TEST(challengeSolve, PowHashHasTheLeadingZeroBits) {
  ChallengeSpec spec{kChallengePow, kSeed, 0, 0, 12};
  auto answer = worker::SolveChallenge(spec, {.threads = 2});
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  uint64_t nonce = (*answer)["nonce"].get<uint64_t>();
  std::string msg = *HexToBytes(kSeed);
  for (int b = 7; b >= 0; --b) msg += static_cast<char>((nonce >> (8 * b)) & 0xff);  // big-endian
  std::string digest = *HexToBytes(Sha256Hex(msg));
  EXPECT_EQ((*answer)["hash"], Sha256Hex(msg));
  // 12 leading zero bits: the first byte and the high nibble of the second are zero.
  EXPECT_EQ(static_cast<unsigned char>(digest[0]), 0);
  EXPECT_EQ(static_cast<unsigned char>(digest[1]) >> 4, 0);
  EXPECT_GE((*answer)["attempts"].get<uint64_t>(), 1u);
}

TEST(challengeSolve, SeedsChangeTheAnswer) {
  auto a = worker::SolveChallenge(Matmul(16, kSeed), {.threads = 1});
  auto b = worker::SolveChallenge(Matmul(16, kOtherSeed), {.threads = 1});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)["c_sha256"], (*b)["c_sha256"]);
}

TEST(challengeSolve, InvalidSpecIsRefusedNotSolved) {
  auto r = worker::SolveChallenge(Matmul(0));
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  r = worker::SolveChallenge(ChallengeSpec{"matmul", "zz", 4, 0, 0});
  EXPECT_NE(r.status().message().find("seed"), std::string::npos);
}

TEST(challengeSolve, ChallengesBeyondTheMemoryBudgetAreRefused) {
  worker::SolveOptions o;
  o.max_memory_bytes = 1 << 20;
  auto m = worker::SolveChallenge(Matmul(512), o);  // 3 x 1 MiB of floats
  EXPECT_EQ(m.status().code(), Status::Code::kResourceExhausted);
  EXPECT_NE(m.status().message().find("3145728 bytes"), std::string::npos) << m.status().ToString();
  auto mem = worker::SolveChallenge(ChallengeSpec{kChallengeMemory, kSeed, 0, 2 << 20, 0}, o);
  EXPECT_EQ(mem.status().code(), Status::Code::kResourceExhausted);
  // The default budget (90 % of physical memory) refuses 1 TiB on any machine with less than 1.1 TiB.
  auto huge = worker::SolveChallenge(ChallengeSpec{kChallengeMemory, kSeed, 0, kMemoryMaxBytes, 0});
  EXPECT_EQ(huge.status().code(), Status::Code::kResourceExhausted);
}

TEST(challengeSolve, CpuSpeedIsReported) {
  const int n = 512;
  auto answer = worker::SolveChallenge(Matmul(n), {.threads = 2});
  ASSERT_TRUE(answer.ok());
  double gflops = 2.0 * n * n * n / (*answer)["elapsed_ns"].get<double>();
  std::cout << "CPU SGEMM n=" << n << ": " << gflops << " GFLOPS\n";
  EXPECT_GT(gflops, 0.0);
}

}  // namespace
}  // namespace gm
