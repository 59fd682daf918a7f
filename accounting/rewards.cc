// Reward emission schedule and proportional shares with bonuses.
#include "accounting/rewards.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "accounting/arith.h"

namespace gm::acct {

using nlohmann::json;

namespace {

Status Validate(const RewardsConfig& c, int64_t epoch, const std::vector<NodeEpochStats>& stats) {
  if (epoch < 0) return Status::InvalidArgument("reward epoch must be ≥ 0");
  if (c.halving_period_epochs <= 0) return Status::InvalidArgument("halving period must be positive");
  if (c.stake_cap <= 0) return Status::InvalidArgument("stake cap must be positive");
  std::set<std::string> seen;
  for (const auto& s : stats) {
    if (s.node_id.empty() || !seen.insert(s.node_id).second)
      return Status::InvalidArgument("reward statistics name node '" + s.node_id + "' twice or empty");
    if (s.gpu_ms < 0 || s.up_ms < 0 || s.down_ms < 0 || s.jobs_ok < 0 || s.jobs_failed < 0 ||
        s.speed < 0 || s.stake < 0)
      return Status::InvalidArgument("reward statistics of node " + s.node_id + " are negative");
    // A bound far beyond any epoch (30,000 GPU-years) keeps the 128-bit products exact.
    if (s.gpu_ms > 1'000'000'000'000'000LL)
      return Status::InvalidArgument("node " + s.node_id + " claims an impossible " +
                                     std::to_string(s.gpu_ms) + " GPU-ms in one epoch");
    if (TypeOf(s.provider_wallet) != AccountType::kProvider)
      return Status::InvalidArgument("node " + s.node_id + " has no provider wallet ('" +
                                     s.provider_wallet + "')");
    bool known = std::any_of(c.tiers.begin(), c.tiers.end(), [&](const GpuTier& t) { return t.name == s.tier; });
    if (!known) return Status::InvalidArgument("node " + s.node_id + " has an unknown GPU tier '" + s.tier + "'");
  }
  return Status::OK();
}

bool Serving(const NodeEpochStats& s) { return s.eligible && s.gpu_ms > 0; }

// The speed a node must reach for the top-k bonus; 0 when nobody qualifies.
int64_t SpeedThreshold(const RewardsConfig& c, const std::vector<NodeEpochStats>& stats) {
  std::vector<int64_t> speeds;
  for (const auto& s : stats)
    if (Serving(s)) speeds.push_back(s.speed);
  if (speeds.empty()) return 0;
  std::sort(speeds.rbegin(), speeds.rend());
  int64_t n = static_cast<int64_t>(speeds.size());
  int64_t k = std::max<int64_t>(1, (n * c.speed_top_bp + 9'999) / 10'000);
  return speeds[std::min(k, n) - 1];
}

}  // namespace

Result<RewardPreview> PreviewRewards(const RewardsConfig& c, int64_t epoch,
                                     const std::vector<NodeEpochStats>& stats, Micros pool) {
  GM_RETURN_IF_ERROR(Validate(c, epoch, stats));
  RewardPreview p;
  p.epoch = epoch;
  int64_t halvings = epoch / c.halving_period_epochs;
  p.halvings = static_cast<int>(std::min<int64_t>(halvings, 1000));
  p.pool_balance = pool;
  int64_t speed_bar = SpeedThreshold(c, stats);
  __int128 exact = 0;  // Σ rate × gpu_ms
  std::vector<__int128> scores;
  __int128 total_score = 0;
  for (const auto& s : stats) {
    const GpuTier& tier = *std::find_if(c.tiers.begin(), c.tiers.end(),
                                        [&](const GpuTier& t) { return t.name == s.tier; });
    RewardLine l;
    l.node_id = s.node_id;
    l.provider_wallet = s.provider_wallet;
    l.tier = s.tier;
    l.gpu_ms = s.gpu_ms;
    l.tier_base_rate = tier.base_rate_per_gpu_hour;
    l.tier_weight_bp = tier.weight_bp;
    l.speed = s.speed;
    int64_t observed = s.up_ms + s.down_ms;
    l.uptime_bp = observed == 0 ? -1 : MulDivFloor(s.up_ms, 10'000, observed);
    l.uptime_bonus = observed > 0 && static_cast<__int128>(s.up_ms) * 10'000 >=
                                         static_cast<__int128>(observed) * c.uptime_min_bp;
    int64_t jobs = s.jobs_ok + s.jobs_failed;
    l.success_ppm = jobs == 0 ? -1 : MulDivFloor(s.jobs_ok, 1'000'000, jobs);
    l.success_bonus = jobs > 0 && static_cast<__int128>(s.jobs_ok) * 1'000'000 >=
                                      static_cast<__int128>(jobs) * c.success_min_ppm;
    l.speed_bonus = Serving(s) && s.speed > 0 && speed_bar > 0 && s.speed >= speed_bar;
    l.stake_multiplier_bp = static_cast<int>(
        10'000 + MulDivFloor(c.max_stake_multiplier_bp - 10'000, std::min(s.stake, c.stake_cap), c.stake_cap));
    __int128 f = tier.weight_bp;
    f = f * (10'000 + (l.uptime_bonus ? c.uptime_bonus_bp : 0)) / 10'000;
    f = f * (10'000 + (l.speed_bonus ? c.speed_bonus_bp : 0)) / 10'000;
    f = f * (10'000 + (l.success_bonus ? c.success_bonus_bp : 0)) / 10'000;
    f = f * l.stake_multiplier_bp / 10'000;
    l.factor_bp = static_cast<int64_t>(f);
    __int128 score = 0;
    if (!s.eligible) {
      l.note = "not eligible (banned or draining)";
    } else if (s.gpu_ms == 0) {
      l.note = "served nothing";
    } else {
      score = static_cast<__int128>(s.gpu_ms) * l.factor_bp;
      exact += static_cast<__int128>(tier.base_rate_per_gpu_hour) * s.gpu_ms;
    }
    scores.push_back(score);
    total_score += score;
    p.lines.push_back(std::move(l));
  }
  __int128 emission = halvings >= 100 ? 0 : (exact / kMsPerHour) >> halvings;
  // A divide-then-shift equals floor(exact ÷ (3.6e6 × 2^h)) for non-negative integers.
  p.emission = static_cast<Micros>(std::min<__int128>(emission, INT64_MAX));
  p.budget = std::max<Micros>(0, std::min(p.emission, pool));
  for (size_t i = 0; i < p.lines.size(); ++i) {
    if (total_score == 0 || scores[i] == 0) continue;
    p.lines[i].amount = static_cast<Micros>(p.budget * scores[i] / total_score);
    p.paid += p.lines[i].amount;
  }
  p.kept = p.budget - p.paid;
  return p;
}

Transaction RewardsTx(const RewardPreview& p) {
  Transaction tx{"reward", "reward:" + std::to_string(p.epoch),
                 "provider rewards of epoch " + std::to_string(p.epoch), {}};
  std::map<std::string, Micros> to;
  for (const auto& l : p.lines)
    if (l.amount > 0) to[l.provider_wallet] += l.amount;
  if (p.paid > 0) {
    tx.entries.push_back({kRewardsPoolAccount, -p.paid});
    for (const auto& [wallet, amount] : to) tx.entries.push_back({wallet, amount});
  }
  return tx;
}

namespace {

std::string Tokens(Micros m) {
  std::string sign = m < 0 ? "-" : "";
  uint64_t v = m < 0 ? static_cast<uint64_t>(-(m + 1)) + 1 : static_cast<uint64_t>(m);
  std::string frac = std::to_string(1'000'000 + v % 1'000'000).substr(1);
  return sign + std::to_string(v / 1'000'000) + "." + frac;
}

std::string Fixed(int64_t value, int64_t unit, int decimals) {  // value ÷ unit with `decimals` digits
  int64_t scale = 1;
  for (int i = 0; i < decimals; ++i) scale *= 10;
  int64_t v = MulDivFloor(value, scale, unit);
  std::string frac = decimals ? "." + std::to_string(scale + v % scale).substr(1) : "";
  return std::to_string(v / scale) + frac;
}

std::string Bonus(bool on, int64_t figure, int64_t unit, const char* what) {
  if (figure < 0) return std::string("no (no ") + what + ")";
  return std::string(on ? "yes (" : "no (") + Fixed(figure, unit, 2) + " %)";
}

}  // namespace

std::string FormatRewardPreview(const RewardPreview& p) {
  char line[512];
  std::string out;
  std::snprintf(line, sizeof line, "reward epoch %lld: emission %s (halvings %d), pool %s, budget %s\n",
                static_cast<long long>(p.epoch), Tokens(p.emission).c_str(), p.halvings,
                Tokens(p.pool_balance).c_str(), Tokens(p.budget).c_str());
  out += line;
  std::snprintf(line, sizeof line, "%-14s %-18s %10s %-11s %7s %-18s %-14s %-18s %6s %16s  %s\n", "NODE", "PROVIDER",
                "GPU-HOURS", "TIER", "WEIGHT", "UPTIME", "SPEED", "SUCCESS", "STAKE", "AMOUNT", "NOTE");
  out += line;
  for (const auto& l : p.lines) {
    std::snprintf(line, sizeof line, "%-14s %-18s %10s %-11s %6sx %-18s %-14s %-18s %5sx %16s  %s\n",
                  l.node_id.c_str(), l.provider_wallet.c_str(), Fixed(l.gpu_ms, 3'600'000, 3).c_str(), l.tier.c_str(),
                  Fixed(l.tier_weight_bp, 10'000, 2).c_str(),
                  Bonus(l.uptime_bonus, l.uptime_bp, 100, "heartbeats").c_str(),
                  l.speed ? ((l.speed_bonus ? "yes (" : "no (") + std::to_string(l.speed) + ")").c_str() : "no (unknown)",
                  Bonus(l.success_bonus, l.success_ppm, 10'000, "jobs").c_str(),
                  Fixed(l.stake_multiplier_bp, 10'000, 2).c_str(), Tokens(l.amount).c_str(), l.note.c_str());
    out += line;
  }
  std::snprintf(line, sizeof line, "paid %s, kept in the pool %s\n", Tokens(p.paid).c_str(), Tokens(p.kept).c_str());
  out += line;
  return out;
}

void to_json(json& j, const RewardPreview& p) {
  json lines = json::array();
  for (const auto& l : p.lines)
    lines.push_back({{"node_id", l.node_id}, {"provider_wallet", l.provider_wallet}, {"tier", l.tier},
                     {"gpu_ms", l.gpu_ms}, {"tier_base_rate", l.tier_base_rate},
                     {"tier_weight_bp", l.tier_weight_bp}, {"uptime_bp", l.uptime_bp},
                     {"uptime_bonus", l.uptime_bonus}, {"speed", l.speed}, {"speed_bonus", l.speed_bonus},
                     {"success_ppm", l.success_ppm}, {"success_bonus", l.success_bonus},
                     {"stake_multiplier_bp", l.stake_multiplier_bp}, {"factor_bp", l.factor_bp},
                     {"amount", l.amount}, {"note", l.note}});
  j = json{{"epoch", p.epoch}, {"halvings", p.halvings}, {"emission", p.emission},
           {"pool_balance", p.pool_balance}, {"budget", p.budget}, {"paid", p.paid},
           {"kept", p.kept}, {"lines", lines}};
}

}  // namespace gm::acct
