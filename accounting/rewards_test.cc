// Tests of the reward schedule (tiers, halving, pool cap) and of the shares
// (bonuses, stake multiplier, remainders kept in the pool).
#include "accounting/rewards.h"

#include <gtest/gtest.h>

namespace gm::acct {
namespace {

constexpr Micros T = kMicrosPerToken;
constexpr int64_t kHourMs = 3'600'000;

NodeEpochStats Node(const std::string& id, int64_t gpu_ms, const std::string& tier = "datacenter") {
  NodeEpochStats s;
  s.node_id = id;
  s.provider_wallet = "provider:" + id;
  s.tier = tier;
  s.gpu_ms = gpu_ms;
  return s;
}

RewardsConfig Config() {
  RewardsConfig c;
  c.tiers = {{"consumer", T / 2, 10'000}, {"datacenter", T, 15'000}};
  c.halving_period_epochs = 10;
  return c;
}

TEST(RewardsTest, EmissionIsTheTierRateTimesGpuHours) {
  auto p = PreviewRewards(Config(), 0, {Node("a", 10 * kHourMs), Node("b", 4 * kHourMs, "consumer")}, 1'000'000 * T);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->emission, 10 * T + 4 * T / 2);
  EXPECT_EQ(p->budget, p->emission);
  EXPECT_EQ(p->paid + p->kept, p->budget);
}

TEST(RewardsTest, HalvingEveryPeriod) {
  RewardsConfig c = Config();
  std::vector<NodeEpochStats> s = {Node("a", 8 * kHourMs)};
  EXPECT_EQ(PreviewRewards(c, 9, s, 1'000'000 * T)->emission, 8 * T);
  EXPECT_EQ(PreviewRewards(c, 10, s, 1'000'000 * T)->emission, 4 * T);
  EXPECT_EQ(PreviewRewards(c, 25, s, 1'000'000 * T)->emission, 2 * T);
  EXPECT_EQ(PreviewRewards(c, 25, s, 1'000'000 * T)->halvings, 2);
  EXPECT_EQ(PreviewRewards(c, 10'000, s, 1'000'000 * T)->emission, 0);
}

TEST(RewardsTest, CappedAtThePool) {
  auto p = PreviewRewards(Config(), 0, {Node("a", 8 * kHourMs)}, 3 * T);
  EXPECT_EQ(p->emission, 8 * T);
  EXPECT_EQ(p->budget, 3 * T);
  EXPECT_EQ(p->lines[0].amount, 3 * T);
}

TEST(RewardsTest, SharesInProportionToGpuHours) {
  auto p = PreviewRewards(Config(), 0, {Node("a", kHourMs), Node("b", 3 * kHourMs)}, 1'000'000 * T);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->lines[0].amount, p->budget / 4);
  EXPECT_EQ(p->lines[1].amount, p->budget * 3 / 4);
}

TEST(RewardsTest, TierWeightsShiftTheShares) {
  // Same hours; datacenter weighs 1.5×, consumer 1×. Budget 1.5 T.
  auto p = PreviewRewards(Config(), 0, {Node("a", kHourMs), Node("b", kHourMs, "consumer")}, 1'000'000 * T);
  Micros budget = T + T / 2;
  EXPECT_EQ(p->budget, budget);
  EXPECT_EQ(p->lines[0].amount, budget * 15'000 / 25'000);
  EXPECT_EQ(p->lines[1].amount, budget * 10'000 / 25'000);
}

TEST(RewardsTest, RemaindersStayInThePool) {
  // Three equal nodes, a budget that three does not divide.
  auto p = PreviewRewards(Config(), 0, {Node("a", 1000), Node("b", 1000), Node("c", 1000)}, 1'000'000 * T);
  Micros budget = 3000 * T / kHourMs;  // floor(1 T × 3000 ms / 1 h) = 833
  ASSERT_EQ(p->budget, budget);
  for (const auto& l : p->lines) EXPECT_EQ(l.amount, budget / 3);
  EXPECT_EQ(p->kept, budget - 3 * (budget / 3));
  EXPECT_GT(p->kept, 0);
  Transaction tx = RewardsTx(*p);
  EXPECT_EQ(tx.Sum(), 0);
  EXPECT_EQ(tx.entries[0].account, "rewards_pool");
  EXPECT_EQ(tx.entries[0].amount, -3 * (budget / 3));
}

TEST(RewardsTest, UptimeBonusFromNinetyNinePercent) {
  RewardsConfig c = Config();
  auto a = Node("a", kHourMs), b = Node("b", kHourMs);
  a.up_ms = 9900;
  a.down_ms = 100;  // exactly 99 %
  b.up_ms = 9899;
  b.down_ms = 101;
  auto p = PreviewRewards(c, 0, {a, b}, 1'000'000 * T);
  EXPECT_TRUE(p->lines[0].uptime_bonus);
  EXPECT_FALSE(p->lines[1].uptime_bonus);
  EXPECT_EQ(p->lines[0].uptime_bp, 9900);
  EXPECT_EQ(p->lines[0].factor_bp, 15'000 * 12'000 / 10'000);
  EXPECT_EQ(p->lines[1].factor_bp, 15'000);
  Micros budget = p->budget;
  EXPECT_EQ(p->lines[0].amount, budget * 18'000 / 33'000);
  EXPECT_EQ(p->lines[1].amount, budget * 15'000 / 33'000);
}

TEST(RewardsTest, SuccessBonusFromNinetyNinePointNinePercent) {
  auto a = Node("a", kHourMs), b = Node("b", kHourMs), none = Node("c", kHourMs);
  a.jobs_ok = 999;
  a.jobs_failed = 1;
  b.jobs_ok = 998;
  b.jobs_failed = 2;
  auto p = PreviewRewards(Config(), 0, {a, b, none}, 1'000'000 * T);
  EXPECT_TRUE(p->lines[0].success_bonus);
  EXPECT_EQ(p->lines[0].success_ppm, 999'000);
  EXPECT_FALSE(p->lines[1].success_bonus);
  EXPECT_FALSE(p->lines[2].success_bonus);  // no outcomes: no bonus
  EXPECT_EQ(p->lines[2].success_ppm, -1);
  EXPECT_EQ(p->lines[0].factor_bp, 15'000 * 11'000 / 10'000);
}

TEST(RewardsTest, SpeedBonusForTheTopTenPercent) {
  std::vector<NodeEpochStats> ten;
  for (int i = 1; i <= 10; ++i) {
    ten.push_back(Node("n" + std::to_string(i), kHourMs));
    ten.back().speed = i * 100;
  }
  auto p = PreviewRewards(Config(), 0, ten, 1'000'000 * T);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(p->lines[i].speed_bonus, i == 9) << i;  // k = ceil(1) = 1
  auto eleven = ten;
  eleven.push_back(Node("n11", kHourMs));
  eleven.back().speed = 50;
  p = PreviewRewards(Config(), 0, eleven, 1'000'000 * T);
  for (int i = 0; i < 11; ++i) EXPECT_EQ(p->lines[i].speed_bonus, i == 8 || i == 9) << i;  // k = ceil(1.1) = 2
  ten[8].speed = 1000;  // a tie with the fastest
  p = PreviewRewards(Config(), 0, ten, 1'000'000 * T);
  EXPECT_TRUE(p->lines[8].speed_bonus);
  EXPECT_TRUE(p->lines[9].speed_bonus);
  EXPECT_EQ(p->lines[9].factor_bp, 15'000 * 11'500 / 10'000);
}

TEST(RewardsTest, StakeMultiplierFromOneToTwo) {
  RewardsConfig c = Config();
  auto a = Node("a", kHourMs), b = Node("b", kHourMs), d = Node("d", kHourMs);
  b.stake = c.stake_cap / 2;
  d.stake = c.stake_cap * 3;
  auto p = PreviewRewards(c, 0, {a, b, d}, 1'000'000 * T);
  EXPECT_EQ(p->lines[0].stake_multiplier_bp, 10'000);
  EXPECT_EQ(p->lines[1].stake_multiplier_bp, 15'000);
  EXPECT_EQ(p->lines[2].stake_multiplier_bp, 20'000);
  // Factors 1.5 × (1, 1.5, 2): shares 15,000 : 22,500 : 30,000 of 67,500.
  EXPECT_EQ(p->lines[0].amount, p->budget * 15'000 / 67'500);
  EXPECT_EQ(p->lines[2].amount, p->budget * 30'000 / 67'500);
}

TEST(RewardsTest, AllBonusesAndTheMultiplierCompose) {
  RewardsConfig c = Config();
  auto a = Node("a", kHourMs);
  a.up_ms = 1;
  a.jobs_ok = 1;
  a.speed = 7;
  a.stake = c.stake_cap;
  auto p = PreviewRewards(c, 0, {a}, 1'000'000 * T);
  // 1.5 × 1.2 × 1.15 × 1.1 × 2, rounded to a basis point once per factor.
  int64_t f = 15'000;
  f = f * 12'000 / 10'000;
  f = f * 11'500 / 10'000;
  f = f * 11'000 / 10'000;
  f = f * 20'000 / 10'000;
  EXPECT_EQ(p->lines[0].factor_bp, f);
  EXPECT_EQ(f, 45'540);
  EXPECT_TRUE(p->lines[0].uptime_bonus && p->lines[0].speed_bonus && p->lines[0].success_bonus);
  EXPECT_EQ(p->lines[0].amount, p->budget);  // alone: all of it
}

TEST(RewardsTest, IneligibleNodesEarnNothingAndEmitNothing) {
  auto a = Node("a", kHourMs), banned = Node("b", 5 * kHourMs), idle = Node("c", 0);
  banned.eligible = false;
  auto p = PreviewRewards(Config(), 0, {a, banned, idle}, 1'000'000 * T);
  EXPECT_EQ(p->emission, T);
  EXPECT_EQ(p->lines[0].amount, T);
  EXPECT_EQ(p->lines[1].amount, 0);
  EXPECT_EQ(p->lines[1].note, "not eligible (banned or draining)");
  EXPECT_EQ(p->lines[2].note, "served nothing");
}

TEST(RewardsTest, RefusesBadStatistics) {
  auto code = [](std::vector<NodeEpochStats> s) { return PreviewRewards(Config(), 0, s, T).status().code(); };
  EXPECT_EQ(code({Node("a", 1, "quantum")}), Status::Code::kInvalidArgument);
  EXPECT_EQ(code({Node("a", 1), Node("a", 2)}), Status::Code::kInvalidArgument);
  EXPECT_EQ(code({Node("a", -1)}), Status::Code::kInvalidArgument);
  auto w = Node("a", 1);
  w.provider_wallet = "user:a";
  EXPECT_EQ(code({w}), Status::Code::kInvalidArgument);
  EXPECT_EQ(PreviewRewards(Config(), -1, {}, T).status().code(), Status::Code::kInvalidArgument);
}

TEST(RewardsTest, TransactionPaysEachWalletOnceAndBalances) {
  auto a = Node("a", kHourMs), b = Node("b", kHourMs);
  b.provider_wallet = a.provider_wallet;  // two nodes of one provider
  auto p = PreviewRewards(Config(), 3, {a, b}, 1'000'000 * T);
  Transaction tx = RewardsTx(*p);
  EXPECT_EQ(tx.ref, "reward:3");
  ASSERT_EQ(tx.entries.size(), 2u);
  EXPECT_EQ(tx.entries[1].amount, p->lines[0].amount + p->lines[1].amount);
  Ledger l;
  ASSERT_TRUE(l.Apply(MintTx("rewards_pool", 1'000'000 * T, "g")).ok());
  ASSERT_TRUE(l.Apply(tx).ok());
  EXPECT_EQ(l.Balance("provider:a"), p->paid);
  nlohmann::json j = *p;
  EXPECT_EQ(j["lines"][0]["tier"], "datacenter");
  EXPECT_EQ(j["paid"], p->paid);
}

TEST(RewardsTest, PreviewPrintsEveryReason) {
  auto a = Node("a", 3 * kHourMs / 2), b = Node("b", 0, "consumer");
  a.up_ms = 995;
  a.down_ms = 5;
  a.jobs_ok = 10;
  auto p = PreviewRewards(Config(), 0, {a, b}, 1'000'000 * T);
  std::string text = FormatRewardPreview(*p);
  EXPECT_NE(text.find("emission 1.500000"), std::string::npos) << text;
  EXPECT_NE(text.find("1.500"), std::string::npos) << text;        // GPU-hours
  EXPECT_NE(text.find("yes (99.50 %)"), std::string::npos) << text;  // uptime bonus and why
  EXPECT_NE(text.find("yes (100.00 %)"), std::string::npos) << text; // success bonus
  EXPECT_NE(text.find("no (no heartbeats)"), std::string::npos) << text;
  EXPECT_NE(text.find("no (unknown)"), std::string::npos) << text;  // speed never measured
  EXPECT_NE(text.find("served nothing"), std::string::npos) << text;
  EXPECT_NE(text.find("1.500000"), std::string::npos) << text;      // a's amount: all of it
}

}  // namespace
}  // namespace gm::acct
