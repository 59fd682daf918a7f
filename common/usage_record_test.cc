// Tests for usage records: JSON form, the exact bytes signed, validation, and
// each of the controller's rejections (bad signature, wrong node, replay, job
// not allocated, wrong attempt, malformed).
//
// Suite names start with "usage" so that `ctest -R usage` selects them:
// gm_add_test registers tests under their GoogleTest names.
#include "common/usage_record.h"

#include <gtest/gtest.h>

#include <functional>

namespace gm {
namespace {

using json = nlohmann::json;

// RFC 8032 TEST 1 and TEST 2 keys: known, so nothing here depends on randomness.
constexpr char kSeedA[] = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr char kSeedB[] = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

UsageRecord SampleRecord() {
  UsageRecord r;
  r.node_id = "n1";
  r.seq = 7;
  r.job_id = 42;
  r.attempt = 1;
  r.start_ms = 1000;
  r.end_ms = 61000;
  r.gpu_indices = {0, 1};
  r.gpu_ms = 120000;
  r.cpu_ms = 5000;
  r.max_rss_kb = 2048;
  r.result = "exited";
  r.outputs = {{"slurm-42.out", kEmptySha}};
  return r;
}

RecordExpectations Expect() {
  RecordExpectations e;
  e.node_id = "n1";
  e.job_allocated = true;
  e.attempt = 1;
  e.last_seq = 6;
  return e;
}

SigningKey KeyA() { return std::move(SigningKey::FromSeedHex(kSeedA)).value(); }
SigningKey KeyB() { return std::move(SigningKey::FromSeedHex(kSeedB)).value(); }

// Signs arbitrary JSON the way SignRecord does, to build records that
// SignRecord itself would refuse (a forger's or a buggy worker's).
SignedRecord SignRaw(const json& record, const SigningKey& key) {
  return SignedRecord{record, key.Sign(*UsageRecordSigningBytes(record))};
}

TEST(usageRecord, JsonRoundTrip) {
  UsageRecord r = SampleRecord();
  r.gpu_util_samples = {0, 55, 100};
  r.result = "signaled";
  r.signal = 9;
  auto back = UsageRecordFromJson(json::parse(UsageRecordToJson(r).dump()));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, r);
}

TEST(usageRecord, SignsTheContextPrefixedCanonicalJson) {
  // Written out by hand: the canonical form and the domain-separation prefix.
  const std::string expected =
      std::string("gridmint-usage-record-v1\n") +
      R"({"attempt":1,"cpu_ms":5000,"end_ms":61000,"exit_code":0,"gpu_indices":[0,1],"gpu_ms":120000,)"
      R"("gpu_util_samples":[],"job_id":42,"max_rss_kb":2048,"node_id":"n1",)"
      R"("outputs":[{"name":"slurm-42.out","sha256":")" + kEmptySha + R"("}],)"
      R"("result":"exited","seq":7,"signal":0,"start_ms":1000,"version":1})";
  SigningKey key = KeyA();
  auto s = SignRecord(SampleRecord(), key);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*UsageRecordSigningBytes(s->record), expected);
  EXPECT_TRUE(VerifyEd25519(key.PublicKeyHex(), expected, s->signature));
  // Without the prefix the same signature is worthless.
  EXPECT_FALSE(VerifyEd25519(key.PublicKeyHex(), expected.substr(25), s->signature));
}

TEST(usageCheckRecord, AcceptsAGenuineRecordAfterTheWire) {
  SigningKey key = KeyA();
  auto s = SignRecord(SampleRecord(), key);
  ASSERT_TRUE(s.ok());
  // Through text, as over HTTP; key order and spacing on the wire do not matter.
  auto received = SignedRecordFromJson(json::parse(SignedRecordToJson(*s).dump(2)));
  ASSERT_TRUE(received.ok()) << received.status().ToString();
  RecordCheck check;
  Status st = CheckRecord(*received, key.PublicKeyHex(), Expect(), &check);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(check.rejection, RecordRejection::kNone);
  EXPECT_EQ(check.record, SampleRecord());
}

TEST(usageCheckRecord, TamperedFieldIsABadSignature) {
  SigningKey key = KeyA();
  auto s = SignRecord(SampleRecord(), key);
  ASSERT_TRUE(s.ok());
  s->record["gpu_ms"] = 60000;  // asks for less; still not what was signed
  RecordCheck check;
  Status st = CheckRecord(*s, key.PublicKeyHex(), Expect(), &check);
  EXPECT_EQ(st.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(st.message().find("bad signature"), std::string::npos) << st.ToString();
  EXPECT_EQ(check.rejection, RecordRejection::kBadSignature);
  EXPECT_STREQ(RecordRejectionName(check.rejection), "bad_signature");
}

TEST(usageCheckRecord, SignatureByAnotherKeyIsABadSignature) {
  auto s = SignRecord(SampleRecord(), KeyB());  // node B signs a record claiming to be n1's
  ASSERT_TRUE(s.ok());
  RecordCheck check;
  Status st = CheckRecord(*s, KeyA().PublicKeyHex(), Expect(), &check);
  EXPECT_EQ(st.code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(check.rejection, RecordRejection::kBadSignature);
  s->signature = "00";
  EXPECT_EQ(CheckRecord(*s, KeyA().PublicKeyHex(), Expect()).code(), Status::Code::kPermissionDenied);
}

TEST(usageCheckRecord, RecordNamingAnotherNodeIsRefused) {
  UsageRecord r = SampleRecord();
  r.node_id = "n2";  // n1's key, n2's name: n1 trying to bill for n2
  SigningKey key = KeyA();
  auto s = SignRecord(r, key);
  ASSERT_TRUE(s.ok());
  RecordCheck check;
  Status st = CheckRecord(*s, key.PublicKeyHex(), Expect(), &check);
  EXPECT_EQ(st.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(st.message().find("'n2'"), std::string::npos) << st.ToString();
  EXPECT_EQ(check.rejection, RecordRejection::kWrongNode);
}

TEST(usageCheckRecord, OldSequenceIsAReplay) {
  SigningKey key = KeyA();
  auto s = SignRecord(SampleRecord(), key);  // seq 7
  ASSERT_TRUE(s.ok());
  RecordExpectations e = Expect();
  e.last_seq = 7;  // this very record was applied
  RecordCheck check;
  Status st = CheckRecord(*s, key.PublicKeyHex(), e, &check);
  EXPECT_EQ(st.code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(st.message(), "sequence 7 already seen (last 7)");
  EXPECT_EQ(check.rejection, RecordRejection::kReplay);
  EXPECT_EQ(check.record.job_id, 42);  // parsed, so the controller can answer "applied"
  e.last_seq = 9;
  EXPECT_EQ(CheckRecord(*s, key.PublicKeyHex(), e).message(), "sequence 7 already seen (last 9)");
}

TEST(usageCheckRecord, ReplayIsReportedEvenAfterTheJobWasSettled) {
  SigningKey key = KeyA();
  auto s = SignRecord(SampleRecord(), key);
  ASSERT_TRUE(s.ok());
  RecordExpectations e = Expect();
  e.last_seq = 7;
  e.job_allocated = false;  // settled and gone
  RecordCheck check;
  EXPECT_EQ(CheckRecord(*s, key.PublicKeyHex(), e, &check).code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(check.rejection, RecordRejection::kReplay);
}

TEST(usageCheckRecord, JobNotAllocatedToTheNodeIsRefused) {
  SigningKey key = KeyA();
  auto s = SignRecord(SampleRecord(), key);
  ASSERT_TRUE(s.ok());
  RecordExpectations e = Expect();
  e.job_allocated = false;
  RecordCheck check;
  Status st = CheckRecord(*s, key.PublicKeyHex(), e, &check);
  EXPECT_EQ(st.code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(st.message(), "job 42 is not allocated to node 'n1'");
  EXPECT_EQ(check.rejection, RecordRejection::kJobNotAllocated);
}

TEST(usageCheckRecord, WrongAttemptIsRefusedAndAnyAttemptCanBeAllowed) {
  SigningKey key = KeyA();
  auto s = SignRecord(SampleRecord(), key);  // attempt 1
  ASSERT_TRUE(s.ok());
  RecordExpectations e = Expect();
  e.attempt = 2;
  RecordCheck check;
  EXPECT_EQ(CheckRecord(*s, key.PublicKeyHex(), e, &check).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(check.rejection, RecordRejection::kWrongAttempt);
  e.attempt.reset();
  EXPECT_TRUE(CheckRecord(*s, key.PublicKeyHex(), e).ok());
}

TEST(usageCheckRecord, SignedButMalformedRecordsNameTheField) {
  SigningKey key = KeyA();
  json base = UsageRecordToJson(SampleRecord());
  struct Case {
    const char* what;
    std::function<void(json&)> edit;
    const char* expect_in_message;
  };
  const Case cases[] = {
      {"missing", [](json& j) { j.erase("gpu_ms"); }, "gpu_ms is missing"},
      {"string", [](json& j) { j["cpu_ms"] = "12"; }, "cpu_ms must be an integer"},
      {"unknown", [](json& j) { j["bonus"] = 1; }, "unknown field 'bonus'"},
      {"too much", [](json& j) { j["gpu_ms"] = 120001; }, "gpu_ms 120001 exceeds (end_ms - start_ms) * 2 GPUs"},
      {"result", [](json& j) { j["result"] = "great"; }, "result 'great'"},
      {"version", [](json& j) { j["version"] = 2; }, "version 2 is not supported"},
      {"sha", [](json& j) { j["outputs"][0]["sha256"] = "abc"; }, "outputs[0].sha256"},
      {"seq", [](json& j) { j["seq"] = 0; }, "seq must be >= 1"},
      {"util", [](json& j) { j["gpu_util_samples"] = {101}; }, "gpu_util_samples[0]"},
      {"gpus", [](json& j) { j["gpu_indices"] = {1, 1}; }, "gpu_indices lists GPU 1 twice"},
      {"time", [](json& j) { j["end_ms"] = 999; }, "end_ms is before start_ms"},
  };
  for (const Case& c : cases) {
    json j = base;
    c.edit(j);
    RecordCheck check;
    Status st = CheckRecord(SignRaw(j, key), key.PublicKeyHex(), Expect(), &check);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << c.what << ": " << st.ToString();
    EXPECT_NE(st.message().find(c.expect_in_message), std::string::npos) << c.what << ": " << st.ToString();
    EXPECT_EQ(check.rejection, RecordRejection::kMalformed) << c.what;
  }
}

TEST(usageCheckRecord, FloatsAreMalformedBeforeAnySignatureCheck) {
  json j = UsageRecordToJson(SampleRecord());
  j["gpu_ms"] = 120000.0;
  RecordCheck check;
  Status st = CheckRecord(SignedRecord{j, std::string(128, '0')}, KeyA().PublicKeyHex(), Expect(), &check);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("/gpu_ms"), std::string::npos) << st.ToString();
  EXPECT_EQ(check.rejection, RecordRejection::kMalformed);
}

TEST(usageRecord, SignRecordRefusesAnInvalidRecord) {
  UsageRecord r = SampleRecord();
  r.result = "";
  auto s = SignRecord(r, KeyA());
  EXPECT_EQ(s.status().code(), Status::Code::kInvalidArgument);
  r = SampleRecord();
  r.node_id = "";
  EXPECT_NE(SignRecord(r, KeyA()).status().message().find("node_id"), std::string::npos);
}

TEST(usageRecord, NoGpusMeansNoGpuTime) {
  UsageRecord r = SampleRecord();
  r.gpu_indices.clear();
  r.gpu_ms = 1;
  EXPECT_EQ(ValidateUsageRecord(r).code(), Status::Code::kInvalidArgument);
  r.gpu_ms = 0;
  EXPECT_TRUE(ValidateUsageRecord(r).ok());
}

TEST(usageSignedRecord, FromJsonNamesMissingMembers) {
  EXPECT_NE(SignedRecordFromJson(json{{"signature", "ab"}}).status().message().find("record is missing"),
            std::string::npos);
  EXPECT_NE(SignedRecordFromJson(json{{"record", json::object()}}).status().message().find("signature is missing"),
            std::string::npos);
  EXPECT_NE(SignedRecordFromJson(json{{"record", 1}, {"signature", "ab"}}).status().message().find("object"),
            std::string::npos);
  EXPECT_EQ(SignedRecordFromJson(json::array()).status().code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace gm
