// Accounting: the pure accounting core behind one door. Events go in (a
// deposit, a job attempt's start, a usage record, an attempt's end, a
// heartbeat, a challenge result, a timeout, a forged record, a stake change, a
// reward tick, "time is up" for the audit epoch); Effects come out: the
// balanced ledger transactions it applied to its in-memory ledger (numbered
// for the audit trail), the node events that explain every reputation, trust
// and stake change, the audit epochs that closed, and which job and node
// states changed. No I/O, no clock, no threads: time is an argument.
//
// What gmctld calls for each event (each call's Effects stored as below):
//   start-up                 ValidateConfig, then Restore(snapshot from the store)
//                            or, on a fresh store, ApplyGenesis
//   admin mint / deposit     Deposit(wallet, amount, ref)  (store refuses a repeated ref first)
//   node registered/updated  UpsertNode({id, provider wallet, tier, speed})
//   heartbeat                Heartbeat(node, now)
//   challenge result         ChallengeResult(node, challenge id, passed, measured speed, now)
//   job start (and requeued  StartAttempt(HoldRequest{job, attempt, payer, worst case,
//     job restart)             time limit, nodes}); InsufficientFunds → keep it pending
//   verified usage record    RecordUsage(record); AlreadyExists → a replay, ignore;
//                            PermissionDenied → also call ForgedRecord(node, record id, why)
//   bad record signature     ForgedRecord(node, record id, why)
//   node lost during a job   NodeTimedOut(node, job, attempt, now) (−5 % stake, once per
//                            job attempt), optionally a provider_fault record for the lost
//                            time (never charged), then EndAttempt(job, attempt, {node}, now)
//   attempt ends (done,      EndAttempt(job, attempt, faulty nodes, now); then either
//     failed, requeued)        StartAttempt(next attempt) later, or CloseJob(job)
//   job over (any end state) CloseJob(job); ForgetJob(job) once stored, to bound memory
//   stake / unstake / withdraw  Stake, Unstake(early?), Withdraw
//   admin Partner / review   SetPartner, ClearReview
//   reward tick              EmitRewards(now); `gm rewards preview` → PreviewRewards
//   audit timer ("time up")  CloseEpoch()
//   gm ledger verify/prove/export  VerifyChain / Prove / ExportEpoch (audit.h) over stored rows
//
// The caller (gmctld) stores one call's Effects in ONE database transaction:
//   * each of effects.txs with its id and leaf hash (the id IS the ledger
//     transaction id; entries in the given order),
//   * each of effects.events (gm node show prints them),
//   * each of effects.epochs,
//   * EscrowState of each job in effects.jobs (escrow().Find(id)) and the
//     NodeAccount of each node in effects.nodes (FindNode(id)), as JSON,
// and on restart rebuilds the core with Restore(snapshot of those rows).
// When a call fails, nothing changed (in memory or to store).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "accounting/audit.h"
#include "accounting/escrow.h"
#include "accounting/ledger.h"
#include "accounting/reputation.h"
#include "accounting/rewards.h"
#include "accounting/staking.h"

namespace gm::acct {

struct AccountingConfig {
  FeePolicy fees;              // provider share 92 %, a quarter of the fee burned
  GenesisConfig genesis;       // 1e9 tokens, 40 % rewards pool, the rest treasury
  RewardsConfig rewards;       // tiers, halving, bonuses, stake multiplier
  StakingConfig staking;       // unbonding period, early-unstake burn, slash destination
  ReputationConfig reputation; // priors, penalties, slashes, drain rule, trust thresholds
  AuditConfig audit;           // transactions per epoch
};

// What accounting knows of a provider node (the scheduler's registry owns the rest).
struct NodeInfo {
  std::string node_id;
  std::string provider_wallet;  // "provider:NAME": earns, stakes, is refunded stake
  std::string tier;             // a RewardsConfig tier name
  int64_t speed = 0;            // measured speed (challenges); 0 unknown
};

// Counters of the current reward epoch.
struct EpochCounters {
  int64_t gpu_ms = 0;       // billable GPU-ms settled
  int64_t up_ms = 0;
  int64_t down_ms = 0;
  int64_t jobs_ok = 0;
  int64_t jobs_failed = 0;
};

// Everything accounting keeps per node (persist it as JSON).
struct NodeAccount {
  NodeInfo info;
  NodeReputation reputation;
  StakeState stake;
  EpochCounters epoch;
  std::set<std::string> handled;  // idempotence keys of slashes and challenges applied
};
void to_json(nlohmann::json& j, const NodeAccount& n);
void from_json(const nlohmann::json& j, NodeAccount& n);

// `gm ledger supply --json`: {"minted", "burned", "circulating", "sum_of_balances"}.
void to_json(nlohmann::json& j, const SupplyReport& s);

struct Effects {
  std::vector<LoggedTx> txs;          // applied, in order
  std::vector<NodeEvent> events;      // in order
  std::vector<Epoch> epochs;          // closed by this call
  std::vector<int64_t> jobs;          // escrow states that changed
  std::vector<std::string> nodes;     // node accounts that changed
  std::optional<RewardPreview> rewards;  // EmitRewards: what was paid and why
};

// The whole state, for Restore after a restart (the store's rows).
struct AccountingSnapshot {
  std::map<std::string, Micros> balances;
  std::map<std::string, Micros> credit_limits;
  std::vector<EscrowState> escrows;
  std::vector<NodeAccount> nodes;
  std::optional<Epoch> last_epoch;    // the last closed epoch
  std::vector<LoggedTx> open_txs;     // transactions after it, in id order
  int64_t reward_epoch = 0;
  bool genesis_done = false;
};
void to_json(nlohmann::json& j, const AccountingSnapshot& s);
void from_json(const nlohmann::json& j, AccountingSnapshot& s);

// OK when every figure of `config` is in range: basis points within
// 0…10,000 (the stake multiplier ≥ 10,000), positive periods, caps and
// priors, tiers with unique names and positive weights, a genesis that
// Genesis() accepts, at least one transaction per epoch. InvalidArgument
// naming the field otherwise. gmctld calls it before building Accounting.
Status ValidateConfig(const AccountingConfig& config);

class Accounting {
 public:
  // `signer` signs each closed epoch (EpochMessage); empty: unsigned epochs
  // (tests only: VerifyChain will report them).
  Accounting(AccountingConfig config, EpochSigner signer);
  Accounting(const Accounting&) = delete;
  Accounting& operator=(const Accounting&) = delete;

  // ---- supply ---------------------------------------------------------------------
  // Mints the configured genesis. FailedPrecondition when done before;
  // InvalidArgument for a bad configuration.
  Result<Effects> ApplyGenesis();
  // An operator's mint to a wallet (kind "mint", ref "mint:REF"). The store
  // must refuse a repeated ref before calling (the core does not keep refs).
  // InvalidArgument for a non-positive amount, a non-wallet or an empty ref.
  Result<Effects> Deposit(const std::string& wallet, Micros amount, const std::string& ref);
  // See Ledger::SetCreditLimit; kept in the snapshot.
  Status SetCreditLimit(const std::string& wallet, Micros limit);

  // ---- nodes ----------------------------------------------------------------------------
  // Registers a node or updates its tier and speed. InvalidArgument for an
  // empty id, a non-provider wallet or an unknown tier; FailedPrecondition
  // when the wallet would change while the node holds stake.
  Result<Effects> UpsertNode(const NodeInfo& info);
  // Uptime from heartbeats; a "downtime" event after a gap over the timeout.
  Result<Effects> Heartbeat(const std::string& node_id, int64_t now_ms);
  // A verification challenge's outcome (`challenge_id` makes it idempotent:
  // AlreadyExists the second time). A pass records the measured speed (if >
  // 0); a failure costs 2 % reputation.
  Result<Effects> ChallengeResult(const std::string& node_id, const std::string& challenge_id, bool passed,
                                  int64_t speed, int64_t now_ms);
  // The node stopped answering during attempt `attempt` of `job_id`: −5 %
  // stake (to burn or the treasury). Once per (node, job, attempt):
  // AlreadyExists after that. Count the failed outcome with EndAttempt.
  Result<Effects> NodeTimedOut(const std::string& node_id, int64_t job_id, int attempt, int64_t now_ms);
  // The node sent a forged record (bad signature, a job it does not run, …):
  // −50 % stake and a ban. Once per record id: AlreadyExists after that.
  Result<Effects> ForgedRecord(const std::string& node_id, const std::string& record_id,
                               const std::string& detail, int64_t now_ms);
  // An admin sets or clears Partner (trust level 4).
  Result<Effects> SetPartner(const std::string& node_id, bool partner, const std::string& by, int64_t now_ms);
  // An admin ends a drain for review ("review_cleared" event).
  Result<Effects> ClearReview(const std::string& node_id, const std::string& by, int64_t now_ms);

  // ---- jobs -----------------------------------------------------------------------------
  // Holds the attempt's worst case (a requeue carries the hold over; see
  // EscrowBook::Hold). Every node must be registered and not banned (NotFound
  // / FailedPrecondition); an empty provider_wallet is taken from the
  // registry, a different one is InvalidArgument. ResourceExhausted
  // "InsufficientFunds: …" leaves the job pending.
  Result<Effects> StartAttempt(const HoldRequest& request);
  // Settles one verified usage record (see EscrowBook::SettleUsage for the
  // errors; AlreadyExists means a replay: nothing changed).
  Result<Effects> RecordUsage(const UsageRecord& record);
  // Ends the attempt: no more records; each allocated node counts a job
  // outcome: failed for those in `faulty_nodes` (provider fault), ok for the
  // rest; a node whose failure rate passes the drain rule is drained for
  // review ("drain" event). InvalidArgument when a faulty node is not in the
  // attempt; otherwise the errors of EscrowBook::EndAttempt.
  Result<Effects> EndAttempt(int64_t job_id, int attempt, const std::vector<std::string>& faulty_nodes,
                             int64_t now_ms);
  // The job is over: the rest of the hold goes back to the payer, once.
  Result<Effects> CloseJob(int64_t job_id);
  // Drops a released job's escrow state from memory once the store keeps it
  // (bounds memory over months of jobs). Later records for the job are then
  // refused with NotFound instead of AlreadyExists: still no change.
  // FailedPrecondition if the job is not released; NotFound if unknown.
  Status ForgetJob(int64_t job_id) { return escrow_.Forget(job_id); }

  // ---- stake ------------------------------------------------------------------------------
  // From the node's provider wallet. FailedPrecondition for a banned node.
  Result<Effects> Stake(const std::string& node_id, Micros amount, int64_t now_ms);
  // Into unbonding, or with `early` straight back minus the burn share.
  // FailedPrecondition while the node runs jobs.
  Result<Effects> Unstake(const std::string& node_id, Micros amount, bool early, int64_t now_ms);
  Result<Effects> Withdraw(const std::string& node_id, int64_t now_ms);

  // ---- rewards ----------------------------------------------------------------------------
  // What the current reward epoch would pay now, and why (gm rewards preview).
  Result<RewardPreview> PreviewRewards() const;
  // Pays the preview from the rewards pool, resets the epoch counters of every
  // node and starts the next reward epoch.
  Result<Effects> EmitRewards(int64_t now_ms);
  int64_t reward_epoch() const { return reward_epoch_; }

  // ---- audit ----------------------------------------------------------------------------
  // Closes the open audit epoch ("time is up"); no epoch when it is empty.
  Result<Effects> CloseEpoch();

  // ---- reading ----------------------------------------------------------------------------
  const Ledger& ledger() const { return ledger_; }
  const EscrowBook& escrow() const { return escrow_; }
  const AuditLog& audit() const { return audit_; }
  const AccountingConfig& config() const { return config_; }
  const NodeAccount* FindNode(const std::string& node_id) const;
  const std::map<std::string, NodeAccount>& nodes() const { return nodes_; }
  double Reputation(const std::string& node_id) const;  // 0 for an unknown node
  int Trust(const std::string& node_id) const;           // 0 for an unknown node

  // ---- persistence ----------------------------------------------------------------------
  AccountingSnapshot Snapshot() const;
  // Replaces the whole state. Corruption when the pieces disagree (a broken
  // ledger invariant, an escrow whose book differs from its balance, open
  // transactions that do not follow the last epoch).
  Status Restore(const AccountingSnapshot& snapshot);

 private:
  Result<NodeAccount*> Node(const std::string& node_id);
  void Log(Effects& fx, Transaction tx);
  void Touch(Effects& fx, const std::string& node_id);
  NodeEvent& Event(Effects& fx, NodeEvent e, int trust_before);
  void TrustChange(Effects& fx, const std::string& node_id, int before, int64_t now_ms, const std::string& cause);
  int TrustOf(const NodeAccount& n) const;

  AccountingConfig config_;
  Ledger ledger_;
  EscrowBook escrow_;
  AuditLog audit_;
  std::map<std::string, NodeAccount> nodes_;
  int64_t reward_epoch_ = 0;
  bool genesis_done_ = false;
};

}  // namespace gm::acct
