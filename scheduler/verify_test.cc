// Tests for the controller's verifier against answers from the worker's real
// solver: correct answers pass; one wrong element, a wrong chunk, a fake
// nonce, an implausible speed fail with a reason; malformed answers are
// InvalidArgument naming the field.
//
// Suite names start with "verify" so that `ctest -R verify` selects them:
// gm_add_test registers tests under their GoogleTest names.
#include "scheduler/verify.h"

#include <gtest/gtest.h>

#include <functional>
#include <utility>
#include <vector>

#include "worker/challenges.h"

namespace gm {
namespace {

using json = nlohmann::json;

ChallengeSpec Spec(const std::string& kind, uint64_t rng, ChallengeSizes sizes = {}) {
  auto s = NewChallenge(kind, rng, sizes);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

ChallengeSizes Small() {
  ChallengeSizes s;
  s.matmul_n = 128;
  s.memory_bytes = 8 << 20;
  s.pow_difficulty_bits = 12;
  return s;
}

json Solve(const ChallengeSpec& spec) {
  auto a = worker::SolveChallenge(spec, {.threads = 2});
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return *a;
}

VerifyOptions Opts(uint64_t check_seed = 0x5eed) {
  VerifyOptions o;
  o.check_seed = check_seed;
  return o;
}

// Rewrites the answer's commitments after an edit of c, as a cheat would:
// only Freivalds' check can then notice.
void Recommit(json& a) {
  int n = a["n"];
  std::vector<std::string> rows;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> row(n);
    for (int j = 0; j < n; ++j) row[j] = a["c"][i][j].get<int32_t>();
    rows.push_back(challenge::RowDigestHex(row.data(), n));
  }
  a["row_sha256"] = rows;
  a["c_sha256"] = challenge::ProductDigestHex(rows);
}

TEST(verifyNewChallenge, SeededAndDeterministic) {
  ChallengeSpec a = Spec("matmul", 1, Small()), b = Spec("matmul", 1, Small()), c = Spec("matmul", 2, Small());
  EXPECT_EQ(a, b);
  EXPECT_NE(a.seed_hex, c.seed_hex);
  EXPECT_EQ(a.n, 128);
  EXPECT_EQ(a.seed_hex.size(), 64u);
  EXPECT_NE(Spec("pow", 1, Small()).seed_hex, a.seed_hex);  // the kind is part of the seed
  EXPECT_EQ(Spec("memory", 1, Small()).bytes, 8 << 20);
  EXPECT_EQ(Spec("pow", 1, Small()).difficulty_bits, 12);
  EXPECT_EQ(NewChallenge("gpu", 1, {}).status().code(), Status::Code::kInvalidArgument);
  ChallengeSizes bad;
  bad.matmul_n = 0;
  EXPECT_NE(NewChallenge("matmul", 1, bad).status().message().find("n must be in"), std::string::npos);
}

TEST(verifyMatmul, CorrectProductPasses) {
  ChallengeSpec spec = Spec("matmul", 11, Small());
  json answer = Solve(spec);
  VerifyResult r;
  Status s = VerifyAnswer(spec, answer, Opts(), &r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(r.passed) << r.reason;
  EXPECT_GT(r.tflops, 0);
  EXPECT_EQ(r.elapsed_ns, answer["elapsed_ns"].get<int64_t>());
  EXPECT_DOUBLE_EQ(r.tflops, 2.0 * 128 * 128 * 128 / answer["elapsed_ns"].get<double>() / 1000.0);
}

TEST(verifyMatmul, OneWrongElementFailsFreivalds) {
  ChallengeSpec spec = Spec("matmul", 12, Small());
  const json good = Solve(spec);
  const int n = spec.n;
  const std::vector<std::pair<int, int>> positions = {{0, 0}, {n - 1, n - 1}, {37, 91}, {127, 0}};
  for (auto [i, j] : positions) {
    for (int delta : {1, -1}) {
      json bad = good;
      bad["c"][i][j] = bad["c"][i][j].get<int>() + delta;
      Recommit(bad);  // hashes consistent with the forged C
      for (uint64_t check_seed : {1ULL, 2ULL, 0xdeadbeefULL}) {
        VerifyResult r;
        ASSERT_TRUE(VerifyAnswer(spec, bad, Opts(check_seed), &r).ok());
        EXPECT_FALSE(r.passed) << i << "," << j;
        EXPECT_NE(r.reason.find("Freivalds"), std::string::npos) << r.reason;
      }
    }
  }
}

TEST(verifyMatmul, WrongElementWithoutRecommitFailsTheDigest) {
  ChallengeSpec spec = Spec("matmul", 13, Small());
  json bad = Solve(spec);
  bad["c"][5][6] = bad["c"][5][6].get<int>() + 2;
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, bad, Opts(), &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("row_sha256[5]"), std::string::npos) << r.reason;
}

TEST(verifyMatmul, ImpossibleEntryIsRefused) {
  ChallengeSpec spec = Spec("matmul", 14, Small());
  json bad = Solve(spec);
  bad["c"][1][2] = 64 * 128 + 1;
  Recommit(bad);
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, bad, Opts(), &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("c[1][2]"), std::string::npos) << r.reason;
}

TEST(verifyMatmul, ProductOfAnotherChallengeFails) {
  ChallengeSpec spec = Spec("matmul", 15, Small());
  json other = Solve(Spec("matmul", 16, Small()));  // precomputed for another seed
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, other, Opts(), &r).ok());
  EXPECT_FALSE(r.passed);
}

TEST(verifyMatmul, LargeProductsAreSpotCheckedByRow) {
  ChallengeSizes sizes = Small();
  sizes.matmul_n = 300;  // above the full-result size: digests only
  ChallengeSpec spec = Spec("matmul", 17, sizes);
  const json good = Solve(spec);
  ASSERT_FALSE(good.contains("c"));
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, good, Opts(), &r).ok());
  EXPECT_TRUE(r.passed) << r.reason;

  // Row 123 replaced by another row's digest, commitment rewritten.
  json bad = good;
  bad["row_sha256"][123] = good["row_sha256"][124];
  std::vector<std::string> rows = bad["row_sha256"];
  bad["c_sha256"] = challenge::ProductDigestHex(rows);
  VerifyOptions all = Opts();
  all.spot_rows = 300;  // every row: the wrong one must be found
  ASSERT_TRUE(VerifyAnswer(spec, bad, all, &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("row 123"), std::string::npos) << r.reason;

  // The combined digest must match the rows.
  bad = good;
  bad["c_sha256"] = std::string(64, '0');
  ASSERT_TRUE(VerifyAnswer(spec, bad, Opts(), &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("c_sha256"), std::string::npos) << r.reason;
}

TEST(verifyMatmul, TooFastIsImplausible) {
  ChallengeSpec spec = Spec("matmul", 18, Small());
  json answer = Solve(spec);
  answer["elapsed_ns"] = 1;  // 2*128^3 flops in 1 ns: 4194 TFLOPS
  VerifyOptions o = Opts();
  o.max_tflops = 100;
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, answer, o, &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("implausible"), std::string::npos) << r.reason;
  EXPECT_NEAR(r.tflops, 4194.304, 0.001);
  o.max_tflops = 0;  // no bound: the same answer is correct
  ASSERT_TRUE(VerifyAnswer(spec, answer, o, &r).ok());
  EXPECT_TRUE(r.passed) << r.reason;
}

TEST(verifyMatmul, ClaimedTimeLongerThanTheRoundTripIsImplausible) {
  ChallengeSpec spec = Spec("matmul", 19, Small());
  json answer = Solve(spec);
  VerifyOptions o = Opts();
  o.round_trip_ns = answer["elapsed_ns"].get<int64_t>() - 1;
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, answer, o, &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("round trip"), std::string::npos) << r.reason;
}

TEST(verifyMatmul, WrongSizeOrFlopsClaimFails) {
  ChallengeSpec spec = Spec("matmul", 20, Small());
  json answer = Solve(spec);
  json wrong = answer;
  wrong["flops"] = answer["flops"].get<int64_t>() * 2;
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, wrong, Opts(), &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("flops"), std::string::npos) << r.reason;
  wrong = answer;
  wrong["n"] = 64;
  ASSERT_TRUE(VerifyAnswer(spec, wrong, Opts(), &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("n = 64"), std::string::npos) << r.reason;
}

TEST(verifyMatmul, MalformedAnswersNameTheField) {
  ChallengeSpec spec = Spec("matmul", 21, Small());
  const json good = Solve(spec);
  struct Case {
    std::function<void(json&)> edit;
    const char* message;
  };
  const Case cases[] = {
      {[](json& a) { a.erase("row_sha256"); }, "answer.row_sha256 is missing"},
      {[](json& a) { a["n"] = "128"; }, "answer.n must be an integer"},
      {[](json& a) { a["elapsed_ns"] = 1.5; }, "answer.elapsed_ns must be an integer"},
      {[](json& a) { a["c"][3][4] = 2.5; }, "answer.c[3][4] must be an integer"},
      {[](json& a) { a["c"][3].erase(0); }, "answer.c[3] must be an array of 128 integers"},
      {[](json& a) { a.erase("c"); }, "answer.c is missing"},
      {[](json& a) { a["row_sha256"][2] = 7; }, "answer.row_sha256[2] must be a string"},
      {[](json& a) { a["c_sha256"] = "XYZ"; }, "answer.c_sha256 must be 64 lower-case hex"},
      {[](json& a) { a["kind"] = "pow"; }, "answer.kind is 'pow', the challenge is 'matmul'"},
      {[](json& a) { a.erase("kind"); }, "answer.kind is missing"},
      {[](json& a) { a = json::array(); }, "answer is not a JSON object"},
  };
  for (const Case& c : cases) {
    json bad = good;
    c.edit(bad);
    VerifyResult r;
    r.passed = true;
    Status s = VerifyAnswer(spec, bad, Opts(), &r);
    EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << c.message << " / " << s.ToString();
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.ToString();
    EXPECT_FALSE(r.passed);
    EXPECT_EQ(r.reason, s.message());
  }
}

TEST(verifyMemory, CorrectStreamPasses) {
  ChallengeSpec spec = Spec("memory", 31, Small());
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, Solve(spec), Opts(), &r).ok());
  EXPECT_TRUE(r.passed) << r.reason;
  EXPECT_GT(r.elapsed_ns, 0);
}

TEST(verifyMemory, WrongChunkFails) {
  ChallengeSpec spec = Spec("memory", 32, Small());
  json bad = Solve(spec);
  bad["chunk_sha256"][3] = Sha256Hex("not the stream");
  VerifyOptions o = Opts();
  o.spot_chunks = 8;  // all 8 chunks
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, bad, o, &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("memory chunk 3"), std::string::npos) << r.reason;
}

TEST(verifyMemory, LastChunkIsAlwaysChecked) {
  ChallengeSizes sizes = Small();
  sizes.memory_bytes = (8 << 20) + 100;  // a short last chunk
  ChallengeSpec spec = Spec("memory", 33, sizes);
  json bad = Solve(spec);
  ASSERT_EQ(bad["chunk_sha256"].size(), 9u);
  bad["chunk_sha256"][8] = Sha256Hex("x");
  VerifyOptions o = Opts();
  o.spot_chunks = 0;
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, bad, o, &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("chunk 8"), std::string::npos) << r.reason;
}

TEST(verifyMemory, ChunkCountMustMatchTheClaimedBytes) {
  ChallengeSpec spec = Spec("memory", 34, Small());
  json answer = Solve(spec);
  json fewer = answer;
  fewer["chunk_sha256"].erase(fewer["chunk_sha256"].size() - 1);
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, fewer, Opts(), &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("chunk count 7"), std::string::npos) << r.reason;
  json smaller = answer;
  smaller["bytes"] = 4 << 20;
  ASSERT_TRUE(VerifyAnswer(spec, smaller, Opts(), &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("4194304 bytes"), std::string::npos) << r.reason;
}

TEST(verifyMemory, ImplausibleBandwidthFails) {
  ChallengeSpec spec = Spec("memory", 35, Small());
  json answer = Solve(spec);
  answer["elapsed_ns"] = 1000;  // 16 MiB of traffic in a microsecond
  VerifyOptions o = Opts();
  o.max_memory_gbps = 5000;
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, answer, o, &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("implausible"), std::string::npos) << r.reason;
}

TEST(verifyMemory, MalformedAnswerNamesTheField) {
  ChallengeSpec spec = Spec("memory", 36, Small());
  json answer = Solve(spec);
  answer["chunk_sha256"] = "abc";
  VerifyResult r;
  Status s = VerifyAnswer(spec, answer, Opts(), &r);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("answer.chunk_sha256 must be an array"), std::string::npos) << s.ToString();
}

TEST(verifyPow, CorrectNoncePasses) {
  ChallengeSpec spec = Spec("pow", 41, Small());
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, Solve(spec), Opts(), &r).ok());
  EXPECT_TRUE(r.passed) << r.reason;
}

TEST(verifyPow, FakeNonceFails) {
  ChallengeSpec spec = Spec("pow", 42, Small());
  json answer = Solve(spec);
  json fake = answer;
  fake["nonce"] = answer["nonce"].get<uint64_t>() + 1;  // the hash no longer belongs to it
  VerifyResult r;
  ASSERT_TRUE(VerifyAnswer(spec, fake, Opts(), &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("hash does not match"), std::string::npos) << r.reason;

  // An honest hash of a nonce that does not meet the difficulty.
  uint64_t weak = 0;
  while (challenge::LeadingZeroBits(challenge::PowDigestHex(spec.seed_hex, weak)) >= 12) ++weak;
  fake["nonce"] = weak;
  fake["hash"] = challenge::PowDigestHex(spec.seed_hex, weak);
  ASSERT_TRUE(VerifyAnswer(spec, fake, Opts(), &r).ok());
  EXPECT_FALSE(r.passed);
  EXPECT_NE(r.reason.find("leading zero bits, the challenge needs 12"), std::string::npos) << r.reason;
}

TEST(verifyPow, MalformedAnswersNameTheField) {
  ChallengeSpec spec = Spec("pow", 43, Small());
  json answer = Solve(spec);
  VerifyResult r;
  json bad = answer;
  bad["nonce"] = -1;
  EXPECT_NE(VerifyAnswer(spec, bad, Opts(), &r).message().find("answer.nonce must be a non-negative integer"),
            std::string::npos);
  bad = answer;
  bad.erase("hash");
  EXPECT_NE(VerifyAnswer(spec, bad, Opts(), &r).message().find("answer.hash is missing"), std::string::npos);
  bad = answer;
  bad["attempts"] = "many";
  EXPECT_EQ(VerifyAnswer(spec, bad, Opts(), &r).code(), Status::Code::kInvalidArgument);
}

TEST(verifyAnswer, InvalidSpecIsInvalidArgument) {
  ChallengeSpec spec{"matmul", "nothex", 4, 0, 0};
  VerifyResult r;
  EXPECT_EQ(VerifyAnswer(spec, json::object(), Opts(), &r).code(), Status::Code::kInvalidArgument);
  EXPECT_FALSE(r.passed);
}

}  // namespace
}  // namespace gm
