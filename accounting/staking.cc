// Stake, unbonding, withdrawal, early unstake burns and slashes.
#include "accounting/staking.h"

#include <algorithm>

#include "accounting/arith.h"

namespace gm::acct {

using nlohmann::json;

namespace {

std::string NextRef(StakeState& s, const char* what) {
  return std::string(what) + ":" + s.node_id + ":" + std::to_string(++s.ops);
}

Status ValidateState(const StakeState& s) {
  if (s.node_id.empty()) return Status::InvalidArgument("stake operation without a node");
  if (TypeOf(s.owner_wallet) != AccountType::kProvider)
    return Status::InvalidArgument("node " + s.node_id + " has no provider wallet ('" + s.owner_wallet + "')");
  return Status::OK();
}

Micros UnbondingTotal(const StakeState& s) {
  Micros t = 0;
  for (const auto& u : s.unbonding) t += u.amount;
  return t;
}

// Applies `tx` after the bookkeeping decided it; a refusal here means the
// book and the ledger disagree, except for funds the caller must provide.
Status ApplyOrExplain(Ledger& ledger, const Transaction& tx) {
  if (tx.entries.empty()) return Status::OK();
  return ledger.Apply(tx);
}

}  // namespace

Micros BondedStake(const Ledger& ledger, const std::string& node_id) {
  return ledger.Balance(StakeAccount(node_id));
}

Micros SlashableStake(const Ledger& ledger, const StakeState& s) {
  return BondedStake(ledger, s.node_id) + UnbondingTotal(s);
}

Result<Transaction> StakeTokens(Ledger& ledger, StakeState& s, Micros amount) {
  GM_RETURN_IF_ERROR(ValidateState(s));
  if (amount <= 0) return Status::InvalidArgument("stake for node " + s.node_id + " must be positive");
  StakeState next = s;
  Transaction tx{"stake", NextRef(next, "stake"), "stake bonded to node " + s.node_id,
                 {{s.owner_wallet, -amount}, {StakeAccount(s.node_id), amount}}};
  GM_RETURN_IF_ERROR(ledger.Apply(tx));
  s = std::move(next);
  return tx;
}

Result<Transaction> UnstakeTokens(Ledger& ledger, StakeState& s, Micros amount, int64_t now_ms,
                                  int running_jobs, bool early, const StakingConfig& c) {
  GM_RETURN_IF_ERROR(ValidateState(s));
  if (amount <= 0) return Status::InvalidArgument("unstake from node " + s.node_id + " must be positive");
  if (running_jobs > 0)
    return Status::FailedPrecondition("node " + s.node_id + " has " + std::to_string(running_jobs) +
                                      " running job(s); its stake cannot leave until they end");
  Micros bonded = BondedStake(ledger, s.node_id);
  if (amount > bonded)
    return Status::ResourceExhausted("node " + s.node_id + " has " + std::to_string(bonded) +
                                     " bonded, less than the " + std::to_string(amount) + " asked for");
  StakeState next = s;
  Transaction tx;
  if (early) {
    Micros burn = ApplyBp(amount, c.early_unstake_burn_bp);
    tx = Transaction{"unstake", NextRef(next, "unstake"),
                     "early unstake from node " + s.node_id + " (" + std::to_string(burn) + " burned)",
                     {{StakeAccount(s.node_id), -amount}}};
    if (amount - burn > 0) tx.entries.push_back({s.owner_wallet, amount - burn});
    if (burn > 0) tx.entries.push_back({kBurnAccount, burn});
  } else {
    tx = Transaction{"unstake", NextRef(next, "unstake"), "unbonding of node " + s.node_id + "'s stake",
                     {{StakeAccount(s.node_id), -amount}, {UnbondingAccount(s.node_id), amount}}};
    next.unbonding.push_back({amount, now_ms + c.unbonding_period_ms});
  }
  GM_RETURN_IF_ERROR(ApplyOrExplain(ledger, tx));
  s = std::move(next);
  return tx;
}

Result<Transaction> WithdrawUnbonded(Ledger& ledger, StakeState& s, int64_t now_ms) {
  GM_RETURN_IF_ERROR(ValidateState(s));
  Micros matured = 0;
  std::vector<Unbonding> waiting;
  for (const auto& u : s.unbonding) {
    if (u.release_at_ms <= now_ms) matured += u.amount;
    else waiting.push_back(u);
  }
  if (matured == 0) {
    if (waiting.empty()) return Status::FailedPrecondition("node " + s.node_id + " has nothing unbonding");
    int64_t first = waiting.front().release_at_ms;
    for (const auto& u : waiting) first = std::min(first, u.release_at_ms);
    return Status::FailedPrecondition("node " + s.node_id + "'s unbonding stake is withdrawable from " +
                                      std::to_string(first) + " ms, not yet at " + std::to_string(now_ms));
  }
  StakeState next = s;
  next.unbonding = std::move(waiting);
  Transaction tx{"withdraw", NextRef(next, "withdraw"), "withdrawal of node " + s.node_id + "'s unbonded stake",
                 {{UnbondingAccount(s.node_id), -matured}, {s.owner_wallet, matured}}};
  GM_RETURN_IF_ERROR(ApplyOrExplain(ledger, tx));
  s = std::move(next);
  return tx;
}

Result<Transaction> SlashStake(Ledger& ledger, StakeState& s, int bp, const std::string& why,
                               const StakingConfig& c) {
  if (s.node_id.empty()) return Status::InvalidArgument("slash without a node");
  if (bp < 0 || bp > 10'000) return Status::InvalidArgument("slash of " + std::to_string(bp) + " bp is out of range");
  Micros amount = ApplyBp(SlashableStake(ledger, s), bp);
  StakeState next = s;
  Transaction tx{"slash", NextRef(next, "slash"), "slash of node " + s.node_id + ": " + why, {}};
  if (amount > 0) {
    Micros from_bonded = std::min(amount, BondedStake(ledger, s.node_id));
    Micros from_unbonding = amount - from_bonded;
    if (from_bonded > 0) tx.entries.push_back({StakeAccount(s.node_id), -from_bonded});
    if (from_unbonding > 0) {
      tx.entries.push_back({UnbondingAccount(s.node_id), -from_unbonding});
      Micros left = from_unbonding;
      for (auto it = next.unbonding.rbegin(); it != next.unbonding.rend() && left > 0; ++it) {
        Micros take = std::min(left, it->amount);
        it->amount -= take;
        left -= take;
      }
      std::erase_if(next.unbonding, [](const Unbonding& u) { return u.amount == 0; });
    }
    tx.entries.push_back(
        {c.slash_to == SlashDestination::kBurn ? kBurnAccount : kTreasuryAccount, amount});
  }
  GM_RETURN_IF_ERROR(ApplyOrExplain(ledger, tx));
  s = std::move(next);
  return tx;
}

void to_json(json& j, const StakeState& s) {
  json u = json::array();
  for (const auto& x : s.unbonding) u.push_back({{"amount", x.amount}, {"release_at_ms", x.release_at_ms}});
  j = json{{"node_id", s.node_id}, {"owner_wallet", s.owner_wallet}, {"unbonding", u}, {"ops", s.ops}};
}

void from_json(const json& j, StakeState& s) {
  s = StakeState{};
  j.at("node_id").get_to(s.node_id);
  j.at("owner_wallet").get_to(s.owner_wallet);
  j.at("ops").get_to(s.ops);
  for (const auto& x : j.at("unbonding"))
    s.unbonding.push_back({x.at("amount").get<Micros>(), x.at("release_at_ms").get<int64_t>()});
}

}  // namespace gm::acct
