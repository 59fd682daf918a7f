// Tests of the ledger's invariants, typed accounts, credit limits, supply,
// genesis, holds and the first-cut settlement arithmetic.
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


// ---- typed accounts ---------------------------------------------------------------

TEST(AccountTest, NamesAndTypes) {
  EXPECT_EQ(StakeAccount("n1"), "stake:n1");
  EXPECT_EQ(UnbondingAccount("n1"), "unbonding:n1");
  EXPECT_EQ(TypeOf("mint"), AccountType::kMint);
  EXPECT_EQ(TypeOf("burn"), AccountType::kBurn);
  EXPECT_EQ(TypeOf("treasury"), AccountType::kTreasury);
  EXPECT_EQ(TypeOf("rewards_pool"), AccountType::kRewardsPool);
  EXPECT_EQ(TypeOf(UserWallet("a")), AccountType::kUser);
  EXPECT_EQ(TypeOf(ProviderWallet("p")), AccountType::kProvider);
  EXPECT_EQ(TypeOf(EscrowAccount(42)), AccountType::kEscrow);
  EXPECT_EQ(TypeOf(StakeAccount("n")), AccountType::kStake);
  EXPECT_EQ(TypeOf(UnbondingAccount("n")), AccountType::kUnbonding);
  for (const char* bad : {"", "user:", "escrow:x", "escrow:", "wallet:a", "Mint", "stake:", "unbonding:"})
    EXPECT_EQ(TypeOf(bad), AccountType::kInvalid) << bad;
}

TEST(LedgerTest, RefusesInvalidAccountMintCreditAndBurnDebit) {
  Ledger l;
  ASSERT_TRUE(l.Apply(MintTx("user:a", 10, "m")).ok());
  Status s = l.Check({"x", "r", "", {{"user:a", -5}, {"wallet:b", 5}}});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("wallet:b"), std::string::npos);
  // Un-minting through a mint credit would shrink supply outside burn.
  EXPECT_EQ(l.Check({"x", "r", "", {{"user:a", -5}, {"mint", 5}}}).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(l.Apply({"burn", "b", "", {{"user:a", -4}, {"burn", 4}}}).ok());
  EXPECT_EQ(l.Check({"x", "r", "", {{"burn", -4}, {"user:a", 4}}}).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(l.Balance("user:a"), 6);
  EXPECT_EQ(l.Balance("burn"), 4);
}

TEST(LedgerTest, RefusesOverflow) {
  Ledger l;
  ASSERT_TRUE(l.Apply(MintTx("user:a", INT64_MAX, "m1")).ok());
  ASSERT_TRUE(l.Apply(MintTx("user:b", 1, "m2")).ok());
  // user:b → user:a by 1 would overflow user:a; mint itself is at −INT64_MAX.
  Status s = l.Check({"x", "r", "", {{"user:b", -1}, {"user:a", 1}}});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("overflows"), std::string::npos);
}

TEST(LedgerTest, CreditLimitIsTheOnlyWayBelowZero) {
  Ledger l;
  ASSERT_TRUE(l.SetCreditLimit("user:a", 50).ok());
  EXPECT_EQ(l.CreditLimit("user:a"), 50);
  ASSERT_TRUE(l.Apply(HoldTx(1, 0, "user:a", 50)).ok());
  EXPECT_EQ(l.Balance("user:a"), -50);
  EXPECT_EQ(l.Apply(HoldTx(2, 0, "user:a", 1)).code(), Status::Code::kResourceExhausted);
  EXPECT_TRUE(l.CheckInvariants().ok());
  // Only wallets take a limit, and never a negative one.
  EXPECT_FALSE(l.SetCreditLimit(EscrowAccount(1), 5).ok());
  EXPECT_FALSE(l.SetCreditLimit("treasury", 5).ok());
  EXPECT_FALSE(l.SetCreditLimit("user:a", -1).ok());
  // Lowering the limit below a debt makes the stored state break the invariant.
  ASSERT_TRUE(l.SetCreditLimit("user:a", 0).ok());
  EXPECT_EQ(l.CheckInvariants().code(), Status::Code::kInternal);
}

TEST(SupplyTest, MintedMinusBurnedIsTheSumOfBalances) {
  Ledger l;
  ASSERT_TRUE(l.Apply(MintTx("rewards_pool", 400 * T, "g1")).ok());
  ASSERT_TRUE(l.Apply(MintTx("user:u", 100 * T, "g2")).ok());
  ASSERT_TRUE(l.Apply(HoldTx(3, 0, "user:u", 30 * T)).ok());
  ASSERT_TRUE(l.Apply({"usage", "u1", "", {{EscrowAccount(3), -10 * T}, {"provider:p", 9 * T},
                                          {"treasury", T / 2}, {"burn", T / 2}}}).ok());
  SupplyReport s = l.Supply();
  EXPECT_EQ(s.minted, 500 * T);
  EXPECT_EQ(s.burned, T / 2);
  EXPECT_EQ(s.sum_of_balances, 500 * T - T / 2);
  EXPECT_EQ(s.circulating, s.sum_of_balances - 400 * T);  // the pool has not been emitted
  EXPECT_TRUE(s.balanced());
  EXPECT_TRUE(l.CheckInvariants().ok());
  l.SetBalance("user:u", l.Balance("user:u") + 1);  // a stored balance that was tampered with
  Status bad = l.CheckInvariants();
  EXPECT_EQ(bad.code(), Status::Code::kInternal);
  EXPECT_NE(bad.message().find("supply"), std::string::npos);
}

// ---- genesis ------------------------------------------------------------------------

TEST(GenesisTest, DefaultIsOneBillionFortyPercentToThePool) {
  auto txs = Genesis(GenesisConfig{});
  ASSERT_TRUE(txs.ok()) << txs.status().ToString();
  Ledger l;
  for (const auto& tx : *txs) {
    EXPECT_EQ(tx.kind, "genesis");
    ASSERT_TRUE(l.Apply(tx).ok());
  }
  const Micros total = 1'000'000'000 * T;
  EXPECT_EQ(l.Balance("rewards_pool"), total * 40 / 100);
  EXPECT_EQ(l.Balance("treasury"), total * 60 / 100);
  EXPECT_EQ(l.Supply().minted, total);
  EXPECT_EQ(l.Supply().circulating, total * 60 / 100);
}

TEST(GenesisTest, NamedAccountsAndTheTreasuryTakesTheRoundingRest) {
  GenesisConfig c;
  c.total_supply = 1'000'003;  // not divisible: the floors leave a rest
  c.rewards_pool_bp = 4000;
  c.allocations = {{"user:team", 1500}, {"provider:seed", 333}};
  auto txs = Genesis(c);
  ASSERT_TRUE(txs.ok()) << txs.status().ToString();
  ASSERT_EQ(txs->size(), 4u);
  EXPECT_EQ((*txs)[0].ref, "genesis:rewards_pool");
  EXPECT_EQ((*txs)[1].ref, "genesis:user:team");
  Ledger l;
  for (const auto& tx : *txs) ASSERT_TRUE(l.Apply(tx).ok());
  Micros pool = 1'000'003LL * 4000 / 10000, team = 1'000'003LL * 1500 / 10000, seed = 1'000'003LL * 333 / 10000;
  EXPECT_EQ(l.Balance("rewards_pool"), pool);
  EXPECT_EQ(l.Balance("user:team"), team);
  EXPECT_EQ(l.Balance("provider:seed"), seed);
  EXPECT_EQ(l.Balance("treasury"), 1'000'003 - pool - team - seed);
  EXPECT_EQ(l.Supply().minted, 1'000'003);
}

TEST(GenesisTest, RefusesBadConfigurations) {
  auto bad = [](GenesisConfig c) { return Genesis(c).status().code(); };
  GenesisConfig c;
  c.total_supply = 0;
  EXPECT_EQ(bad(c), Status::Code::kInvalidArgument);
  c = {};
  c.allocations = {{"user:a", 6001}};  // 40 % + 60.01 %
  EXPECT_EQ(bad(c), Status::Code::kInvalidArgument);
  c.allocations = {{"user:a", 10}, {"user:a", 10}};
  EXPECT_EQ(bad(c), Status::Code::kInvalidArgument);
  for (const char* acct : {"mint", "burn", "escrow:1", "stake:n", "unbonding:n", "rewards_pool", "treasury", "x"}) {
    c.allocations = {{acct, 10}};
    EXPECT_EQ(bad(c), Status::Code::kInvalidArgument) << acct;
  }
  c.allocations = {{"user:a", -1}};
  EXPECT_EQ(bad(c), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace gm::acct
