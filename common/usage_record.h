// Usage records: what a node ran for a job, signed with the node key.
//
// The worker fills a UsageRecord when a job attempt ends, signs it
// (SignRecord), spools it durably and sends the SignedRecord until the
// controller acknowledges it. The controller checks it with CheckRecord (pure:
// no I/O, no clock) before settling anything, and applies each (node, seq)
// once. The JSON form is a frozen wire and storage format ("version": 1).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/signing.h"
#include "common/status.h"

namespace gm {

// Frozen: the record's "version" field. A change to the fields is a new version.
inline constexpr int kUsageRecordVersion = 1;

// Prefixed to the canonical JSON before signing, so that a node's signature
// over a usage record can never be passed off as its signature over any other
// kind of message signed with the same key (domain separation).
inline constexpr char kUsageRecordSigningContext[] = "gridmint-usage-record-v1\n";

struct UsageRecord {
  std::string node_id;     // the controller's id of the node that ran it
  int64_t seq = 0;         // per node, from 1, strictly increasing (UsageSpool::NextSeq)
  int64_t job_id = 0;      // > 0
  int attempt = 0;         // requeue count, >= 0
  int64_t start_ms = 0;    // Unix milliseconds
  int64_t end_ms = 0;      // >= start_ms
  std::vector<int> gpu_indices;  // node GPU indices the job was given; distinct, >= 0
  // GPU-milliseconds: wall time times GPUs, per GPU summed. At most
  // (end_ms - start_ms) * gpu_indices.size(); this is what the job is charged for.
  int64_t gpu_ms = 0;
  int64_t cpu_ms = 0;      // user + system CPU time
  int64_t max_rss_kb = 0;  // peak resident memory
  // Frozen names: exited | signaled | timeout | cancelled | launch_failed | lost
  std::string result;
  int exit_code = 0;       // 0..255
  int signal = 0;          // 0..128 (0: none)
  // Every output file returned: name -> lower-case hex SHA-256 of its bytes,
  // so a result can be traced to the node that produced it. Names distinct.
  std::vector<std::pair<std::string, std::string>> outputs;
  // GPU utilisation samples in percent (0..100). Empty means unknown (no
  // NVML), never "idle".
  std::vector<int> gpu_util_samples;

  bool operator==(const UsageRecord&) const = default;
};

// The record as JSON (with "version"). Integers only, so it can be signed.
nlohmann::json UsageRecordToJson(const UsageRecord& r);

// Parses and validates. Errors: InvalidArgument naming the field and what is
// wrong with it ("usage record: gpu_ms must be an integer", "... is missing",
// "... exceeds (end_ms - start_ms) * 2 GPUs"); unknown fields are refused too,
// since a signed record must mean exactly what it says.
Result<UsageRecord> UsageRecordFromJson(const nlohmann::json& j);

// The checks UsageRecordFromJson applies, for a record built in memory.
Status ValidateUsageRecord(const UsageRecord& r);

// A record as it travels and is stored: the JSON object exactly as signed and
// the hex Ed25519 signature over kUsageRecordSigningContext + CanonicalJson(record).
struct SignedRecord {
  nlohmann::json record;
  std::string signature;
};

// {"record": {...}, "signature": "hex"} and back. FromJson errors:
// InvalidArgument naming the missing or mistyped member.
nlohmann::json SignedRecordToJson(const SignedRecord& s);
Result<SignedRecord> SignedRecordFromJson(const nlohmann::json& j);

// The exact bytes that are signed for `record`. Errors: InvalidArgument (a
// floating-point number, invalid UTF-8).
Result<std::string> UsageRecordSigningBytes(const nlohmann::json& record);

// Validates the record and signs it with the node key. Errors:
// InvalidArgument from ValidateUsageRecord / CanonicalJson.
Result<SignedRecord> SignRecord(const UsageRecord& r, const SigningKey& key);

// What the controller knows when a record arrives from an authenticated node.
struct RecordExpectations {
  std::string node_id;  // the node the request came from
  // Whether the record's job (and attempt) was allocated to this node. The
  // controller looks the job up from the record's fields (parse it first with
  // UsageRecordFromJson, or pass false for an unknown job).
  bool job_allocated = false;
  // The attempt the controller ran on this node; nullopt accepts any.
  std::optional<int> attempt;
  // The highest seq already applied for this node (0: none yet). Workers
  // deliver their spool in seq order, so anything <= last_seq is a replay.
  int64_t last_seq = 0;
};

// Why a record was refused; names are stable, for metrics labels and logs.
enum class RecordRejection {
  kNone,
  kMalformed,        // InvalidArgument
  kBadSignature,     // PermissionDenied "bad signature"
  kWrongNode,        // PermissionDenied: signed by this node, names another
  kReplay,           // AlreadyExists "sequence N already seen (last M)"
  kJobNotAllocated,  // FailedPrecondition
  kWrongAttempt,     // FailedPrecondition
};
const char* RecordRejectionName(RecordRejection r);  // "bad_signature", ...

struct RecordCheck {
  RecordRejection rejection = RecordRejection::kNone;
  UsageRecord record;  // parsed; meaningful when rejection is kNone or kReplay
};

// The controller's whole check of one record, pure. In this order:
//  1. the record must canonicalise (InvalidArgument otherwise);
//  2. the signature must verify under node_pubkey_hex (PermissionDenied "bad
//     signature") - nothing in an unsigned record is believed, not even its
//     field errors;
//  3. the fields must be valid (InvalidArgument naming the field);
//  4. the record must name expect.node_id (PermissionDenied);
//  5. seq must be above expect.last_seq (AlreadyExists "sequence N already
//     seen (last M)") - checked before the job, so that a record resent after
//     its job was settled reads as "already applied": the controller should
//     answer it as acknowledged, and the worker then drops it from its spool;
//  6. the job must be allocated to the node (FailedPrecondition);
//  7. the attempt must match, when expected (FailedPrecondition).
// `out`, when given, receives the rejection kind and the parsed record.
Status CheckRecord(const SignedRecord& signed_record, const std::string& node_pubkey_hex,
                   const RecordExpectations& expect, RecordCheck* out = nullptr);

}  // namespace gm
