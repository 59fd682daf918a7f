// Tests of escrow holds (carry-over on requeue, one release), per-record
// settlement (the rounding rule, the fee split and burn, bounds) and
// idempotence of usage records.
#include "accounting/escrow.h"

#include <gtest/gtest.h>

namespace gm::acct {
namespace {

constexpr Micros T = kMicrosPerToken;
constexpr int64_t kHourMs = 3'600'000;

int64_t Floor(__int128 num, __int128 den) { return static_cast<int64_t>(num / den); }

// The documented split of a cumulative charge c.
struct Split {
  Micros provider, treasury, burned;
};
Split SplitOf(Micros c, const FeePolicy& p = {}) {
  Micros provider = Floor(static_cast<__int128>(c) * p.provider_share_bp, 10'000);
  Micros burned = Floor(static_cast<__int128>(c - provider) * p.fee_burn_bp, 10'000);
  return {provider, c - provider - burned, burned};
}

class EscrowTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(ledger_.Apply(MintTx(kPayer, 1000 * T, "m")).ok()); }

  HoldRequest Request(int64_t job, int attempt, Micros amount, int64_t limit_ms = kHourMs) {
    return HoldRequest{job, attempt, kPayer, amount, limit_ms,
                       {{"n1", "provider:p1", 2 * T, 2}, {"n2", "provider:p2", 3 * T, 1}}};
  }
  UsageRecord Rec(int64_t job, int attempt, const std::string& node, int64_t seq, int64_t gpu_ms,
                  bool fault = false) {
    return UsageRecord{job, attempt, node, seq, gpu_ms, fault};
  }
  Micros Sum(std::initializer_list<const char*> accounts) {
    Micros s = 0;
    for (const char* a : accounts) s += ledger_.Balance(a);
    return s;
  }

  static constexpr const char* kPayer = "user:u";
  Ledger ledger_;
  EscrowBook book_;
};

TEST_F(EscrowTest, HoldMovesTheWorstCaseFromThePayer) {
  Micros worst = WorstCaseCost({{2 * T, 2}, {3 * T, 1}}, 3600);
  EXPECT_EQ(worst, 7 * T);
  auto tx = book_.Hold(ledger_, Request(1, 0, worst));
  ASSERT_TRUE(tx.ok()) << tx.status().ToString();
  EXPECT_EQ(tx->ref, "hold:1:0");
  EXPECT_EQ(ledger_.Balance(kPayer), 993 * T);
  EXPECT_EQ(ledger_.Balance(EscrowAccount(1)), 7 * T);
  EXPECT_EQ(book_.Find(1)->held, 7 * T);
  EXPECT_EQ(book_.RunningJobs("n1"), 1);
  EXPECT_EQ(book_.RunningJobs("n3"), 0);
}

TEST_F(EscrowTest, PayerWhoCannotCoverStaysPendingAndNothingChanges) {
  auto tx = book_.Hold(ledger_, Request(1, 0, 1000 * T + 1));
  ASSERT_FALSE(tx.ok());
  EXPECT_EQ(tx.status().code(), Status::Code::kResourceExhausted);
  EXPECT_EQ(tx.status().message().rfind("InsufficientFunds", 0), 0u) << tx.status().message();
  EXPECT_EQ(ledger_.Balance(kPayer), 1000 * T);
  EXPECT_EQ(book_.Find(1), nullptr);
}

TEST_F(EscrowTest, RefusesMalformedRequests) {
  auto code = [&](HoldRequest r) { return book_.Hold(ledger_, r).status().code(); };
  HoldRequest r = Request(1, 0, T);
  r.nodes.clear();
  EXPECT_EQ(code(r), Status::Code::kInvalidArgument);
  r = Request(1, 0, -1);
  EXPECT_EQ(code(r), Status::Code::kInvalidArgument);
  r = Request(1, 0, T);
  r.nodes[1].node_id = "n1";
  EXPECT_EQ(code(r), Status::Code::kInvalidArgument);
  r = Request(1, 0, T);
  r.nodes[0].provider_wallet = "user:p1";
  EXPECT_EQ(code(r), Status::Code::kInvalidArgument);
  r = Request(1, 0, T);
  r.payer_wallet = "treasury";
  EXPECT_EQ(code(r), Status::Code::kInvalidArgument);
  r = Request(1, 0, T, 0);
  EXPECT_EQ(code(r), Status::Code::kInvalidArgument);
  EXPECT_EQ(ledger_.Balance(kPayer), 1000 * T);
}

TEST_F(EscrowTest, RecordChargesPriceTimesGpuMsAndSplitsTheFee) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 7 * T)).ok());
  // n1 asks 2 tokens per GPU-hour; 2 GPUs for 1,234,567 ms = 2,469,134 GPU-ms.
  int64_t gpu_ms = 2 * 1'234'567;
  auto s = book_.SettleUsage(ledger_, Rec(1, 0, "n1", 1, gpu_ms));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  Micros charge = Floor(static_cast<__int128>(2 * T) * gpu_ms, kHourMs);
  Split split = SplitOf(charge);
  EXPECT_EQ(s->charged, charge);
  EXPECT_EQ(s->provider, split.provider);
  EXPECT_EQ(s->treasury, split.treasury);
  EXPECT_EQ(s->burned, split.burned);
  EXPECT_EQ(s->tx.ref, "usage:1:n1:1");
  EXPECT_EQ(s->tx.Sum(), 0);
  EXPECT_EQ(ledger_.Balance("provider:p1"), split.provider);
  EXPECT_EQ(ledger_.Balance("treasury"), split.treasury);
  EXPECT_EQ(ledger_.Balance("burn"), split.burned);
  EXPECT_EQ(ledger_.Balance(EscrowAccount(1)), 7 * T - charge);
  // With the defaults the burn is a quarter of the 8 % fee: about 2 % of the charge.
  EXPECT_NEAR(static_cast<double>(split.burned) / charge, 0.02, 1e-5);
  EXPECT_NEAR(static_cast<double>(split.provider) / charge, 0.92, 1e-5);
}

TEST_F(EscrowTest, RoundingRuleNoRemainderLostWhateverTheRecordSizes) {
  // 1,000,001 micro-tokens per GPU-hour: one GPU-ms is worth 0.2777… micro-tokens,
  // so rounding each record on its own would charge nothing at all.
  HoldRequest r{1, 0, kPayer, 10 * T, kHourMs, {{"n1", "provider:p1", 1'000'001, 1}}};
  ASSERT_TRUE(book_.Hold(ledger_, r).ok());
  int64_t total_ms = 0;
  for (int seq = 0; seq < 5000; ++seq) {
    int64_t ms = 1 + seq % 7;
    total_ms += ms;
    ASSERT_TRUE(book_.SettleUsage(ledger_, Rec(1, 0, "n1", seq, ms)).ok());
  }
  Micros want = Floor(static_cast<__int128>(1'000'001) * total_ms, kHourMs);
  Split split = SplitOf(want);
  EXPECT_GT(want, 0);
  EXPECT_EQ(book_.Find(1)->charged, want);
  EXPECT_EQ(ledger_.Balance("provider:p1"), split.provider);
  EXPECT_EQ(ledger_.Balance("treasury"), split.treasury);
  EXPECT_EQ(ledger_.Balance("burn"), split.burned);
  EXPECT_EQ(ledger_.Balance(EscrowAccount(1)), 10 * T - want);
}

TEST_F(EscrowTest, SameTotalsForOneRecordOrMany) {
  // Two books: one record of the whole time, or that time cut into odd pieces.
  Ledger one_l = ledger_, many_l = ledger_;
  EscrowBook one, many;
  ASSERT_TRUE(one.Hold(one_l, Request(1, 0, 7 * T)).ok());
  ASSERT_TRUE(many.Hold(many_l, Request(1, 0, 7 * T)).ok());
  int64_t total = 3'333'337;
  ASSERT_TRUE(one.SettleUsage(one_l, Rec(1, 0, "n2", 0, total)).ok());
  int64_t left = total;
  for (int seq = 0; left > 0; ++seq) {
    int64_t piece = std::min<int64_t>(left, 12'345 + seq * 101);
    ASSERT_TRUE(many.SettleUsage(many_l, Rec(1, 0, "n2", seq, piece)).ok());
    left -= piece;
  }
  for (const char* a : {"user:u", "provider:p2", "treasury", "burn", "escrow:1"})
    EXPECT_EQ(one_l.Balance(a), many_l.Balance(a)) << a;
}

TEST_F(EscrowTest, ReplayedRecordChangesNothing) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 7 * T)).ok());
  ASSERT_TRUE(book_.SettleUsage(ledger_, Rec(1, 0, "n1", 7, 600'000)).ok());
  auto before = ledger_.balances();
  EscrowState state = *book_.Find(1);
  auto again = book_.SettleUsage(ledger_, Rec(1, 0, "n1", 7, 600'000));
  EXPECT_EQ(again.status().code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(ledger_.balances(), before);
  EXPECT_EQ(nlohmann::json(*book_.Find(1)), nlohmann::json(state));
  // The same seq from another node is another record.
  EXPECT_TRUE(book_.SettleUsage(ledger_, Rec(1, 0, "n2", 7, 600'000)).ok());
}

TEST_F(EscrowTest, RecordFromANodeOutsideTheAllocationIsRefused) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 7 * T)).ok());
  auto before = ledger_.balances();
  auto s = book_.SettleUsage(ledger_, Rec(1, 0, "n9", 1, 600'000));
  EXPECT_EQ(s.status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(ledger_.balances(), before);
  EXPECT_EQ(book_.SettleUsage(ledger_, Rec(2, 0, "n1", 1, 1)).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(book_.SettleUsage(ledger_, Rec(1, 0, "n1", 1, -1)).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(EscrowTest, ProviderFaultTimeIsNotCharged) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 7 * T)).ok());
  auto s = book_.SettleUsage(ledger_, Rec(1, 0, "n1", 1, 3'600'000, /*fault=*/true));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->charged, 0);
  EXPECT_TRUE(s->tx.entries.empty());
  EXPECT_EQ(ledger_.Balance(EscrowAccount(1)), 7 * T);
  EXPECT_EQ(book_.Find(1)->meters[0].fault_gpu_ms, 3'600'000);
  EXPECT_EQ(book_.SettleUsage(ledger_, Rec(1, 0, "n1", 1, 3'600'000, true)).status().code(),
            Status::Code::kAlreadyExists);
}

TEST_F(EscrowTest, NodeCannotBillMoreThanItsGpusTimesTheTimeLimit) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 7 * T, kHourMs)).ok());
  // n2 has one GPU: at most one GPU-hour is billable.
  auto a = book_.SettleUsage(ledger_, Rec(1, 0, "n2", 1, 3'000'000));
  auto b = book_.SettleUsage(ledger_, Rec(1, 0, "n2", 2, 1'000'000));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(b->billable_gpu_ms, 600'000);
  EXPECT_EQ(b->ignored_gpu_ms, 400'000);
  EXPECT_EQ(a->charged + b->charged, 3 * T);  // one GPU-hour at 3 tokens
  auto c = book_.SettleUsage(ledger_, Rec(1, 0, "n2", 3, 5));
  EXPECT_EQ(c->charged, 0);
  EXPECT_EQ(c->ignored_gpu_ms, 5);
}

TEST_F(EscrowTest, ChargesNeverExceedTheHold) {
  // A price cap below the asks: the hold is 1 token although n1 could bill 4.
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, T)).ok());
  auto s = book_.SettleUsage(ledger_, Rec(1, 0, "n1", 1, 2 * kHourMs));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->charged, T);
  EXPECT_EQ(ledger_.Balance(EscrowAccount(1)), 0);
  auto more = book_.SettleUsage(ledger_, Rec(1, 0, "n2", 1, kHourMs));
  EXPECT_EQ(more->charged, 0);
  EXPECT_TRUE(more->tx.entries.empty());
}

TEST_F(EscrowTest, RequeueTopsUpTheCarriedHold) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 7 * T)).ok());
  ASSERT_TRUE(book_.SettleUsage(ledger_, Rec(1, 0, "n1", 1, kHourMs)).ok());  // 2 tokens
  ASSERT_TRUE(book_.EndAttempt(1, 0).ok());
  Micros held = 7 * T - 2 * T;
  ASSERT_EQ(book_.Find(1)->held, held);
  auto tx = book_.Hold(ledger_, Request(1, 1, 7 * T));
  ASSERT_TRUE(tx.ok()) << tx.status().ToString();
  // One transaction of the difference, not a release and a new hold.
  EXPECT_EQ(tx->kind, "hold");
  EXPECT_EQ(tx->ref, "hold:1:1");
  ASSERT_EQ(tx->entries.size(), 2u);
  EXPECT_EQ(tx->entries[0].account, kPayer);
  EXPECT_EQ(tx->entries[0].amount, -(7 * T - held));
  EXPECT_EQ(ledger_.Balance(EscrowAccount(1)), 7 * T);
  EXPECT_EQ(ledger_.Balance(kPayer), 1000 * T - 2 * T - 7 * T);
  EXPECT_EQ(book_.Find(1)->attempt, 1);
  EXPECT_EQ(book_.Find(1)->held, 7 * T);
  // Records of the ended attempt are refused now.
  EXPECT_EQ(book_.SettleUsage(ledger_, Rec(1, 0, "n1", 2, 1000)).status().code(),
            Status::Code::kFailedPrecondition);
}

TEST_F(EscrowTest, RequeueToASmallerHoldReleasesOnlyTheDifference) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 7 * T)).ok());
  ASSERT_TRUE(book_.EndAttempt(1, 0).ok());
  HoldRequest r{1, 1, kPayer, 2 * T, kHourMs, {{"n3", "provider:p3", 2 * T, 1}}};
  auto tx = book_.Hold(ledger_, r);
  ASSERT_TRUE(tx.ok());
  EXPECT_EQ(tx->kind, "release");
  EXPECT_EQ(ledger_.Balance(EscrowAccount(1)), 2 * T);
  EXPECT_EQ(ledger_.Balance(kPayer), 998 * T);
  EXPECT_EQ(book_.Find(1)->refunded, 5 * T);
  EXPECT_EQ(book_.Find(1)->held, 2 * T);
  // The new attempt's nodes are the ones allowed to bill.
  EXPECT_EQ(book_.SettleUsage(ledger_, Rec(1, 1, "n1", 1, 1000)).status().code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(book_.SettleUsage(ledger_, Rec(1, 1, "n3", 1, 1000)).ok());
  // Same amount again after another requeue: nothing moves.
  ASSERT_TRUE(book_.EndAttempt(1, 1).ok());
  Micros held = book_.Find(1)->held;
  auto same = book_.Hold(ledger_, HoldRequest{1, 2, kPayer, held, kHourMs, r.nodes});
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->entries.empty());
}

TEST_F(EscrowTest, RequeueTopUpThePayerCannotCoverLeavesTheOldState) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 900 * T)).ok());
  ASSERT_TRUE(book_.EndAttempt(1, 0).ok());
  auto tx = book_.Hold(ledger_, Request(1, 1, 1001 * T));
  EXPECT_EQ(tx.status().code(), Status::Code::kResourceExhausted);
  EXPECT_EQ(book_.Find(1)->attempt, 0);
  EXPECT_EQ(ledger_.Balance(EscrowAccount(1)), 900 * T);
}

TEST_F(EscrowTest, AttemptOrderIsEnforced) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 7 * T)).ok());
  EXPECT_EQ(book_.Hold(ledger_, Request(1, 0, 7 * T)).status().code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(book_.Hold(ledger_, Request(1, 1, 7 * T)).status().code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(book_.EndAttempt(1, 0).ok());
  EXPECT_EQ(book_.EndAttempt(1, 0).code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 2, 7 * T)).ok());
  ASSERT_TRUE(book_.EndAttempt(1, 2).ok());
  EXPECT_EQ(book_.Hold(ledger_, Request(1, 1, 7 * T)).status().code(), Status::Code::kFailedPrecondition);
  HoldRequest other = Request(1, 3, 7 * T);
  other.payer_wallet = "user:v";
  EXPECT_EQ(book_.Hold(ledger_, other).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(EscrowTest, ReleaseRefundsTheRestExactlyOnce) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 7 * T)).ok());
  ASSERT_TRUE(book_.SettleUsage(ledger_, Rec(1, 0, "n1", 1, 1'800'000)).ok());  // 1 token
  EXPECT_EQ(book_.Release(ledger_, 1).status().code(), Status::Code::kFailedPrecondition);  // attempt open
  ASSERT_TRUE(book_.EndAttempt(1, 0).ok());
  auto tx = book_.Release(ledger_, 1);
  ASSERT_TRUE(tx.ok());
  EXPECT_EQ(tx->ref, "release:1");
  EXPECT_EQ(ledger_.Balance(EscrowAccount(1)), 0);
  EXPECT_EQ(ledger_.Balance(kPayer), 999 * T);
  EXPECT_EQ(book_.Find(1)->refunded, 6 * T);
  auto before = ledger_.balances();
  auto again = book_.Release(ledger_, 1);
  EXPECT_EQ(again.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("released already"), std::string::npos);
  EXPECT_EQ(ledger_.balances(), before);
  // After the release: a replay is still a replay; a new record finds the job closed.
  EXPECT_EQ(book_.SettleUsage(ledger_, Rec(1, 0, "n1", 1, 1)).status().code(), Status::Code::kAlreadyExists);
  EXPECT_EQ(book_.SettleUsage(ledger_, Rec(1, 0, "n1", 2, 1)).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(book_.Hold(ledger_, Request(1, 1, T)).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(book_.Release(ledger_, 9).status().code(), Status::Code::kNotFound);
  ASSERT_TRUE(book_.Forget(1).ok());
  EXPECT_EQ(book_.Find(1), nullptr);
}

TEST_F(EscrowTest, ReleaseNoticesABookThatDisagreesWithTheLedger) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 7 * T)).ok());
  ASSERT_TRUE(book_.EndAttempt(1, 0).ok());
  ledger_.SetBalance(EscrowAccount(1), 6 * T);
  EXPECT_EQ(book_.Release(ledger_, 1).status().code(), Status::Code::kInternal);
}

TEST_F(EscrowTest, FreeNodesNeedNoHold) {
  HoldRequest r{1, 0, kPayer, 0, kHourMs, {{"n1", "provider:p1", 0, 1}}};
  auto tx = book_.Hold(ledger_, r);
  ASSERT_TRUE(tx.ok());
  EXPECT_TRUE(tx->entries.empty());
  auto s = book_.SettleUsage(ledger_, Rec(1, 0, "n1", 1, 1000));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->charged, 0);
  ASSERT_TRUE(book_.EndAttempt(1, 0).ok());
  auto rel = book_.Release(ledger_, 1);
  ASSERT_TRUE(rel.ok());
  EXPECT_TRUE(rel->entries.empty());
  EXPECT_TRUE(book_.Find(1)->released);
}

TEST_F(EscrowTest, FeePolicyIsConfiguration) {
  FeePolicy p{8000, 10'000};  // 80 % to the provider, the whole fee burned
  EscrowBook book(p);
  ASSERT_TRUE(book.Hold(ledger_, Request(1, 0, 7 * T)).ok());
  ASSERT_TRUE(book.SettleUsage(ledger_, Rec(1, 0, "n2", 1, kHourMs)).ok());  // 3 tokens
  EXPECT_EQ(ledger_.Balance("provider:p2"), 3 * T * 80 / 100);
  EXPECT_EQ(ledger_.Balance("burn"), 3 * T * 20 / 100);
  EXPECT_EQ(ledger_.Balance("treasury"), 0);
}

TEST_F(EscrowTest, StateRoundTripsThroughJson) {
  ASSERT_TRUE(book_.Hold(ledger_, Request(1, 0, 7 * T)).ok());
  ASSERT_TRUE(book_.SettleUsage(ledger_, Rec(1, 0, "n1", 1, 1'000'001)).ok());
  ASSERT_TRUE(book_.SettleUsage(ledger_, Rec(1, 0, "n2", 4, 77, true)).ok());
  nlohmann::json j = *book_.Find(1);
  EscrowState back = j.get<EscrowState>();
  EXPECT_EQ(nlohmann::json(back), j);
  EscrowBook restored;
  restored.Restore(back);
  // The restored book refuses the replay and continues the cumulative charge.
  EXPECT_EQ(restored.SettleUsage(ledger_, Rec(1, 0, "n1", 1, 5)).status().code(), Status::Code::kAlreadyExists);
  Ledger copy = ledger_;
  auto a = book_.SettleUsage(ledger_, Rec(1, 0, "n1", 2, 999));
  auto b = restored.SettleUsage(copy, Rec(1, 0, "n1", 2, 999));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->charged, b->charged);
  EXPECT_EQ(ledger_.balances(), copy.balances());
}

TEST(EscrowJsonTest, RecordSeqsAreStoredAsRunsAndReadBackExactly) {
  EscrowState s;
  s.job_id = 3;
  s.payer_wallet = "user:u";
  for (int64_t q : {1, 2, 3, 4, 10, 20, 30, 31, 99}) s.MarkApplied("n1", q);
  s.MarkApplied("n2", 7);
  nlohmann::json j = s;
  // 1…4 step 1, 10…30 step 10, then 31 and 99 (a run of two, step 68).
  EXPECT_EQ(j["records"]["n1"].dump(), "[[1,1,4],[10,10,3],[31,68,2]]");
  EscrowState back = j.get<EscrowState>();
  EXPECT_EQ(back.records, s.records);
  // Plain seqs (and a mix) read the same.
  j["records"]["n1"] = nlohmann::json::parse("[1,2,3,4,[10,10,3],31,99]");
  EXPECT_EQ(j.get<EscrowState>().records, s.records);
  j["records"]["n1"] = nlohmann::json::parse("[[1,1,0]]");
  EXPECT_THROW(j.get<EscrowState>(), std::exception);
}

}  // namespace
}  // namespace gm::acct
