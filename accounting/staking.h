// Staking: a node's owner bonds tokens to the node ("stake:NODE"); unstaking
// moves them to "unbonding:NODE" for an unbonding period, after which they can
// be withdrawn to the owner's wallet. An early unstake skips the unbonding
// period and burns a share (default 5 %). Stake of a node with running jobs
// cannot leave. Slashing takes a share of the node's stake, bonded first and
// then unbonding (newest first), so that unstaking cannot escape a slash; the
// slashed tokens go to "burn" (default) or to the treasury.
//
// Time is an argument (milliseconds since the epoch, as the caller's clock
// says); nothing here reads a clock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "accounting/ledger.h"

namespace gm::acct {

enum class SlashDestination { kBurn, kTreasury };

struct StakingConfig {
  int64_t unbonding_period_ms = 7LL * 24 * 3600 * 1000;  // a week
  int early_unstake_burn_bp = 500;                       // 5 % burned on an early unstake
  SlashDestination slash_to = SlashDestination::kBurn;   // where slashed stake goes
};

struct Unbonding {
  Micros amount = 0;
  int64_t release_at_ms = 0;  // withdrawable from then on
};

// One node's stake bookkeeping beside the ledger (persist it as JSON).
struct StakeState {
  std::string node_id;
  std::string owner_wallet;          // "provider:NAME": where stake comes from and goes back to
  std::vector<Unbonding> unbonding;  // oldest first; Σ amount == balance(unbonding:NODE)
  int64_t ops = 0;                   // counter that makes transaction refs unique
};
void to_json(nlohmann::json& j, const StakeState& s);
void from_json(const nlohmann::json& j, StakeState& s);

// Bonded stake of the node: balance(stake:NODE).
Micros BondedStake(const Ledger& ledger, const std::string& node_id);
// Bonded plus unbonding: what a slash takes its share of.
Micros SlashableStake(const Ledger& ledger, const StakeState& s);

// Owner wallet → stake:NODE (kind "stake", ref "stake:NODE:N"); applied to
// `ledger`. InvalidArgument for a non-positive amount or no owner wallet;
// ResourceExhausted when the wallet cannot cover it.
Result<Transaction> StakeTokens(Ledger& ledger, StakeState& s, Micros amount);

// stake:NODE → unbonding:NODE, withdrawable at now + unbonding period (kind
// "unstake"). With `early`, the tokens skip the unbonding period: the burn
// share goes to "burn" and the rest straight to the owner's wallet.
// FailedPrecondition if the node has running jobs (its stake cannot leave);
// InvalidArgument for a non-positive amount; ResourceExhausted when more than
// the bonded stake is asked for.
Result<Transaction> UnstakeTokens(Ledger& ledger, StakeState& s, Micros amount, int64_t now_ms,
                                  int running_jobs, bool early, const StakingConfig& config);

// Matured unbonding entries → owner wallet (kind "withdraw"). FailedPrecondition
// naming the earliest release time when nothing has matured yet.
Result<Transaction> WithdrawUnbonded(Ledger& ledger, StakeState& s, int64_t now_ms);

// Takes floor(slashable × bp ÷ 10,000) from the node's stake (bonded first,
// then the newest unbonding entries) to burn or the treasury (kind "slash",
// ref "slash:NODE:N"). The transaction has no entries when the node has no
// stake. InvalidArgument for bp outside 0..10,000.
Result<Transaction> SlashStake(Ledger& ledger, StakeState& s, int bp, const std::string& why,
                               const StakingConfig& config);

}  // namespace gm::acct
