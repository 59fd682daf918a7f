// The accounting facade: validates an event, lets the books produce and apply
// balanced transactions, numbers them for the audit trail, and explains every
// node change with an event.
#include "accounting/accounting.h"

#include <algorithm>

#include "accounting/arith.h"

namespace gm::acct {

using nlohmann::json;

namespace {

Status InRange(const char* field, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    return Status::InvalidArgument(std::string(field) + " = " + std::to_string(v) + " is outside " +
                                   std::to_string(lo) + "…" + std::to_string(hi));
  return Status::OK();
}

}  // namespace

Status ValidateConfig(const AccountingConfig& c) {
  constexpr int64_t kBp = 10'000, kMax = INT64_MAX;
  GM_RETURN_IF_ERROR(InRange("fees.provider_share_bp", c.fees.provider_share_bp, 0, kBp));
  GM_RETURN_IF_ERROR(InRange("fees.fee_burn_bp", c.fees.fee_burn_bp, 0, kBp));
  GM_RETURN_IF_ERROR(Genesis(c.genesis).status());
  const RewardsConfig& r = c.rewards;
  if (r.tiers.empty()) return Status::InvalidArgument("rewards.tiers is empty");
  std::set<std::string> names;
  for (const auto& t : r.tiers) {
    if (t.name.empty() || !names.insert(t.name).second)
      return Status::InvalidArgument("rewards.tiers: empty or repeated tier name '" + t.name + "'");
    GM_RETURN_IF_ERROR(InRange("rewards.tiers.base_rate_per_gpu_hour", t.base_rate_per_gpu_hour, 0, kMax));
    GM_RETURN_IF_ERROR(InRange("rewards.tiers.weight_bp", t.weight_bp, 1, 1'000'000));
  }
  GM_RETURN_IF_ERROR(InRange("rewards.halving_period_epochs", r.halving_period_epochs, 1, kMax));
  GM_RETURN_IF_ERROR(InRange("rewards.uptime_bonus_bp", r.uptime_bonus_bp, 0, kBp));
  GM_RETURN_IF_ERROR(InRange("rewards.uptime_min_bp", r.uptime_min_bp, 0, kBp));
  GM_RETURN_IF_ERROR(InRange("rewards.speed_bonus_bp", r.speed_bonus_bp, 0, kBp));
  GM_RETURN_IF_ERROR(InRange("rewards.speed_top_bp", r.speed_top_bp, 0, kBp));
  GM_RETURN_IF_ERROR(InRange("rewards.success_bonus_bp", r.success_bonus_bp, 0, kBp));
  GM_RETURN_IF_ERROR(InRange("rewards.success_min_ppm", r.success_min_ppm, 0, 1'000'000));
  GM_RETURN_IF_ERROR(InRange("rewards.stake_cap", r.stake_cap, 1, kMax));
  GM_RETURN_IF_ERROR(InRange("rewards.max_stake_multiplier_bp", r.max_stake_multiplier_bp, kBp, 10 * kBp));
  GM_RETURN_IF_ERROR(InRange("staking.unbonding_period_ms", c.staking.unbonding_period_ms, 0, kMax / 2));
  GM_RETURN_IF_ERROR(InRange("staking.early_unstake_burn_bp", c.staking.early_unstake_burn_bp, 0, kBp));
  const ReputationConfig& q = c.reputation;
  if (!(q.prior_alpha > 0) || !(q.prior_beta > 0))
    return Status::InvalidArgument("reputation.prior_alpha and prior_beta must be positive");
  GM_RETURN_IF_ERROR(InRange("reputation.challenge_penalty_bp", q.challenge_penalty_bp, 0, kBp));
  GM_RETURN_IF_ERROR(InRange("reputation.timeout_slash_bp", q.timeout_slash_bp, 0, kBp));
  GM_RETURN_IF_ERROR(InRange("reputation.forgery_slash_bp", q.forgery_slash_bp, 0, kBp));
  GM_RETURN_IF_ERROR(InRange("reputation.drain_failure_bp", q.drain_failure_bp, 0, kBp));
  GM_RETURN_IF_ERROR(InRange("reputation.drain_min_jobs", q.drain_min_jobs, 1, kMax));
  GM_RETURN_IF_ERROR(InRange("reputation.heartbeat_timeout_ms", q.heartbeat_timeout_ms, 1, kMax));
  GM_RETURN_IF_ERROR(InRange("reputation.trust.basic_stake", q.trust.basic_stake, 0, kMax));
  GM_RETURN_IF_ERROR(InRange("reputation.trust.verified_stake", q.trust.verified_stake, 0, kMax));
  GM_RETURN_IF_ERROR(InRange("reputation.trust.trusted_stake", q.trust.trusted_stake, 0, kMax));
  GM_RETURN_IF_ERROR(InRange("reputation.trust.verified_challenges", q.trust.verified_challenges, 0, kMax));
  GM_RETURN_IF_ERROR(InRange("reputation.trust.trusted_jobs", q.trust.trusted_jobs, 0, kMax));
  GM_RETURN_IF_ERROR(InRange("reputation.trust.trusted_success_bp", q.trust.trusted_success_bp, 0, kBp));
  GM_RETURN_IF_ERROR(InRange("audit.epoch_max_txs", c.audit.epoch_max_txs, 1, kMax));
  return Status::OK();
}

Accounting::Accounting(AccountingConfig config, EpochSigner signer)
    : config_(std::move(config)), escrow_(config_.fees), audit_(config_.audit, std::move(signer)) {}

// ---- helpers --------------------------------------------------------------------------------

Result<NodeAccount*> Accounting::Node(const std::string& node_id) {
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return Status::NotFound("node " + node_id + " is not registered with accounting");
  return &it->second;
}

const NodeAccount* Accounting::FindNode(const std::string& node_id) const {
  auto it = nodes_.find(node_id);
  return it == nodes_.end() ? nullptr : &it->second;
}

int Accounting::TrustOf(const NodeAccount& n) const {
  return TrustLevel(n.reputation, BondedStake(ledger_, n.info.node_id), config_.reputation.trust);
}

double Accounting::Reputation(const std::string& node_id) const {
  const NodeAccount* n = FindNode(node_id);
  return n ? ReputationScore(n->reputation, config_.reputation) : 0.0;
}

int Accounting::Trust(const std::string& node_id) const {
  const NodeAccount* n = FindNode(node_id);
  return n ? TrustOf(*n) : 0;
}

void Accounting::Log(Effects& fx, Transaction tx) {
  if (tx.entries.empty()) return;  // nothing moved: nothing to record
  AuditLog::Appended a = audit_.Append(std::move(tx));
  fx.txs.push_back(std::move(a.logged));
  if (a.closed) fx.epochs.push_back(std::move(*a.closed));
}

void Accounting::Touch(Effects& fx, const std::string& node_id) {
  if (std::find(fx.nodes.begin(), fx.nodes.end(), node_id) == fx.nodes.end()) fx.nodes.push_back(node_id);
}

NodeEvent& Accounting::Event(Effects& fx, NodeEvent e, int trust_before) {
  e.trust_before = trust_before;
  const NodeAccount* n = FindNode(e.node_id);
  e.trust_after = n ? TrustOf(*n) : 0;
  Touch(fx, e.node_id);
  fx.events.push_back(std::move(e));
  return fx.events.back();
}

void Accounting::TrustChange(Effects& fx, const std::string& node_id, int before, int64_t now_ms,
                             const std::string& cause) {
  const NodeAccount& n = nodes_.at(node_id);
  int after = TrustOf(n);
  if (after == before) return;
  NodeEvent e;
  e.node_id = node_id;
  e.time_ms = now_ms;
  e.kind = "trust_level";
  e.cause = std::string("trust level ") + TrustLevelName(before) + " → " + TrustLevelName(after) + ": " + cause;
  e.reputation_before = e.reputation_after = ReputationScore(n.reputation, config_.reputation);
  Event(fx, std::move(e), before);
}

namespace {

NodeEvent PlainEvent(const std::string& node, const char* kind, std::string cause, int64_t now_ms, double rep) {
  NodeEvent e;
  e.node_id = node;
  e.time_ms = now_ms;
  e.kind = kind;
  e.cause = std::move(cause);
  e.reputation_before = e.reputation_after = rep;
  return e;
}

std::string PercentOfBp(int bp) {
  std::string frac = bp % 100 ? "." + std::to_string(100 + bp % 100).substr(1) : "";
  return std::to_string(bp / 100) + frac + " %";
}

bool IsWallet(const std::string& a) {
  AccountType t = TypeOf(a);
  return t == AccountType::kUser || t == AccountType::kProvider;
}

}  // namespace

// ---- supply -----------------------------------------------------------------------------------

Result<Effects> Accounting::ApplyGenesis() {
  if (genesis_done_) return Status::FailedPrecondition("the genesis was applied already");
  GM_ASSIGN_OR_RETURN(std::vector<Transaction> txs, Genesis(config_.genesis));
  for (const auto& tx : txs) GM_RETURN_IF_ERROR(ledger_.Check(tx));  // distinct accounts: checks compose
  Effects fx;
  for (const auto& tx : txs) {
    GM_RETURN_IF_ERROR(ledger_.Apply(tx));
    Log(fx, tx);
  }
  genesis_done_ = true;
  return fx;
}

Result<Effects> Accounting::Deposit(const std::string& wallet, Micros amount, const std::string& ref) {
  if (!IsWallet(wallet)) return Status::InvalidArgument("deposits go to a user or provider wallet, not '" + wallet + "'");
  if (amount <= 0) return Status::InvalidArgument("a deposit must be positive");
  if (ref.empty()) return Status::InvalidArgument("a deposit needs a reference");
  Transaction tx = MintTx(wallet, amount, "mint:" + ref);
  GM_RETURN_IF_ERROR(ledger_.Apply(tx));
  Effects fx;
  Log(fx, tx);
  return fx;
}

Status Accounting::SetCreditLimit(const std::string& wallet, Micros limit) {
  return ledger_.SetCreditLimit(wallet, limit);
}

// ---- nodes -------------------------------------------------------------------------------------

Result<Effects> Accounting::UpsertNode(const NodeInfo& info) {
  if (info.node_id.empty()) return Status::InvalidArgument("a node needs an id");
  if (TypeOf(info.provider_wallet) != AccountType::kProvider)
    return Status::InvalidArgument("node " + info.node_id + " needs a provider wallet, not '" + info.provider_wallet + "'");
  const auto& tiers = config_.rewards.tiers;
  if (std::none_of(tiers.begin(), tiers.end(), [&](const GpuTier& t) { return t.name == info.tier; }))
    return Status::InvalidArgument("node " + info.node_id + " has an unknown GPU tier '" + info.tier + "'");
  if (info.speed < 0) return Status::InvalidArgument("node " + info.node_id + " has a negative speed");
  auto it = nodes_.find(info.node_id);
  if (it != nodes_.end() && it->second.info.provider_wallet != info.provider_wallet &&
      SlashableStake(ledger_, it->second.stake) > 0)
    return Status::FailedPrecondition("node " + info.node_id + " holds stake; its wallet cannot change");
  NodeAccount& n = nodes_[info.node_id];
  n.info = info;
  n.stake.node_id = info.node_id;
  n.stake.owner_wallet = info.provider_wallet;
  Effects fx;
  Touch(fx, info.node_id);
  return fx;
}

Result<Effects> Accounting::Heartbeat(const std::string& node_id, int64_t now_ms) {
  GM_ASSIGN_OR_RETURN(NodeAccount* n, Node(node_id));
  int trust = TrustOf(*n);
  int64_t up = n->reputation.up_ms, down = n->reputation.down_ms;
  auto events = RecordHeartbeat(n->reputation, node_id, now_ms, config_.reputation);
  n->epoch.up_ms += n->reputation.up_ms - up;
  n->epoch.down_ms += n->reputation.down_ms - down;
  Effects fx;
  Touch(fx, node_id);
  for (auto& e : events) Event(fx, std::move(e), trust);
  return fx;
}

Result<Effects> Accounting::ChallengeResult(const std::string& node_id, const std::string& challenge_id,
                                            bool passed, int64_t speed, int64_t now_ms) {
  GM_ASSIGN_OR_RETURN(NodeAccount* n, Node(node_id));
  std::string key = "challenge:" + challenge_id;
  if (challenge_id.empty()) return Status::InvalidArgument("a challenge result needs the challenge's id");
  if (n->handled.count(key)) return Status::AlreadyExists("challenge " + challenge_id + " of node " + node_id + " was counted before");
  int trust = TrustOf(*n);
  NodeEvent e = RecordChallenge(n->reputation, node_id, passed,
                                std::string("challenge ") + challenge_id + (passed ? " passed" : " failed"),
                                now_ms, config_.reputation);
  if (passed && speed > 0) n->info.speed = speed;
  n->handled.insert(key);
  Effects fx;
  Event(fx, std::move(e), trust);
  TrustChange(fx, node_id, trust, now_ms, "challenge " + challenge_id);
  return fx;
}

Result<Effects> Accounting::NodeTimedOut(const std::string& node_id, int64_t job_id, int attempt, int64_t now_ms) {
  GM_ASSIGN_OR_RETURN(NodeAccount* n, Node(node_id));
  std::string key = "timeout:" + std::to_string(job_id) + ":" + std::to_string(attempt);
  if (n->handled.count(key))
    return Status::AlreadyExists("the timeout of node " + node_id + " in job " + std::to_string(job_id) +
                                 " attempt " + std::to_string(attempt) + " was slashed before");
  int trust = TrustOf(*n);
  Micros bonded = BondedStake(ledger_, node_id);
  std::string cause = "node timed out during job " + std::to_string(job_id) + " attempt " + std::to_string(attempt);
  GM_ASSIGN_OR_RETURN(Transaction tx, SlashStake(ledger_, n->stake, config_.reputation.timeout_slash_bp, cause,
                                                 config_.staking));
  n->handled.insert(key);
  Effects fx;
  Log(fx, tx);
  NodeEvent e = PlainEvent(node_id, "slash_timeout", cause, now_ms, ReputationScore(n->reputation, config_.reputation));
  e.stake_change = BondedStake(ledger_, node_id) - bonded;
  if (!tx.entries.empty()) e.tx_ref = tx.ref;
  Event(fx, std::move(e), trust);
  TrustChange(fx, node_id, trust, now_ms, cause);
  return fx;
}

Result<Effects> Accounting::ForgedRecord(const std::string& node_id, const std::string& record_id,
                                         const std::string& detail, int64_t now_ms) {
  GM_ASSIGN_OR_RETURN(NodeAccount* n, Node(node_id));
  if (record_id.empty()) return Status::InvalidArgument("a forged record needs its record id");
  std::string key = "forged:" + record_id;
  if (n->handled.count(key)) return Status::AlreadyExists("forged record " + record_id + " of node " + node_id + " was slashed before");
  int trust = TrustOf(*n);
  Micros bonded = BondedStake(ledger_, node_id);
  std::string cause = "forged record " + record_id + (detail.empty() ? "" : ": " + detail);
  GM_ASSIGN_OR_RETURN(Transaction tx, SlashStake(ledger_, n->stake, config_.reputation.forgery_slash_bp, cause,
                                                 config_.staking));
  n->handled.insert(key);
  Effects fx;
  Log(fx, tx);
  double rep = ReputationScore(n->reputation, config_.reputation);
  NodeEvent e = PlainEvent(node_id, "slash_forgery", cause, now_ms, rep);
  e.stake_change = BondedStake(ledger_, node_id) - bonded;
  if (!tx.entries.empty()) e.tx_ref = tx.ref;
  Event(fx, std::move(e), trust);
  if (!n->reputation.banned) {
    n->reputation.banned = true;
    Event(fx, PlainEvent(node_id, "ban", cause, now_ms, rep), trust);
  }
  TrustChange(fx, node_id, trust, now_ms, cause);
  return fx;
}

Result<Effects> Accounting::SetPartner(const std::string& node_id, bool partner, const std::string& by,
                                       int64_t now_ms) {
  GM_ASSIGN_OR_RETURN(NodeAccount* n, Node(node_id));
  Effects fx;
  if (n->reputation.partner == partner) return fx;
  int trust = TrustOf(*n);
  n->reputation.partner = partner;
  std::string cause = std::string(partner ? "Partner set by " : "Partner cleared by ") + by;
  Event(fx, PlainEvent(node_id, "partner", cause, now_ms, ReputationScore(n->reputation, config_.reputation)), trust);
  TrustChange(fx, node_id, trust, now_ms, cause);
  return fx;
}

Result<Effects> Accounting::ClearReview(const std::string& node_id, const std::string& by, int64_t now_ms) {
  GM_ASSIGN_OR_RETURN(NodeAccount* n, Node(node_id));
  if (!n->reputation.draining) return Status::FailedPrecondition("node " + node_id + " is not drained for review");
  int trust = TrustOf(*n);
  n->reputation.draining = false;
  Effects fx;
  Event(fx, PlainEvent(node_id, "review_cleared", "review cleared by " + by, now_ms,
                       ReputationScore(n->reputation, config_.reputation)),
        trust);
  return fx;
}

// ---- jobs ----------------------------------------------------------------------------------------

Result<Effects> Accounting::StartAttempt(const HoldRequest& request) {
  HoldRequest req = request;
  for (auto& a : req.nodes) {
    GM_ASSIGN_OR_RETURN(NodeAccount* n, Node(a.node_id));
    if (n->reputation.banned) return Status::FailedPrecondition("node " + a.node_id + " is banned");
    if (a.provider_wallet.empty()) a.provider_wallet = n->info.provider_wallet;
    if (a.provider_wallet != n->info.provider_wallet)
      return Status::InvalidArgument("node " + a.node_id + " belongs to " + n->info.provider_wallet + ", not " +
                                     a.provider_wallet);
  }
  GM_ASSIGN_OR_RETURN(Transaction tx, escrow_.Hold(ledger_, req));
  Effects fx;
  Log(fx, tx);
  fx.jobs.push_back(req.job_id);
  return fx;
}

Result<Effects> Accounting::RecordUsage(const UsageRecord& record) {
  GM_ASSIGN_OR_RETURN(UsageSettlement s, escrow_.SettleUsage(ledger_, record));
  Effects fx;
  Log(fx, std::move(s.tx));
  fx.jobs.push_back(record.job_id);
  auto it = nodes_.find(record.node_id);
  if (it != nodes_.end() && s.billable_gpu_ms > 0) {
    it->second.epoch.gpu_ms += s.billable_gpu_ms;
    Touch(fx, record.node_id);
  }
  return fx;
}

Result<Effects> Accounting::EndAttempt(int64_t job_id, int attempt, const std::vector<std::string>& faulty,
                                       int64_t now_ms) {
  const EscrowState* st = escrow_.Find(job_id);
  if (!st || !st->attempt_open || st->attempt != attempt) {
    GM_RETURN_IF_ERROR(escrow_.EndAttempt(job_id, attempt));  // says why
    return Status::Internal("EndAttempt accepted an attempt that is not open");
  }
  for (const auto& f : faulty)
    if (std::none_of(st->meters.begin(), st->meters.end(), [&](const NodeMeter& m) { return m.node.node_id == f; }))
      return Status::InvalidArgument("node " + f + " is not in attempt " + std::to_string(attempt) + " of job " +
                                     std::to_string(job_id));
  std::vector<std::string> nodes;
  for (const auto& m : st->meters) nodes.push_back(m.node.node_id);
  GM_RETURN_IF_ERROR(escrow_.EndAttempt(job_id, attempt));
  Effects fx;
  fx.jobs.push_back(job_id);
  std::string what = "attempt " + std::to_string(attempt) + " of job " + std::to_string(job_id);
  const ReputationConfig& rc = config_.reputation;
  for (const auto& id : nodes) {
    auto it = nodes_.find(id);
    if (it == nodes_.end()) continue;  // registered at StartAttempt; only a restored state could lack it
    NodeAccount& n = it->second;
    bool ok = std::find(faulty.begin(), faulty.end(), id) == faulty.end();
    int trust = TrustOf(n);
    Event(fx, RecordJobOutcome(n.reputation, id, ok, what + (ok ? " served" : " lost to the node's fault"), now_ms, rc),
          trust);
    (ok ? n.epoch.jobs_ok : n.epoch.jobs_failed) += 1;
    if (!n.reputation.draining && ShouldDrain(n.reputation, rc)) {
      n.reputation.draining = true;
      int64_t jobs = n.reputation.jobs_ok + n.reputation.jobs_failed;
      double rep = ReputationScore(n.reputation, rc);
      Event(fx, PlainEvent(id, "drain",
                           "failure rate " + std::to_string(n.reputation.jobs_failed) + "/" + std::to_string(jobs) +
                               " is over " + PercentOfBp(rc.drain_failure_bp) + ": drained for review",
                           now_ms, rep),
            trust);
    }
    TrustChange(fx, id, trust, now_ms, what);
  }
  return fx;
}

Result<Effects> Accounting::CloseJob(int64_t job_id) {
  GM_ASSIGN_OR_RETURN(Transaction tx, escrow_.Release(ledger_, job_id));
  Effects fx;
  Log(fx, tx);
  fx.jobs.push_back(job_id);
  return fx;
}

// ---- stake ------------------------------------------------------------------------------------------

Result<Effects> Accounting::Stake(const std::string& node_id, Micros amount, int64_t now_ms) {
  GM_ASSIGN_OR_RETURN(NodeAccount* n, Node(node_id));
  if (n->reputation.banned) return Status::FailedPrecondition("node " + node_id + " is banned; it cannot stake");
  int trust = TrustOf(*n);
  GM_ASSIGN_OR_RETURN(Transaction tx, StakeTokens(ledger_, n->stake, amount));
  Effects fx;
  Log(fx, tx);
  NodeEvent e = PlainEvent(node_id, "stake", "staked " + std::to_string(amount) + " from " + n->info.provider_wallet,
                           now_ms, ReputationScore(n->reputation, config_.reputation));
  e.stake_change = amount;
  e.tx_ref = tx.ref;
  Event(fx, std::move(e), trust);
  TrustChange(fx, node_id, trust, now_ms, "stake");
  return fx;
}

Result<Effects> Accounting::Unstake(const std::string& node_id, Micros amount, bool early, int64_t now_ms) {
  GM_ASSIGN_OR_RETURN(NodeAccount* n, Node(node_id));
  int trust = TrustOf(*n);
  GM_ASSIGN_OR_RETURN(Transaction tx, UnstakeTokens(ledger_, n->stake, amount, now_ms, escrow_.RunningJobs(node_id),
                                                    early, config_.staking));
  Effects fx;
  Log(fx, tx);
  std::string cause = early ? "early unstake of " + std::to_string(amount) + " (" +
                                  std::to_string(ApplyBp(amount, config_.staking.early_unstake_burn_bp)) + " burned)"
                            : "unstaked " + std::to_string(amount) + " into unbonding until " +
                                  std::to_string(now_ms + config_.staking.unbonding_period_ms) + " ms";
  NodeEvent e = PlainEvent(node_id, "unstake", cause, now_ms, ReputationScore(n->reputation, config_.reputation));
  e.stake_change = -amount;
  e.tx_ref = tx.ref;
  Event(fx, std::move(e), trust);
  TrustChange(fx, node_id, trust, now_ms, "unstake");
  return fx;
}

Result<Effects> Accounting::Withdraw(const std::string& node_id, int64_t now_ms) {
  GM_ASSIGN_OR_RETURN(NodeAccount* n, Node(node_id));
  int trust = TrustOf(*n);
  GM_ASSIGN_OR_RETURN(Transaction tx, WithdrawUnbonded(ledger_, n->stake, now_ms));
  Effects fx;
  Log(fx, tx);
  NodeEvent e = PlainEvent(node_id, "withdraw",
                           "withdrew " + std::to_string(tx.entries.at(1).amount) + " unbonded to " + n->info.provider_wallet,
                           now_ms, ReputationScore(n->reputation, config_.reputation));
  e.tx_ref = tx.ref;
  Event(fx, std::move(e), trust);
  return fx;
}

// ---- rewards ------------------------------------------------------------------------------------------

Result<RewardPreview> Accounting::PreviewRewards() const {
  std::vector<NodeEpochStats> stats;
  for (const auto& [id, n] : nodes_) {
    NodeEpochStats s;
    s.node_id = id;
    s.provider_wallet = n.info.provider_wallet;
    s.tier = n.info.tier;
    s.gpu_ms = n.epoch.gpu_ms;
    s.up_ms = n.epoch.up_ms;
    s.down_ms = n.epoch.down_ms;
    s.jobs_ok = n.epoch.jobs_ok;
    s.jobs_failed = n.epoch.jobs_failed;
    s.speed = n.info.speed;
    s.stake = BondedStake(ledger_, id);
    s.eligible = !n.reputation.banned && !n.reputation.draining;
    stats.push_back(std::move(s));
  }
  return acct::PreviewRewards(config_.rewards, reward_epoch_, stats, ledger_.Balance(kRewardsPoolAccount));
}

Result<Effects> Accounting::EmitRewards(int64_t now_ms) {
  GM_ASSIGN_OR_RETURN(RewardPreview p, PreviewRewards());
  Transaction tx = RewardsTx(p);
  if (!tx.entries.empty()) GM_RETURN_IF_ERROR(ledger_.Apply(tx));
  Effects fx;
  Log(fx, tx);
  for (auto& [id, n] : nodes_) {
    n.epoch = EpochCounters{};
    Touch(fx, id);
  }
  ++reward_epoch_;
  fx.rewards = std::move(p);
  return fx;
}

// ---- audit ------------------------------------------------------------------------------------------

Result<Effects> Accounting::CloseEpoch() {
  Effects fx;
  if (auto e = audit_.Close()) fx.epochs.push_back(std::move(*e));
  return fx;
}

// ---- persistence ----------------------------------------------------------------------------------

AccountingSnapshot Accounting::Snapshot() const {
  AccountingSnapshot s;
  s.balances = ledger_.balances();
  s.credit_limits = ledger_.credit_limits();
  for (const auto& [id, e] : escrow_.jobs()) s.escrows.push_back(e);
  for (const auto& [id, n] : nodes_) s.nodes.push_back(n);
  s.last_epoch = audit_.last_epoch();
  s.open_txs = audit_.open_txs();
  s.reward_epoch = reward_epoch_;
  s.genesis_done = genesis_done_;
  return s;
}

Status Accounting::Restore(const AccountingSnapshot& s) {
  Ledger ledger;
  for (const auto& [account, balance] : s.balances) {
    if (TypeOf(account) == AccountType::kInvalid)
      return Status::Corruption("stored balance of an invalid account '" + account + "'");
    ledger.SetBalance(account, balance);
  }
  for (const auto& [account, limit] : s.credit_limits) {
    Status st = ledger.SetCreditLimit(account, limit);
    if (!st.ok()) return Status::Corruption("stored credit limit: " + st.message());
  }
  Status inv = ledger.CheckInvariants();
  if (!inv.ok()) return Status::Corruption("stored balances: " + inv.message());
  EscrowBook escrow(config_.fees);
  std::set<std::string> escrow_accounts;
  for (const auto& e : s.escrows) {
    if (!e.released && ledger.Balance(EscrowAccount(e.job_id)) != e.held)
      return Status::Corruption("escrow of job " + std::to_string(e.job_id) + " holds " +
                                std::to_string(ledger.Balance(EscrowAccount(e.job_id))) + " but its book says " +
                                std::to_string(e.held));
    escrow_accounts.insert(EscrowAccount(e.job_id));
    escrow.Restore(e);
  }
  for (const auto& [account, balance] : s.balances)
    if (TypeOf(account) == AccountType::kEscrow && balance != 0 && !escrow_accounts.count(account))
      return Status::Corruption(account + " holds " + std::to_string(balance) + " but no escrow state explains it");
  std::map<std::string, NodeAccount> nodes;
  for (const auto& n : s.nodes) nodes[n.info.node_id] = n;
  Status st = audit_.Restore(s.last_epoch, s.open_txs);
  if (!st.ok()) return Status::Corruption("audit log: " + st.message());
  ledger_ = std::move(ledger);
  escrow_ = std::move(escrow);
  nodes_ = std::move(nodes);
  reward_epoch_ = s.reward_epoch;
  genesis_done_ = s.genesis_done;
  return Status::OK();
}

// ---- JSON ---------------------------------------------------------------------------------------------

namespace {

json TxJson(const LoggedTx& t) {
  json entries = json::array();
  for (const auto& e : t.tx.entries) entries.push_back({{"account", e.account}, {"amount", e.amount}});
  return json{{"id", t.id}, {"kind", t.tx.kind}, {"ref", t.tx.ref}, {"memo", t.tx.memo},
              {"entries", entries}, {"hash", t.hash}};
}

LoggedTx TxFromJson(const json& j) {
  LoggedTx t;
  j.at("id").get_to(t.id);
  j.at("kind").get_to(t.tx.kind);
  j.at("ref").get_to(t.tx.ref);
  j.at("memo").get_to(t.tx.memo);
  for (const auto& e : j.at("entries")) t.tx.entries.push_back({e.at("account").get<std::string>(), e.at("amount").get<Micros>()});
  t.hash = j.value("hash", "");
  return t;
}

}  // namespace

void to_json(json& j, const SupplyReport& s) {
  j = json{{"minted", s.minted}, {"burned", s.burned}, {"circulating", s.circulating},
           {"sum_of_balances", s.sum_of_balances}};
}

void to_json(json& j, const NodeAccount& n) {
  j = json{{"node_id", n.info.node_id}, {"provider_wallet", n.info.provider_wallet}, {"tier", n.info.tier},
           {"speed", n.info.speed}, {"reputation", n.reputation}, {"stake", n.stake},
           {"epoch", {{"gpu_ms", n.epoch.gpu_ms}, {"up_ms", n.epoch.up_ms}, {"down_ms", n.epoch.down_ms},
                      {"jobs_ok", n.epoch.jobs_ok}, {"jobs_failed", n.epoch.jobs_failed}}},
           {"handled", n.handled}};
}

void from_json(const json& j, NodeAccount& n) {
  n = NodeAccount{};
  j.at("node_id").get_to(n.info.node_id);
  j.at("provider_wallet").get_to(n.info.provider_wallet);
  j.at("tier").get_to(n.info.tier);
  j.at("speed").get_to(n.info.speed);
  j.at("reputation").get_to(n.reputation);
  j.at("stake").get_to(n.stake);
  const json& e = j.at("epoch");
  e.at("gpu_ms").get_to(n.epoch.gpu_ms);
  e.at("up_ms").get_to(n.epoch.up_ms);
  e.at("down_ms").get_to(n.epoch.down_ms);
  e.at("jobs_ok").get_to(n.epoch.jobs_ok);
  e.at("jobs_failed").get_to(n.epoch.jobs_failed);
  j.at("handled").get_to(n.handled);
}

void to_json(json& j, const AccountingSnapshot& s) {
  json open = json::array();
  for (const auto& t : s.open_txs) open.push_back(TxJson(t));
  j = json{{"balances", s.balances}, {"credit_limits", s.credit_limits}, {"escrows", s.escrows},
           {"nodes", s.nodes}, {"last_epoch", s.last_epoch ? json(*s.last_epoch) : json(nullptr)},
           {"open_txs", open}, {"reward_epoch", s.reward_epoch}, {"genesis_done", s.genesis_done}};
}

void from_json(const json& j, AccountingSnapshot& s) {
  s = AccountingSnapshot{};
  j.at("balances").get_to(s.balances);
  j.at("credit_limits").get_to(s.credit_limits);
  j.at("escrows").get_to(s.escrows);
  j.at("nodes").get_to(s.nodes);
  if (!j.at("last_epoch").is_null()) s.last_epoch = j.at("last_epoch").get<Epoch>();
  for (const auto& t : j.at("open_txs")) s.open_txs.push_back(TxFromJson(t));
  j.at("reward_epoch").get_to(s.reward_epoch);
  j.at("genesis_done").get_to(s.genesis_done);
}

}  // namespace gm::acct
