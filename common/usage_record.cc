// Usage records: JSON form, validation, signing and the controller's check.
#include "common/usage_record.h"

#include <algorithm>
#include <set>

namespace gm {

using json = nlohmann::json;

namespace {

constexpr const char* kResults[] = {"exited", "signaled", "timeout", "cancelled", "launch_failed", "lost"};
constexpr const char* kFields[] = {"version",    "node_id",  "seq",       "job_id",        "attempt",
                                   "start_ms",   "end_ms",   "gpu_indices", "gpu_ms",      "cpu_ms",
                                   "max_rss_kb", "result",   "exit_code", "signal",        "outputs",
                                   "gpu_util_samples"};
constexpr size_t kMaxNodeIdBytes = 256;
constexpr size_t kMaxOutputNameBytes = 4096;

Status Bad(const std::string& what) { return Status::InvalidArgument("usage record: " + what); }

bool IsLowerHex(const std::string& s, size_t len) {
  return s.size() == len &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Reads an integer member; floats, strings, booleans and out-of-range values
// are refused by name.
Status GetInt(const json& j, const char* name, int64_t lo, int64_t hi, int64_t* out) {
  auto it = j.find(name);
  if (it == j.end()) return Bad(std::string(name) + " is missing");
  if (!it->is_number_integer()) return Bad(std::string(name) + " must be an integer");
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    return Bad(std::string(name) + " is out of range");
  int64_t v = it->get<int64_t>();
  if (v < lo || v > hi)
    return Bad(std::string(name) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
               "], got " + std::to_string(v));
  *out = v;
  return Status::OK();
}

Status GetIntList(const json& j, const char* name, int64_t lo, int64_t hi, std::vector<int>* out) {
  auto it = j.find(name);
  if (it == j.end()) return Bad(std::string(name) + " is missing");
  if (!it->is_array()) return Bad(std::string(name) + " must be an array of integers");
  out->clear();
  for (size_t i = 0; i < it->size(); ++i) {
    const json& e = (*it)[i];
    std::string elem = std::string(name) + "[" + std::to_string(i) + "]";
    if (!e.is_number_integer()) return Bad(elem + " must be an integer");
    bool huge = e.is_number_unsigned() && e.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX);
    int64_t v = huge ? 0 : e.get<int64_t>();
    if (huge || v < lo || v > hi)
      return Bad(elem + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    out->push_back(static_cast<int>(v));
  }
  return Status::OK();
}

Status GetString(const json& j, const char* name, std::string* out) {
  auto it = j.find(name);
  if (it == j.end()) return Bad(std::string(name) + " is missing");
  if (!it->is_string()) return Bad(std::string(name) + " must be a string");
  *out = it->get<std::string>();
  return Status::OK();
}

}  // namespace

const char* RecordRejectionName(RecordRejection r) {
  switch (r) {
    case RecordRejection::kNone: return "none";
    case RecordRejection::kMalformed: return "malformed";
    case RecordRejection::kBadSignature: return "bad_signature";
    case RecordRejection::kWrongNode: return "wrong_node";
    case RecordRejection::kReplay: return "replay";
    case RecordRejection::kJobNotAllocated: return "job_not_allocated";
    case RecordRejection::kWrongAttempt: return "wrong_attempt";
  }
  return "unknown";
}

json UsageRecordToJson(const UsageRecord& r) {
  json outputs = json::array();
  for (const auto& [name, sha] : r.outputs) outputs.push_back({{"name", name}, {"sha256", sha}});
  return json{{"version", kUsageRecordVersion},
              {"node_id", r.node_id},
              {"seq", r.seq},
              {"job_id", r.job_id},
              {"attempt", r.attempt},
              {"start_ms", r.start_ms},
              {"end_ms", r.end_ms},
              {"gpu_indices", r.gpu_indices},
              {"gpu_ms", r.gpu_ms},
              {"cpu_ms", r.cpu_ms},
              {"max_rss_kb", r.max_rss_kb},
              {"result", r.result},
              {"exit_code", r.exit_code},
              {"signal", r.signal},
              {"outputs", outputs},
              {"gpu_util_samples", r.gpu_util_samples}};
}

Status ValidateUsageRecord(const UsageRecord& r) {
  if (r.node_id.empty()) return Bad("node_id is empty");
  if (r.node_id.size() > kMaxNodeIdBytes) return Bad("node_id is longer than 256 bytes");
  if (r.seq < 1) return Bad("seq must be >= 1, got " + std::to_string(r.seq));
  if (r.job_id < 1) return Bad("job_id must be >= 1, got " + std::to_string(r.job_id));
  if (r.attempt < 0) return Bad("attempt must be >= 0");
  if (r.start_ms < 0) return Bad("start_ms must be >= 0");
  if (r.end_ms < r.start_ms) return Bad("end_ms is before start_ms");
  std::set<int> gpus;
  for (int g : r.gpu_indices) {
    if (g < 0) return Bad("gpu_indices holds a negative index");
    if (!gpus.insert(g).second) return Bad("gpu_indices lists GPU " + std::to_string(g) + " twice");
  }
  if (r.gpu_ms < 0) return Bad("gpu_ms must be >= 0");
  // The charge can never exceed the wall time on the GPUs given; __int128
  // because a forged end_ms may be huge.
  __int128 cap = static_cast<__int128>(r.end_ms - r.start_ms) * static_cast<__int128>(r.gpu_indices.size());
  if (static_cast<__int128>(r.gpu_ms) > cap)
    return Bad("gpu_ms " + std::to_string(r.gpu_ms) + " exceeds (end_ms - start_ms) * " +
               std::to_string(r.gpu_indices.size()) + " GPUs");
  if (r.cpu_ms < 0) return Bad("cpu_ms must be >= 0");
  if (r.max_rss_kb < 0) return Bad("max_rss_kb must be >= 0");
  if (std::find_if(std::begin(kResults), std::end(kResults),
                   [&](const char* s) { return r.result == s; }) == std::end(kResults))
    return Bad("result '" + r.result + "' is not one of exited, signaled, timeout, cancelled, launch_failed, lost");
  if (r.exit_code < 0 || r.exit_code > 255) return Bad("exit_code must be in [0, 255]");
  if (r.signal < 0 || r.signal > 128) return Bad("signal must be in [0, 128]");
  std::set<std::string> names;
  for (size_t i = 0; i < r.outputs.size(); ++i) {
    const auto& [name, sha] = r.outputs[i];
    std::string at = "outputs[" + std::to_string(i) + "]";
    if (name.empty() || name.size() > kMaxOutputNameBytes) return Bad(at + ".name must be 1..4096 bytes");
    if (!names.insert(name).second) return Bad(at + ".name '" + name + "' appears twice");
    if (!IsLowerHex(sha, 64)) return Bad(at + ".sha256 must be 64 lower-case hex characters");
  }
  for (size_t i = 0; i < r.gpu_util_samples.size(); ++i)
    if (r.gpu_util_samples[i] < 0 || r.gpu_util_samples[i] > 100)
      return Bad("gpu_util_samples[" + std::to_string(i) + "] must be in [0, 100]");
  return Status::OK();
}

Result<UsageRecord> UsageRecordFromJson(const json& j) {
  if (!j.is_object()) return Bad("not a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::find_if(std::begin(kFields), std::end(kFields),
                     [&](const char* f) { return it.key() == f; }) == std::end(kFields))
      return Bad("unknown field '" + it.key() + "'");
  int64_t v = 0;
  GM_RETURN_IF_ERROR(GetInt(j, "version", 0, INT32_MAX, &v));
  if (v != kUsageRecordVersion)
    return Bad("version " + std::to_string(v) + " is not supported (expected " +
               std::to_string(kUsageRecordVersion) + ")");
  UsageRecord r;
  GM_RETURN_IF_ERROR(GetString(j, "node_id", &r.node_id));
  GM_RETURN_IF_ERROR(GetInt(j, "seq", INT64_MIN, INT64_MAX, &r.seq));
  GM_RETURN_IF_ERROR(GetInt(j, "job_id", INT64_MIN, INT64_MAX, &r.job_id));
  GM_RETURN_IF_ERROR(GetInt(j, "attempt", 0, INT32_MAX, &v));
  r.attempt = static_cast<int>(v);
  GM_RETURN_IF_ERROR(GetInt(j, "start_ms", INT64_MIN, INT64_MAX, &r.start_ms));
  GM_RETURN_IF_ERROR(GetInt(j, "end_ms", INT64_MIN, INT64_MAX, &r.end_ms));
  GM_RETURN_IF_ERROR(GetIntList(j, "gpu_indices", 0, INT32_MAX, &r.gpu_indices));
  GM_RETURN_IF_ERROR(GetInt(j, "gpu_ms", INT64_MIN, INT64_MAX, &r.gpu_ms));
  GM_RETURN_IF_ERROR(GetInt(j, "cpu_ms", INT64_MIN, INT64_MAX, &r.cpu_ms));
  GM_RETURN_IF_ERROR(GetInt(j, "max_rss_kb", INT64_MIN, INT64_MAX, &r.max_rss_kb));
  GM_RETURN_IF_ERROR(GetString(j, "result", &r.result));
  GM_RETURN_IF_ERROR(GetInt(j, "exit_code", 0, 255, &v));
  r.exit_code = static_cast<int>(v);
  GM_RETURN_IF_ERROR(GetInt(j, "signal", 0, 128, &v));
  r.signal = static_cast<int>(v);
  auto outs = j.find("outputs");
  if (outs == j.end()) return Bad("outputs is missing");
  if (!outs->is_array()) return Bad("outputs must be an array");
  for (size_t i = 0; i < outs->size(); ++i) {
    const json& o = (*outs)[i];
    std::string at = "outputs[" + std::to_string(i) + "]";
    if (!o.is_object() || o.size() != 2 || !o.contains("name") || !o.contains("sha256"))
      return Bad(at + " must be {\"name\": ..., \"sha256\": ...}");
    if (!o["name"].is_string()) return Bad(at + ".name must be a string");
    if (!o["sha256"].is_string()) return Bad(at + ".sha256 must be a string");
    r.outputs.emplace_back(o["name"].get<std::string>(), o["sha256"].get<std::string>());
  }
  GM_RETURN_IF_ERROR(GetIntList(j, "gpu_util_samples", INT32_MIN, INT32_MAX, &r.gpu_util_samples));
  GM_RETURN_IF_ERROR(ValidateUsageRecord(r));
  return r;
}

json SignedRecordToJson(const SignedRecord& s) {
  return json{{"record", s.record}, {"signature", s.signature}};
}

Result<SignedRecord> SignedRecordFromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("signed record: not a JSON object");
  auto rec = j.find("record");
  if (rec == j.end()) return Status::InvalidArgument("signed record: record is missing");
  if (!rec->is_object()) return Status::InvalidArgument("signed record: record must be an object");
  auto sig = j.find("signature");
  if (sig == j.end()) return Status::InvalidArgument("signed record: signature is missing");
  if (!sig->is_string()) return Status::InvalidArgument("signed record: signature must be a string");
  return SignedRecord{*rec, sig->get<std::string>()};
}

Result<std::string> UsageRecordSigningBytes(const json& record) {
  GM_ASSIGN_OR_RETURN(std::string canonical, CanonicalJson(record));
  return std::string(kUsageRecordSigningContext) + canonical;
}

Result<SignedRecord> SignRecord(const UsageRecord& r, const SigningKey& key) {
  GM_RETURN_IF_ERROR(ValidateUsageRecord(r));
  json record = UsageRecordToJson(r);
  GM_ASSIGN_OR_RETURN(std::string bytes, UsageRecordSigningBytes(record));
  return SignedRecord{std::move(record), key.Sign(bytes)};
}

Status CheckRecord(const SignedRecord& signed_record, const std::string& node_pubkey_hex,
                   const RecordExpectations& expect, RecordCheck* out) {
  RecordCheck local;
  RecordCheck& check = out ? *out : local;
  check = RecordCheck{};
  auto reject = [&](RecordRejection why, Status s) {
    check.rejection = why;
    return s;
  };

  auto bytes = UsageRecordSigningBytes(signed_record.record);
  if (!bytes.ok()) return reject(RecordRejection::kMalformed, bytes.status().Annotate("usage record"));
  if (!VerifyEd25519(node_pubkey_hex, *bytes, signed_record.signature))
    return reject(RecordRejection::kBadSignature,
                  Status::PermissionDenied("bad signature on the usage record from node " + expect.node_id));
  auto parsed = UsageRecordFromJson(signed_record.record);
  if (!parsed.ok()) return reject(RecordRejection::kMalformed, parsed.status());
  check.record = std::move(parsed).value();
  const UsageRecord& r = check.record;

  if (r.node_id != expect.node_id)
    return reject(RecordRejection::kWrongNode,
                  Status::PermissionDenied("usage record names node '" + r.node_id + "' but was signed by node '" +
                                           expect.node_id + "'"));
  if (r.seq <= expect.last_seq)
    return reject(RecordRejection::kReplay,
                  Status::AlreadyExists("sequence " + std::to_string(r.seq) + " already seen (last " +
                                        std::to_string(expect.last_seq) + ")"));
  if (!expect.job_allocated)
    return reject(RecordRejection::kJobNotAllocated,
                  Status::FailedPrecondition("job " + std::to_string(r.job_id) + " is not allocated to node '" +
                                             r.node_id + "'"));
  if (expect.attempt && r.attempt != *expect.attempt)
    return reject(RecordRejection::kWrongAttempt,
                  Status::FailedPrecondition("usage record is for attempt " + std::to_string(r.attempt) + " of job " +
                                             std::to_string(r.job_id) + "; node '" + r.node_id + "' ran attempt " +
                                             std::to_string(*expect.attempt)));
  return Status::OK();
}

}  // namespace gm
