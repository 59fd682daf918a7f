// Tests of the accounting facade: whole job lives (hold, usage, requeue,
// release), slashing and bans, drains, trust levels, staking with running
// jobs, rewards, audit epochs over everything, and restore after a restart.
#include "accounting/accounting.h"

#include <gtest/gtest.h>

#include "accounting/ed25519_for_tests.h"

namespace gm::acct {
namespace {

constexpr Micros T = kMicrosPerToken;
constexpr int64_t kHourMs = 3'600'000;

int64_t Floor(__int128 a, __int128 b) { return static_cast<int64_t>(a / b); }

class AccountingTest : public ::testing::Test {
 protected:
  AccountingTest() : acc_(Config(), key_.signer()) {}

  static AccountingConfig Config() {
    AccountingConfig c;
    c.audit.epoch_max_txs = 5;
    c.genesis.total_supply = 1'000'000 * T;
    c.staking.unbonding_period_ms = 1000;
    return c;
  }

  void SetUp() override {
    Take(acc_.ApplyGenesis());
    Take(acc_.Deposit("user:alice", 1000 * T, "a1"));
    Take(acc_.Deposit("provider:acme", 20'000 * T, "p1"));
    Take(acc_.Deposit("provider:bob", 20'000 * T, "p2"));
    Take(acc_.UpsertNode({"n1", "provider:acme", "datacenter", 0}));
    Take(acc_.UpsertNode({"n2", "provider:bob", "consumer", 0}));
  }

  // Applies a call that must succeed and keeps what it produced, as a store would.
  Effects Take(Result<Effects> r) {
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    for (const auto& t : r->txs) txs_.push_back(t);
    for (const auto& e : r->epochs) epochs_.push_back(e);
    for (const auto& e : r->events) events_.push_back(e);
    return *r;
  }

  HoldRequest Job(int64_t id, int attempt, Micros amount = 0) {
    HoldRequest r{id, attempt, "user:alice", 0, kHourMs,
                  {{"n1", "", 2 * T, 2}, {"n2", "", T, 1}}};
    r.amount = amount ? amount : WorstCaseCost({{2 * T, 2}, {T, 1}}, 3600);
    return r;
  }

  std::vector<NodeEvent> EventsOf(const std::string& node, const std::string& kind) const {
    std::vector<NodeEvent> out;
    for (const auto& e : events_)
      if (e.node_id == node && e.kind == kind) out.push_back(e);
    return out;
  }

  VerifyReport VerifyAll() {
    VerifyOptions o;
    o.verify = key_.verifier();
    o.stored_balances = &acc_.ledger().balances();
    return VerifyChain(txs_, epochs_, o);
  }

  TestEd25519 key_;
  Accounting acc_;
  std::vector<LoggedTx> txs_;
  std::vector<Epoch> epochs_;
  std::vector<NodeEvent> events_;
};

TEST(AccountingConfigTest, DefaultsAreValidAndBadFiguresAreNamed) {
  EXPECT_TRUE(ValidateConfig(AccountingConfig{}).ok());
  auto field = [](AccountingConfig c) { return ValidateConfig(c).message(); };
  AccountingConfig c;
  c.fees.provider_share_bp = 10'001;
  EXPECT_NE(field(c).find("fees.provider_share_bp"), std::string::npos);
  c = {};
  c.fees.fee_burn_bp = -1;
  EXPECT_NE(field(c).find("fees.fee_burn_bp"), std::string::npos);
  c = {};
  c.rewards.tiers.push_back(c.rewards.tiers[0]);
  EXPECT_NE(field(c).find("repeated tier"), std::string::npos);
  c = {};
  c.rewards.max_stake_multiplier_bp = 9000;
  EXPECT_NE(field(c).find("max_stake_multiplier_bp"), std::string::npos);
  c = {};
  c.reputation.prior_beta = 0;
  EXPECT_NE(field(c).find("prior_beta"), std::string::npos);
  c = {};
  c.audit.epoch_max_txs = 0;
  EXPECT_NE(field(c).find("audit.epoch_max_txs"), std::string::npos);
  c = {};
  c.genesis.rewards_pool_bp = 10'001;
  EXPECT_EQ(ValidateConfig(c).code(), Status::Code::kInvalidArgument);
}

TEST_F(AccountingTest, GenesisOnceAndTheSupplyAddsUp) {
  EXPECT_EQ(acc_.ApplyGenesis().status().code(), Status::Code::kFailedPrecondition);
  SupplyReport s = acc_.ledger().Supply();
  EXPECT_EQ(s.minted, 1'000'000 * T + 41'000 * T);
  EXPECT_EQ(acc_.ledger().Balance("rewards_pool"), 400'000 * T);
  EXPECT_TRUE(s.balanced());
  EXPECT_EQ(txs_[0].tx.kind, "genesis");
  nlohmann::json j = s;
  EXPECT_EQ(j["minted"], s.minted);
  EXPECT_EQ(j["burned"], 0);
  EXPECT_EQ(j["circulating"], s.sum_of_balances - 400'000 * T);
  EXPECT_EQ(j["sum_of_balances"], s.sum_of_balances);
}

TEST_F(AccountingTest, DepositNeedsAWalletAnAmountAndARef) {
  EXPECT_EQ(acc_.Deposit("treasury", T, "x").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(acc_.Deposit("user:a", 0, "x").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(acc_.Deposit("user:a", T, "").status().code(), Status::Code::kInvalidArgument);
  Effects fx = Take(acc_.Deposit("user:a", T, "x"));
  ASSERT_EQ(fx.txs.size(), 1u);
  EXPECT_EQ(fx.txs[0].tx.ref, "mint:x");
}

TEST_F(AccountingTest, AJobHoldsSettlesPerRecordAndRefundsTheRest) {
  Micros hold = 5 * T;  // 2 T × 2 GPUs + 1 T × 1 GPU for an hour
  Effects start = Take(acc_.StartAttempt(Job(1, 0)));
  ASSERT_EQ(start.txs.size(), 1u);
  EXPECT_EQ(start.jobs, std::vector<int64_t>{1});
  EXPECT_EQ(acc_.ledger().Balance("user:alice"), 995 * T);
  // The registry filled in the provider wallets.
  EXPECT_EQ(acc_.escrow().Find(1)->meters[0].node.provider_wallet, "provider:acme");

  Take(acc_.RecordUsage({1, 0, "n1", 1, 2 * 1'800'000, false}));  // 2 GPUs × 30 min
  Take(acc_.RecordUsage({1, 0, "n2", 1, 1'200'000, false}));      // 1 GPU × 20 min
  auto before = acc_.ledger().balances();
  auto replay = acc_.RecordUsage({1, 0, "n1", 1, 2 * 1'800'000, false});
  EXPECT_EQ(replay.status().code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(acc_.ledger().balances(), before);

  Effects end = Take(acc_.EndAttempt(1, 0, {}, 5000));
  EXPECT_EQ(EventsOf("n1", "job_ok").size(), 1u);
  EXPECT_EQ(EventsOf("n2", "job_ok").size(), 1u);
  Take(acc_.CloseJob(1));
  EXPECT_EQ(acc_.CloseJob(1).status().code(), Status::Code::kFailedPrecondition);

  Micros c1 = Floor(static_cast<__int128>(2 * T) * 3'600'000, kHourMs);  // 2 T
  Micros c2 = Floor(static_cast<__int128>(T) * 1'200'000, kHourMs);
  Micros p1 = c1 * 9200 / 10000, p2 = c2 * 9200 / 10000;
  Micros b1 = (c1 - p1) * 2500 / 10000, b2 = (c2 - p2) * 2500 / 10000;
  EXPECT_EQ(acc_.ledger().Balance("user:alice"), 1000 * T - c1 - c2);
  EXPECT_EQ(acc_.ledger().Balance("provider:acme"), 20'000 * T + p1);
  EXPECT_EQ(acc_.ledger().Balance("provider:bob"), 20'000 * T + p2);
  EXPECT_EQ(acc_.ledger().Balance("burn"), b1 + b2);
  EXPECT_EQ(acc_.ledger().Balance("treasury"), 600'000 * T + (c1 - p1 - b1) + (c2 - p2 - b2));
  EXPECT_EQ(acc_.ledger().Balance(EscrowAccount(1)), 0);
  EXPECT_EQ(acc_.escrow().Find(1)->refunded, hold - c1 - c2);
  EXPECT_EQ(acc_.FindNode("n1")->epoch.gpu_ms, 3'600'000);
  EXPECT_TRUE(acc_.ledger().CheckInvariants().ok());
}

TEST_F(AccountingTest, InsufficientFundsChangesNothing) {
  int64_t next = acc_.audit().next_tx_id();
  auto r = acc_.StartAttempt(Job(1, 0, 1001 * T));
  EXPECT_EQ(r.status().code(), Status::Code::kResourceExhausted);
  EXPECT_EQ(r.status().message().rfind("InsufficientFunds", 0), 0u);
  EXPECT_EQ(acc_.audit().next_tx_id(), next);
  EXPECT_EQ(acc_.escrow().Find(1), nullptr);
}

TEST_F(AccountingTest, StartNeedsRegisteredNodesOfTheRightProvider) {
  HoldRequest r = Job(1, 0);
  r.nodes[1].node_id = "n9";
  EXPECT_EQ(acc_.StartAttempt(r).status().code(), Status::Code::kNotFound);
  r = Job(1, 0);
  r.nodes[0].provider_wallet = "provider:bob";
  EXPECT_EQ(acc_.StartAttempt(r).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(acc_.UpsertNode({"n3", "provider:x", "quantum", 0}).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(acc_.UpsertNode({"n3", "user:x", "consumer", 0}).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(AccountingTest, TimeoutSlashesRequeueCarriesTheHoldOver) {
  Take(acc_.Stake("n1", 1000 * T, 0));
  Take(acc_.StartAttempt(Job(1, 0)));
  Take(acc_.RecordUsage({1, 0, "n2", 1, 600'000, false}));  // n2 served 10 min before n1 died
  Micros charged = Floor(static_cast<__int128>(T) * 600'000, kHourMs);
  Micros burn_before = acc_.ledger().Balance("burn");

  Effects slash = Take(acc_.NodeTimedOut("n1", 1, 0, 7000));
  Micros cut = 1000 * T * 500 / 10000;  // 5 %
  EXPECT_EQ(acc_.ledger().Balance(StakeAccount("n1")), 1000 * T - cut);
  EXPECT_EQ(acc_.ledger().Balance("burn"), burn_before + cut);  // slashes burn by default
  auto ev = EventsOf("n1", "slash_timeout");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].stake_change, -cut);
  EXPECT_EQ(ev[0].tx_ref, slash.txs.at(0).tx.ref);
  EXPECT_NE(ev[0].cause.find("job 1"), std::string::npos);
  EXPECT_EQ(acc_.NodeTimedOut("n1", 1, 0, 7001).status().code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(acc_.ledger().Balance(StakeAccount("n1")), 1000 * T - cut);

  // The lost time on n1 is reported as a provider fault and not charged.
  Take(acc_.RecordUsage({1, 0, "n1", 1, 2 * 1'000'000, true}));
  Take(acc_.EndAttempt(1, 0, {"n1"}, 7002));
  EXPECT_EQ(EventsOf("n1", "job_failed").size(), 1u);
  EXPECT_EQ(EventsOf("n2", "job_ok").size(), 1u);
  EXPECT_EQ(acc_.FindNode("n1")->reputation.jobs_failed, 1);

  // Attempt 1 on the same nodes: only the charged part is topped up.
  Micros payer = acc_.ledger().Balance("user:alice");
  Effects again = Take(acc_.StartAttempt(Job(1, 1)));
  ASSERT_EQ(again.txs.size(), 1u);
  EXPECT_EQ(again.txs[0].tx.kind, "hold");
  EXPECT_EQ(acc_.ledger().Balance("user:alice"), payer - charged);
  EXPECT_EQ(acc_.ledger().Balance(EscrowAccount(1)), 5 * T);
  Take(acc_.EndAttempt(1, 1, {}, 9000));
  Take(acc_.CloseJob(1));
  EXPECT_EQ(acc_.ledger().Balance("user:alice"), 1000 * T - charged);
  EXPECT_TRUE(acc_.ledger().CheckInvariants().ok());
}

TEST_F(AccountingTest, ForgedRecordSlashesHalfAndBans) {
  Take(acc_.Stake("n1", 1000 * T, 0));
  Effects fx = Take(acc_.ForgedRecord("n1", "n1:77", "signature does not verify", 10));
  EXPECT_EQ(acc_.ledger().Balance(StakeAccount("n1")), 500 * T);
  EXPECT_EQ(EventsOf("n1", "slash_forgery").size(), 1u);
  EXPECT_EQ(EventsOf("n1", "ban").size(), 1u);
  auto trust = EventsOf("n1", "trust_level");
  ASSERT_FALSE(trust.empty());
  EXPECT_EQ(trust.back().trust_after, 0);
  EXPECT_TRUE(acc_.FindNode("n1")->reputation.banned);
  EXPECT_EQ(acc_.ForgedRecord("n1", "n1:77", "", 11).status().code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(acc_.StartAttempt(Job(1, 0)).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(acc_.Stake("n1", T, 12).status().code(), Status::Code::kFailedPrecondition);
  auto p = acc_.PreviewRewards();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->lines[0].note, "not eligible (banned or draining)");
}

TEST_F(AccountingTest, AWrongNodesRecordIsRefusedAndCanBeSlashedAsForged) {
  Take(acc_.UpsertNode({"n3", "provider:bob", "consumer", 0}));
  Take(acc_.StartAttempt(Job(1, 0)));
  auto before = acc_.ledger().balances();
  auto r = acc_.RecordUsage({1, 0, "n3", 1, 1000, false});
  EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(acc_.ledger().balances(), before);
  Take(acc_.ForgedRecord("n3", "n3:1", r.status().message(), 5));
  EXPECT_TRUE(acc_.FindNode("n3")->reputation.banned);
}

TEST_F(AccountingTest, TooManyFailuresDrainForReview) {
  // 10 attempts; n1 fails the first three: 3/10 > 20 % once 10 outcomes are in.
  for (int i = 0; i < 10; ++i) {
    Take(acc_.StartAttempt(Job(1, i)));
    std::vector<std::string> faulty;
    if (i < 3) faulty.push_back("n1");
    Take(acc_.EndAttempt(1, i, faulty, 100 + i));
    EXPECT_EQ(acc_.FindNode("n1")->reputation.draining, i == 9) << i;
  }
  auto drain = EventsOf("n1", "drain");
  ASSERT_EQ(drain.size(), 1u);
  EXPECT_NE(drain[0].cause.find("3/10"), std::string::npos) << drain[0].cause;
  EXPECT_TRUE(EventsOf("n2", "drain").empty());
  EXPECT_EQ(acc_.PreviewRewards()->lines[0].note, "not eligible (banned or draining)");
  Take(acc_.ClearReview("n1", "admin", 200));
  EXPECT_FALSE(acc_.FindNode("n1")->reputation.draining);
  EXPECT_EQ(acc_.ClearReview("n1", "admin", 201).status().code(), Status::Code::kFailedPrecondition);
}

TEST_F(AccountingTest, TrustLevelsRiseWithStakeAndChallengesAndEachChangeIsAnEvent) {
  EXPECT_EQ(acc_.Trust("n1"), 0);
  Take(acc_.Stake("n1", 100 * T, 1));
  EXPECT_EQ(acc_.Trust("n1"), 1);
  Take(acc_.Stake("n1", 900 * T, 2));
  EXPECT_EQ(acc_.Trust("n1"), 1);  // 1,000 staked, no challenges yet
  for (int i = 0; i < 10; ++i) Take(acc_.ChallengeResult("n1", "c" + std::to_string(i), true, 500 + i, 10 + i));
  EXPECT_EQ(acc_.Trust("n1"), 2);
  EXPECT_EQ(acc_.FindNode("n1")->info.speed, 509);
  EXPECT_EQ(acc_.ChallengeResult("n1", "c3", true, 1, 30).status().code(), Status::Code::kAlreadyExists);
  Take(acc_.SetPartner("n1", true, "admin", 40));
  EXPECT_EQ(acc_.Trust("n1"), 4);
  auto changes = EventsOf("n1", "trust_level");
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].trust_before, 0);
  EXPECT_EQ(changes[0].trust_after, 1);
  EXPECT_EQ(changes[1].trust_after, 2);
  EXPECT_EQ(changes[2].trust_after, 4);
  EXPECT_EQ(EventsOf("n1", "partner").size(), 1u);
  double rep = acc_.Reputation("n1");
  Take(acc_.ChallengeResult("n1", "c10", false, 0, 50));
  EXPECT_DOUBLE_EQ(acc_.Reputation("n1"), rep * 0.98);
}

TEST_F(AccountingTest, StakeCannotLeaveWhileTheNodeRunsJobs) {
  Take(acc_.Stake("n1", 1000 * T, 0));
  Take(acc_.StartAttempt(Job(1, 0)));
  EXPECT_EQ(acc_.Unstake("n1", T, false, 1).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(acc_.Unstake("n1", T, true, 1).status().code(), Status::Code::kFailedPrecondition);
  Take(acc_.EndAttempt(1, 0, {}, 2));
  Take(acc_.Unstake("n1", 400 * T, false, 3));
  Take(acc_.Unstake("n1", 100 * T, true, 3));
  EXPECT_EQ(acc_.ledger().Balance(StakeAccount("n1")), 500 * T);
  EXPECT_EQ(acc_.ledger().Balance(UnbondingAccount("n1")), 400 * T);
  EXPECT_EQ(acc_.Withdraw("n1", 3 + 999).status().code(), Status::Code::kFailedPrecondition);
  Micros wallet = acc_.ledger().Balance("provider:acme");
  Take(acc_.Withdraw("n1", 3 + 1000));
  EXPECT_EQ(acc_.ledger().Balance("provider:acme"), wallet + 400 * T);
  EXPECT_EQ(EventsOf("n1", "unstake").size(), 2u);
  EXPECT_EQ(EventsOf("n1", "withdraw").size(), 1u);
}

TEST_F(AccountingTest, HeartbeatsFeedUptime) {
  for (int64_t t = 0; t <= 100'000; t += 10'000) Take(acc_.Heartbeat("n1", t));
  Take(acc_.Heartbeat("n1", 300'000));  // 200 s gap, 60 s timeout: 140 s down
  const NodeAccount* n = acc_.FindNode("n1");
  EXPECT_EQ(n->epoch.up_ms, 100'000 + 60'000);
  EXPECT_EQ(n->epoch.down_ms, 140'000);
  EXPECT_EQ(EventsOf("n1", "downtime").size(), 1u);
  EXPECT_EQ(acc_.Heartbeat("zz", 1).status().code(), Status::Code::kNotFound);
}

TEST_F(AccountingTest, RewardsPreviewThenEmitFromThePool) {
  Take(acc_.StartAttempt(Job(1, 0)));
  Take(acc_.RecordUsage({1, 0, "n1", 1, 2 * kHourMs, false}));  // 2 GPU-hours, datacenter
  Take(acc_.RecordUsage({1, 0, "n2", 1, kHourMs, false}));      // 1 GPU-hour, consumer
  Take(acc_.EndAttempt(1, 0, {}, 10));
  auto p = acc_.PreviewRewards();
  ASSERT_TRUE(p.ok());
  const RewardsConfig& rc = acc_.config().rewards;
  Micros emission = 2 * rc.tiers[1].base_rate_per_gpu_hour + rc.tiers[0].base_rate_per_gpu_hour;
  EXPECT_EQ(p->emission, emission);
  // Both nodes had one job, all ok: both get the success bonus; no heartbeats, no stake.
  EXPECT_TRUE(p->lines[0].success_bonus && p->lines[1].success_bonus);
  __int128 s1 = static_cast<__int128>(2 * kHourMs) * (15'000 * 11'000 / 10'000);
  __int128 s2 = static_cast<__int128>(kHourMs) * (10'000 * 11'000 / 10'000);
  EXPECT_EQ(p->lines[0].amount, Floor(emission * s1, s1 + s2));
  EXPECT_EQ(p->lines[1].amount, Floor(emission * s2, s1 + s2));
  Micros pool = acc_.ledger().Balance("rewards_pool");
  Micros acme = acc_.ledger().Balance("provider:acme");
  Effects fx = Take(acc_.EmitRewards(20));
  ASSERT_TRUE(fx.rewards.has_value());
  EXPECT_EQ(acc_.ledger().Balance("rewards_pool"), pool - p->paid);
  EXPECT_EQ(acc_.ledger().Balance("provider:acme"), acme + p->lines[0].amount);
  EXPECT_EQ(acc_.reward_epoch(), 1);
  EXPECT_EQ(acc_.FindNode("n1")->epoch.gpu_ms, 0);
  EXPECT_EQ(acc_.PreviewRewards()->paid, 0);
}

TEST_F(AccountingTest, EverythingLandsInSignedEpochsThatVerify) {
  Take(acc_.Stake("n1", 1000 * T, 0));
  for (int j = 1; j <= 4; ++j) {
    Take(acc_.StartAttempt(Job(j, 0)));
    Take(acc_.RecordUsage({j, 0, "n1", j, 1000 * j, false}));
    Take(acc_.EndAttempt(j, 0, {}, j));
    Take(acc_.CloseJob(j));
  }
  Take(acc_.NodeTimedOut("n1", 9, 0, 100));
  Take(acc_.CloseEpoch());
  EXPECT_EQ(acc_.audit().open_count(), 0);
  EXPECT_EQ(txs_.size(), static_cast<size_t>(acc_.audit().next_tx_id() - 1));
  EXPECT_EQ(epochs_.back().last_tx_id, static_cast<int64_t>(txs_.size()));
  VerifyReport r = VerifyAll();
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.problems[0].ToString());
  EXPECT_EQ(r.supply.minted, acc_.ledger().Supply().minted);
  EXPECT_EQ(r.supply.burned, acc_.ledger().Supply().burned);
  EXPECT_EQ(r.unsealed, 0);
  // Epochs closed every 5 transactions while the effects came out.
  for (size_t k = 0; k + 1 < epochs_.size(); ++k)
    EXPECT_EQ(epochs_[k].last_tx_id - epochs_[k].first_tx_id + 1, 5);
}

TEST_F(AccountingTest, RestoreFromASnapshotContinuesIdentically) {
  Take(acc_.Stake("n1", 1000 * T, 0));
  Take(acc_.StartAttempt(Job(1, 0)));
  Take(acc_.RecordUsage({1, 0, "n1", 1, 123'457, false}));
  Take(acc_.Heartbeat("n1", 5));
  Take(acc_.ChallengeResult("n1", "c1", true, 42, 6));
  nlohmann::json j = acc_.Snapshot();
  Accounting back(Config(), key_.signer());
  ASSERT_TRUE(back.Restore(j.dump().empty() ? AccountingSnapshot{} : nlohmann::json::parse(j.dump()).get<AccountingSnapshot>()).ok());
  EXPECT_EQ(nlohmann::json(back.Snapshot()), j);
  // Replays are still refused after the restart.
  EXPECT_EQ(back.RecordUsage({1, 0, "n1", 1, 123'457, false}).status().code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(back.ChallengeResult("n1", "c1", true, 42, 7).status().code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(back.ApplyGenesis().status().code(), Status::Code::kFailedPrecondition);
  // The same events on both give the same transactions, hashes and epochs.
  auto run = [](Accounting& a) {
    std::vector<std::string> out;
    auto keep = [&](Result<Effects> r) {
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      for (const auto& t : r->txs) out.push_back(std::to_string(t.id) + " " + t.hash);
      for (const auto& e : r->epochs) out.push_back("epoch " + e.chain_root);
    };
    keep(a.RecordUsage({1, 0, "n1", 2, 876'543, false}));
    keep(a.RecordUsage({1, 0, "n2", 1, 1'000'000, false}));
    keep(a.EndAttempt(1, 0, {"n2"}, 10));
    keep(a.CloseJob(1));
    keep(a.Unstake("n1", 10 * T, true, 11));
    keep(a.EmitRewards(12));
    keep(a.CloseEpoch());
    return out;
  };
  EXPECT_EQ(run(acc_), run(back));
  EXPECT_EQ(acc_.ledger().balances(), back.ledger().balances());
}

TEST_F(AccountingTest, RestoreRefusesPiecesThatDisagree) {
  Take(acc_.StartAttempt(Job(1, 0)));
  AccountingSnapshot good = acc_.Snapshot();
  Accounting other(Config(), key_.signer());
  AccountingSnapshot s = good;
  s.escrows[0].held += 1;
  EXPECT_EQ(other.Restore(s).code(), Status::Code::kCorruption);
  s = good;
  s.escrows.clear();
  EXPECT_EQ(other.Restore(s).code(), Status::Code::kCorruption);
  s = good;
  s.balances["user:alice"] += 1;
  EXPECT_EQ(other.Restore(s).code(), Status::Code::kCorruption);
  s = good;
  if (!s.open_txs.empty()) {
    s.open_txs[0].id += 100;
    EXPECT_EQ(other.Restore(s).code(), Status::Code::kCorruption);
  }
  EXPECT_TRUE(other.Restore(good).ok());
}

}  // namespace
}  // namespace gm::acct
