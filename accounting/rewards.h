// Provider rewards: what the rewards pool emits each reward epoch, and who
// gets it. Pure: statistics in, a preview (with every reason) and a
// transaction out.
//
// Schedule. Each eligible node's GPU-ms served in the epoch earn its tier's
// base rate per GPU-hour; the epoch's emission is
//     emission = floor( Σ rate(tier) × gpu_ms ÷ 3,600,000 ÷ 2^halvings ),
//     halvings = epoch ÷ halving_period_epochs   (epochs count from 0)
// capped at the pool's balance (the budget). The pool was filled at genesis;
// rewards never mint.
//
// Shares. The budget is shared in proportion to
//     score = gpu_ms × tier weight × Π(1 + bonus) × stake multiplier
// with every factor in basis points (the factor product is rounded down once,
// to a basis point). Bonuses:
//   uptime  ≥ 99 % (heartbeats of the epoch)                       +20 %
//   speed   in the top 10 % of the epoch's serving nodes            +15 %
//           (k = ceil(n × 10 %), at least 1; every node at least as fast
//           as the k-th fastest gets it, ties included; speed 0 = unknown)
//   success ≥ 99.9 % of the epoch's job outcomes (needs ≥ 1 outcome) +10 %
// Stake multiplier: 1× + (max − 1×) × min(stake, cap) ÷ cap, i.e. linear
// from 1× with no stake to 2× at the cap.
// amount = floor(budget × score ÷ Σ score); what the floors leave stays in
// the pool. Banned and draining nodes earn nothing and add no emission.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "accounting/ledger.h"

namespace gm::acct {

struct GpuTier {
  std::string name;
  Micros base_rate_per_gpu_hour = 0;  // emitted per GPU-hour served, before halvings
  int weight_bp = 10'000;             // share weight (10,000 = 1×)
};

struct RewardsConfig {
  std::vector<GpuTier> tiers = {
      {"consumer", kMicrosPerToken / 2, 10'000},
      {"datacenter", kMicrosPerToken, 15'000},
      {"flagship", 2 * kMicrosPerToken, 20'000},
  };
  int64_t halving_period_epochs = 365;   // with daily epochs: halving every year
  int uptime_bonus_bp = 2000;
  int uptime_min_bp = 9900;              // uptime ≥ 99 %
  int speed_bonus_bp = 1500;
  int speed_top_bp = 1000;               // top 10 %
  int success_bonus_bp = 1000;
  int success_min_ppm = 999'000;         // success ≥ 99.9 %
  Micros stake_cap = 10'000 * kMicrosPerToken;  // the multiplier reaches its maximum here
  int max_stake_multiplier_bp = 20'000;         // 2×
};

// What one node did in the epoch; gathered by the caller (the Accounting
// facade keeps these counters).
struct NodeEpochStats {
  std::string node_id;
  std::string provider_wallet;  // "provider:NAME": where the reward goes
  std::string tier;             // a RewardsConfig tier name
  int64_t gpu_ms = 0;           // GPU-ms served and charged this epoch
  int64_t up_ms = 0;            // heartbeat uptime this epoch
  int64_t down_ms = 0;
  int64_t jobs_ok = 0;          // job outcomes this epoch
  int64_t jobs_failed = 0;
  int64_t speed = 0;            // measured speed (any unit, same for all nodes); 0: unknown
  Micros stake = 0;             // bonded stake
  bool eligible = true;         // false for banned or draining nodes
};

// One node's line of a preview: every figure that made its amount.
struct RewardLine {
  std::string node_id;
  std::string provider_wallet;
  std::string tier;
  int64_t gpu_ms = 0;
  Micros tier_base_rate = 0;
  int tier_weight_bp = 0;
  int64_t uptime_bp = 0;         // −1 when no heartbeat time was observed
  bool uptime_bonus = false;
  int64_t speed = 0;
  bool speed_bonus = false;
  int64_t success_ppm = 0;       // −1 when no job outcome was observed
  bool success_bonus = false;
  int stake_multiplier_bp = 10'000;
  int64_t factor_bp = 0;         // tier weight × bonuses × multiplier, in basis points
  Micros amount = 0;
  std::string note;              // why nothing: "not eligible (banned or draining)", "served nothing"
};

struct RewardPreview {
  int64_t epoch = 0;
  int halvings = 0;
  Micros emission = 0;      // what the schedule emits for this epoch's service
  Micros pool_balance = 0;
  Micros budget = 0;        // min(emission, pool balance)
  Micros paid = 0;          // Σ amounts
  Micros kept = 0;          // budget − paid: stays in the pool
  std::vector<RewardLine> lines;  // one per input node, in input order
};
void to_json(nlohmann::json& j, const RewardPreview& p);

// What `epoch` would pay. InvalidArgument for a negative epoch, an unknown
// tier, a repeated node, negative figures or a bad provider wallet.
Result<RewardPreview> PreviewRewards(const RewardsConfig& config, int64_t epoch,
                                     const std::vector<NodeEpochStats>& stats, Micros pool_balance);

// The preview as a table for `gm rewards preview`: one line per node with its
// GPU-hours, tier and weight, each bonus (with the figure that earned it or
// not), the stake multiplier and the amount in tokens; then the totals.
std::string FormatRewardPreview(const RewardPreview& preview);

// rewards_pool → each provider wallet (kind "reward", ref "reward:EPOCH");
// amounts to the same wallet are summed; no entries when nothing is paid.
Transaction RewardsTx(const RewardPreview& preview);

}  // namespace gm::acct
