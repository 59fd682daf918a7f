// Escrow holds and per-record settlement.
//
// A job's life in the escrow book:
//   Hold(attempt 0)  payer → escrow:JOB, the attempt's worst case
//   SettleUsage(…)   for each verified usage record of the open attempt:
//                    escrow → provider (92 %), treasury and burn (the fee)
//   EndAttempt(…)    no more records for that attempt
//   Hold(attempt 1)  a requeue: the hold CARRIES OVER; the new attempt's worst
//                    case is topped up from the payer, or the excess is
//                    partially released back to the payer (never a full
//                    release and a new hold)
//   Release(job)     the job is over: the rest goes back to the payer, once;
//                    a second release is refused (FailedPrecondition)
//
// Rounding rule (one rule, everywhere): for each (attempt, node) the meter
// keeps the exact billable GPU-ms and price, and the cumulative charge is
//     charged(node) = floor(price × Σ gpu_ms ÷ 3,600,000)
// i.e. the node's exact total is rounded down ONCE; each record moves only the
// growth of that cumulative figure. Likewise the provider's share is
// floor(charged × provider_share_bp ÷ 10,000) of the cumulative charge, the
// burn floor(fee × fee_burn_bp ÷ 10,000) of the cumulative fee, and the
// treasury takes the rest of the fee. So no sub-micro-token remainder is lost
// between records: however a node's time is cut into records, the payer, the
// provider, the treasury and the burn end with exactly the same amounts, and
// the payer is forgiven less than one micro-token per node per attempt.
//
// Bounds: a node's billable GPU-ms in an attempt never exceed its GPUs × the
// time limit, and charges never exceed what the escrow holds; the excess is
// reported as ignored and not charged. Provider-fault time is never charged.
//
// Idempotence: a record is identified by (node_id, seq) within its job; a
// record applied before is refused with AlreadyExists and changes nothing.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "accounting/ledger.h"

namespace gm::acct {

// One node of an attempt's allocation: the escrow trusts these figures, never
// the ones a usage record might claim.
struct NodeAllocation {
  std::string node_id;
  std::string provider_wallet;    // "provider:NAME"
  Micros price_per_gpu_hour = 0;  // the node's ask, or the job's cap
  int gpus = 0;
};

struct HoldRequest {
  int64_t job_id = 0;
  int attempt = 0;                // 0 for the first start, then the requeue count
  std::string payer_wallet;       // "user:NAME"
  Micros amount = 0;              // the attempt's worst case (WorstCaseCost, or price cap × …)
  int64_t time_limit_ms = 0;      // bounds each node's billable GPU-ms: gpus × time_limit_ms
  std::vector<NodeAllocation> nodes;
};

// A verified (signature checked by the caller) usage record from one node.
struct UsageRecord {
  int64_t job_id = 0;
  int attempt = 0;
  std::string node_id;
  int64_t seq = 0;                // the node's record number: (node_id, seq) is the record id
  int64_t gpu_ms = 0;             // GPU-milliseconds served in the record's interval
  bool provider_fault = false;    // time lost to the provider: never charged
};
std::string RecordId(const UsageRecord& r);  // "NODE:SEQ"

// Cumulative figures of one node in the open attempt.
struct NodeMeter {
  NodeAllocation node;
  int64_t gpu_ms = 0;        // billable GPU-ms so far (≤ gpus × time limit)
  int64_t fault_gpu_ms = 0;  // provider-fault GPU-ms (never charged)
  int64_t ignored_gpu_ms = 0;// beyond the time limit (not charged)
  Micros charged = 0;        // cumulative charge actually taken from the escrow
  Micros provider = 0;       // cumulative provider share paid
  Micros burned = 0;         // cumulative fee burned; treasury = charged − provider − burned
};

// Everything the escrow book knows of one job (persist it as JSON).
struct EscrowState {
  int64_t job_id = 0;
  std::string payer_wallet;
  int attempt = 0;
  bool attempt_open = false;
  int64_t time_limit_ms = 0;
  Micros held = 0;                   // what escrow:JOB holds now
  Micros charged = 0;                // all attempts
  Micros refunded = 0;               // partial releases and the final release
  std::vector<NodeMeter> meters;     // the current attempt's nodes
  // Record seqs applied, per node (all attempts), each list sorted: records
  // mostly arrive in order, so a replay check is a binary search over
  // contiguous integers and recording one is an append.
  std::map<std::string, std::vector<int64_t>> records;
  bool Applied(const std::string& node_id, int64_t seq) const;
  void MarkApplied(const std::string& node_id, int64_t seq);
  bool released = false;             // the final release happened
};
void to_json(nlohmann::json& j, const EscrowState& s);
void from_json(const nlohmann::json& j, EscrowState& s);

struct UsageSettlement {
  Transaction tx;                 // no entries when nothing is charged (fault, tiny, capped)
  int64_t billable_gpu_ms = 0;    // counted towards the charge
  int64_t ignored_gpu_ms = 0;     // over the node's limit
  Micros charged = 0;             // taken from the escrow by this record
  Micros provider = 0;
  Micros treasury = 0;
  Micros burned = 0;
};

class EscrowBook {
 public:
  // Shares outside 0…10,000 basis points are clamped into it.
  explicit EscrowBook(FeePolicy policy = {});

  // Holds `req.amount` for the attempt and applies the transaction to
  // `ledger`. First attempt: payer → escrow (kind "hold", ref
  // "hold:JOB:ATTEMPT"). A later attempt of a job whose hold is still open
  // tops the hold up or partially releases it (kind "release") to reach
  // req.amount; the returned transaction has no entries when nothing moves.
  // Errors: ResourceExhausted "InsufficientFunds: …" when the payer cannot
  // cover it (the job stays pending); AlreadyExists for the same attempt
  // again; FailedPrecondition for an older attempt, while the previous
  // attempt is still open, or after the job's release; InvalidArgument for a
  // negative amount, no nodes, a bad node or a bad wallet.
  Result<Transaction> Hold(Ledger& ledger, const HoldRequest& req);

  // Settles one record against the hold and applies the transaction (kind
  // "usage", ref "usage:JOB:NODE:SEQ"): escrow → provider, treasury, burn.
  // Errors: AlreadyExists (the record was applied before: nothing changes);
  // NotFound (no hold for the job); FailedPrecondition (the job was released,
  // or the record's attempt is not the open one); PermissionDenied (the node
  // is not allocated to the attempt: a forged claim); InvalidArgument
  // (negative GPU-ms or seq).
  Result<UsageSettlement> SettleUsage(Ledger& ledger, const UsageRecord& rec);

  // Closes the attempt to records. NotFound, or FailedPrecondition when the
  // attempt is not the open one.
  Status EndAttempt(int64_t job_id, int attempt);

  // Refunds what the escrow still holds to the payer (kind "release", ref
  // "release:JOB"; no entries when nothing is left) and closes the job for
  // good. FailedPrecondition if it was released before or an attempt is
  // still open; NotFound for an unknown job.
  Result<Transaction> Release(Ledger& ledger, int64_t job_id);

  const EscrowState* Find(int64_t job_id) const;
  const std::map<int64_t, EscrowState>& jobs() const { return jobs_; }
  // Open attempts whose allocation names `node_id` (its running jobs).
  int RunningJobs(const std::string& node_id) const;

  void Restore(EscrowState s) { jobs_[s.job_id] = std::move(s); }
  // Drops a released job's state (after the store keeps it); late records for
  // it are then answered NotFound. FailedPrecondition if not released.
  Status Forget(int64_t job_id);

  const FeePolicy& policy() const { return policy_; }

 private:
  Result<Transaction> AdjustHold(Ledger& ledger, EscrowState& s, const HoldRequest& req);

  FeePolicy policy_;
  std::map<int64_t, EscrowState> jobs_;
};

}  // namespace gm::acct
