// Tests of the ledger's invariants, holds and settlement arithmetic.
#include "accounting/ledger.h"

#include <gtest/gtest.h>

namespace gm::acct {
namespace {

constexpr Micros T = kMicrosPerToken;

TEST(LedgerTest, MintCreatesSupplyAndBalances) {
  Ledger l;
  ASSERT_TRUE(l.Apply(MintTx("user:alice", 100 * T, "m1")).ok());
  EXPECT_EQ(l.Balance("user:alice"), 100 * T);
  EXPECT_EQ(l.Balance(kMintAccount), -100 * T);
}

TEST(LedgerTest, RefusesUnbalancedTransaction) {
  Ledger l;
  Transaction tx{"x", "r", "", {{"user:a", 5}, {"user:b", -4}}};
  Status s = l.Check(tx);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("does not balance"), std::string::npos);
}

TEST(LedgerTest, RefusesOverdraftAndLeavesBalancesUnchanged) {
  Ledger l;
  ASSERT_TRUE(l.Apply(MintTx("user:a", 10, "m")).ok());
  Status s = l.Apply(HoldTx(1, 0, "user:a", 11));
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted);
  EXPECT_EQ(l.Balance("user:a"), 10);
  EXPECT_EQ(l.Balance(EscrowAccount(1)), 0);
}

TEST(LedgerTest, RefusesDuplicateAccountAndZeroEntries) {
  Ledger l;
  EXPECT_FALSE(l.Check({"x", "r", "", {{"a", 0}}}).ok());
  EXPECT_FALSE(l.Check({"x", "r", "", {{"mint", -1}, {"mint", 1}}}).ok());
}

TEST(ChargeTest, PriceTimesGpuSeconds) {
  // 3.6 tokens per GPU-hour = 1000 micro-tokens per GPU-second.
  EXPECT_EQ(ChargeFor(3'600'000, 1, 1000), 1000);
  EXPECT_EQ(ChargeFor(3'600'000, 2, 10'000), 20'000);
  // Rounded down: 1 micro-token per GPU-hour for 1 second is 1/3600 of a micro-token.
  EXPECT_EQ(ChargeFor(1, 1, 1000), 0);
  EXPECT_EQ(ChargeFor(1, 1, 3'600'000), 1);
  EXPECT_EQ(ChargeFor(5, 0, 1000), 0);
}

TEST(ChargeTest, NoOverflowOnLargeInputs) {
  // 1e6 tokens/GPU-h × 8 GPUs × 30 days would overflow 64-bit intermediate math.
  Micros price = 1'000'000 * T;
  int64_t ms = 30LL * 86400 * 1000;
  EXPECT_EQ(ChargeFor(price, 8, ms), price * 8 * 30 * 24);
}

TEST(ChargeTest, WorstCaseSumsNodes) {
  EXPECT_EQ(WorstCaseCost({{2 * T, 2}, {3 * T, 1}}, 3600), 7 * T);
}

TEST(SettleTest, SplitsChargeRefundsRestAndBalances) {
  Ledger l;
  ASSERT_TRUE(l.Apply(MintTx("user:u", 100 * T, "m")).ok());
  ASSERT_TRUE(l.Apply(HoldTx(7, 0, "user:u", 10 * T)).ok());
  // Two nodes, 1 token/GPU-h each, 2 GPUs each, half an hour: 1 token each.
  std::vector<NodeUsage> usage = {{"n1", "provider:p1", T, 2, 1'800'000, false},
                                  {"n2", "provider:p2", T, 2, 1'800'000, false}};
  Settlement s = SettleJob(7, 0, "user:u", 10 * T, usage, FeePolicy{});
  EXPECT_EQ(s.charged, 2 * T);
  EXPECT_EQ(s.fee, 2 * T * 8 / 100);
  EXPECT_EQ(s.refunded, 8 * T);
  ASSERT_TRUE(l.Apply(s.tx).ok());
  EXPECT_EQ(l.Balance("provider:p1"), T * 92 / 100);
  EXPECT_EQ(l.Balance("provider:p2"), T * 92 / 100);
  EXPECT_EQ(l.Balance("treasury"), s.fee);
  EXPECT_EQ(l.Balance("user:u"), 98 * T);
  EXPECT_EQ(l.Balance(EscrowAccount(7)), 0);
}

TEST(SettleTest, ProviderFaultIsNotCharged) {
  std::vector<NodeUsage> usage = {{"n1", "provider:p1", T, 1, 3'600'000, true}};
  Settlement s = SettleJob(1, 0, "user:u", 5 * T, usage, FeePolicy{});
  EXPECT_EQ(s.charged, 0);
  EXPECT_EQ(s.refunded, 5 * T);
}

TEST(SettleTest, ChargeCappedAtHoldAndFeeTakesRemainder) {
  std::vector<NodeUsage> usage = {{"n1", "provider:p1", 3 * T, 1, 7'200'000, false}};
  Settlement s = SettleJob(1, 0, "user:u", 5 * T + 1, usage, FeePolicy{});
  EXPECT_EQ(s.charged, 5 * T + 1);
  EXPECT_EQ(s.refunded, 0);
  Micros share = s.per_node[0].second;
  EXPECT_EQ(share + s.fee, s.charged);
  EXPECT_EQ(s.tx.Sum(), 0);
}

TEST(SettleTest, SameProviderTwoNodesGetsOneEntry) {
  std::vector<NodeUsage> usage = {{"n1", "provider:p", T, 1, 3'600'000, false},
                                  {"n2", "provider:p", T, 1, 3'600'000, false}};
  Settlement s = SettleJob(1, 0, "user:u", 2 * T, usage, FeePolicy{});
  Ledger l;
  l.SetBalance(EscrowAccount(1), 2 * T);
  EXPECT_TRUE(l.Apply(s.tx).ok());
  EXPECT_EQ(l.Balance("provider:p"), 2 * T * 92 / 100);
}

}  // namespace
}  // namespace gm::acct
