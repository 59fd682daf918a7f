// Tests of staking: bonding, unbonding periods, withdrawal, the early-unstake
// burn, running jobs holding stake in place, and slashing.
#include "accounting/staking.h"

#include <gtest/gtest.h>

namespace gm::acct {
namespace {

constexpr Micros T = kMicrosPerToken;

class StakingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ledger_.Apply(MintTx("provider:p", 10'000 * T, "m")).ok());
    s_.node_id = "n1";
    s_.owner_wallet = "provider:p";
  }
  Ledger ledger_;
  StakeState s_;
  StakingConfig c_;
};

TEST_F(StakingTest, StakeBondsFromTheOwnersWallet) {
  auto tx = StakeTokens(ledger_, s_, 1000 * T);
  ASSERT_TRUE(tx.ok()) << tx.status().ToString();
  EXPECT_EQ(tx->kind, "stake");
  EXPECT_EQ(tx->ref, "stake:n1:1");
  EXPECT_EQ(BondedStake(ledger_, "n1"), 1000 * T);
  EXPECT_EQ(ledger_.Balance("provider:p"), 9000 * T);
  EXPECT_EQ(StakeTokens(ledger_, s_, 9001 * T).status().code(), Status::Code::kResourceExhausted);
  EXPECT_EQ(StakeTokens(ledger_, s_, 0).status().code(), Status::Code::kInvalidArgument);
  StakeState nowallet{"n2", "", {}, 0};
  EXPECT_EQ(StakeTokens(ledger_, nowallet, T).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(StakingTest, UnstakeWaitsTheUnbondingPeriodThenWithdraws) {
  ASSERT_TRUE(StakeTokens(ledger_, s_, 1000 * T).ok());
  const int64_t now = 1'000'000;
  auto tx = UnstakeTokens(ledger_, s_, 400 * T, now, 0, false, c_);
  ASSERT_TRUE(tx.ok()) << tx.status().ToString();
  EXPECT_EQ(BondedStake(ledger_, "n1"), 600 * T);
  EXPECT_EQ(ledger_.Balance(UnbondingAccount("n1")), 400 * T);
  ASSERT_EQ(s_.unbonding.size(), 1u);
  EXPECT_EQ(s_.unbonding[0].release_at_ms, now + c_.unbonding_period_ms);
  EXPECT_EQ(c_.unbonding_period_ms, 7LL * 24 * 3600 * 1000);
  auto early = WithdrawUnbonded(ledger_, s_, now + c_.unbonding_period_ms - 1);
  EXPECT_EQ(early.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(early.status().message().find(std::to_string(now + c_.unbonding_period_ms)), std::string::npos);
  auto w = WithdrawUnbonded(ledger_, s_, now + c_.unbonding_period_ms);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(ledger_.Balance("provider:p"), 9400 * T);
  EXPECT_EQ(ledger_.Balance(UnbondingAccount("n1")), 0);
  EXPECT_TRUE(s_.unbonding.empty());
  EXPECT_EQ(WithdrawUnbonded(ledger_, s_, now * 10).status().code(), Status::Code::kFailedPrecondition);
}

TEST_F(StakingTest, WithdrawTakesOnlyMaturedEntries) {
  ASSERT_TRUE(StakeTokens(ledger_, s_, 1000 * T).ok());
  c_.unbonding_period_ms = 100;
  ASSERT_TRUE(UnstakeTokens(ledger_, s_, 10 * T, 0, 0, false, c_).ok());
  ASSERT_TRUE(UnstakeTokens(ledger_, s_, 20 * T, 50, 0, false, c_).ok());
  ASSERT_TRUE(WithdrawUnbonded(ledger_, s_, 120).ok());
  EXPECT_EQ(ledger_.Balance(UnbondingAccount("n1")), 20 * T);
  ASSERT_EQ(s_.unbonding.size(), 1u);
  EXPECT_EQ(s_.unbonding[0].release_at_ms, 150);
}

TEST_F(StakingTest, EarlyUnstakeBurnsFivePercent) {
  ASSERT_TRUE(StakeTokens(ledger_, s_, 1000 * T).ok());
  Micros amount = 333 * T + 7;
  auto tx = UnstakeTokens(ledger_, s_, amount, 0, 0, /*early=*/true, c_);
  ASSERT_TRUE(tx.ok());
  Micros burned = amount * 5 / 100;  // floor
  EXPECT_EQ(ledger_.Balance("burn"), burned);
  EXPECT_EQ(ledger_.Balance("provider:p"), 9000 * T + amount - burned);
  EXPECT_EQ(BondedStake(ledger_, "n1"), 1000 * T - amount);
  EXPECT_TRUE(s_.unbonding.empty());
  EXPECT_TRUE(ledger_.CheckInvariants().ok());
}

TEST_F(StakingTest, StakeOfANodeWithRunningJobsCannotLeave) {
  ASSERT_TRUE(StakeTokens(ledger_, s_, 1000 * T).ok());
  auto before = ledger_.balances();
  for (bool early : {false, true}) {
    auto tx = UnstakeTokens(ledger_, s_, T, 0, /*running_jobs=*/2, early, c_);
    EXPECT_EQ(tx.status().code(), Status::Code::kFailedPrecondition);
    EXPECT_NE(tx.status().message().find("running"), std::string::npos);
  }
  EXPECT_EQ(ledger_.balances(), before);
  EXPECT_EQ(UnstakeTokens(ledger_, s_, 1001 * T, 0, 0, false, c_).status().code(), Status::Code::kResourceExhausted);
}

TEST_F(StakingTest, SlashTakesItsShareToBurnOrTreasury) {
  ASSERT_TRUE(StakeTokens(ledger_, s_, 1000 * T).ok());
  auto tx = SlashStake(ledger_, s_, 500, "timeout", c_);
  ASSERT_TRUE(tx.ok());
  EXPECT_EQ(tx->kind, "slash");
  EXPECT_EQ(ledger_.Balance("burn"), 50 * T);
  EXPECT_EQ(BondedStake(ledger_, "n1"), 950 * T);
  c_.slash_to = SlashDestination::kTreasury;
  ASSERT_TRUE(SlashStake(ledger_, s_, 5000, "forgery", c_).ok());
  EXPECT_EQ(ledger_.Balance("treasury"), 475 * T);
  EXPECT_EQ(BondedStake(ledger_, "n1"), 475 * T);
  EXPECT_EQ(SlashStake(ledger_, s_, 10'001, "x", c_).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(StakingTest, SlashReachesUnbondingStakeNewestFirst) {
  ASSERT_TRUE(StakeTokens(ledger_, s_, 100 * T).ok());
  c_.unbonding_period_ms = 1000;
  ASSERT_TRUE(UnstakeTokens(ledger_, s_, 50 * T, 0, 0, false, c_).ok());   // older
  ASSERT_TRUE(UnstakeTokens(ledger_, s_, 30 * T, 10, 0, false, c_).ok());  // newer
  // Slashable: 20 bonded + 80 unbonding. Half is 50: 20 bonded, then 30 from the newest.
  EXPECT_EQ(SlashableStake(ledger_, s_), 100 * T);
  ASSERT_TRUE(SlashStake(ledger_, s_, 5000, "forgery", c_).ok());
  EXPECT_EQ(BondedStake(ledger_, "n1"), 0);
  EXPECT_EQ(ledger_.Balance(UnbondingAccount("n1")), 50 * T);
  ASSERT_EQ(s_.unbonding.size(), 1u);
  EXPECT_EQ(s_.unbonding[0].amount, 50 * T);
  EXPECT_EQ(s_.unbonding[0].release_at_ms, 1000);
  EXPECT_EQ(ledger_.Balance("burn"), 50 * T);
}

TEST_F(StakingTest, SlashWithoutStakeMovesNothing) {
  auto tx = SlashStake(ledger_, s_, 500, "timeout", c_);
  ASSERT_TRUE(tx.ok());
  EXPECT_TRUE(tx->entries.empty());
}

TEST_F(StakingTest, StateRoundTripsThroughJson) {
  ASSERT_TRUE(StakeTokens(ledger_, s_, 100 * T).ok());
  ASSERT_TRUE(UnstakeTokens(ledger_, s_, 5 * T, 7, 0, false, c_).ok());
  nlohmann::json j = s_;
  StakeState back = j.get<StakeState>();
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(back.ops, 2);
  // Refs stay unique after a restore.
  auto tx = StakeTokens(ledger_, back, T);
  EXPECT_EQ(tx->ref, "stake:n1:3");
}

}  // namespace
}  // namespace gm::acct
