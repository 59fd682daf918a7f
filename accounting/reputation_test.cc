// Tests of the Beta reputation estimate, heartbeat uptime, trust levels and
// the drain rule.
#include "accounting/reputation.h"

#include <gtest/gtest.h>

namespace gm::acct {
namespace {

constexpr Micros T = kMicrosPerToken;

TEST(ReputationTest, BetaMeanWithTheDocumentedPrior) {
  ReputationConfig c;
  NodeReputation r;
  EXPECT_DOUBLE_EQ(ReputationScore(r, c), 1.0 / 2.0);  // Beta(1, 1): a newcomer is 0.5
  for (int i = 0; i < 8; ++i) RecordJobOutcome(r, "n", true, "ok", i, c);
  for (int i = 0; i < 2; ++i) RecordJobOutcome(r, "n", false, "lost", i, c);
  EXPECT_DOUBLE_EQ(ReputationScore(r, c), (1.0 + 8) / (2.0 + 10));
  c.prior_alpha = 2;
  c.prior_beta = 1;
  EXPECT_DOUBLE_EQ(ReputationScore(NodeReputation{}, c), 2.0 / 3.0);
}

TEST(ReputationTest, OutcomeEventsCarryTheirCauseAndScores) {
  ReputationConfig c;
  NodeReputation r;
  NodeEvent e = RecordJobOutcome(r, "n1", false, "attempt 0 of job 5 lost", 77, c);
  EXPECT_EQ(e.kind, "job_failed");
  EXPECT_EQ(e.node_id, "n1");
  EXPECT_EQ(e.time_ms, 77);
  EXPECT_EQ(e.cause, "attempt 0 of job 5 lost");
  EXPECT_DOUBLE_EQ(e.reputation_before, 0.5);
  EXPECT_DOUBLE_EQ(e.reputation_after, 1.0 / 3.0);
}

TEST(ReputationTest, FailedChallengeCostsTwoPercent) {
  ReputationConfig c;
  NodeReputation r;
  for (int i = 0; i < 5; ++i) RecordJobOutcome(r, "n", true, "", 0, c);
  double before = ReputationScore(r, c);
  NodeEvent e = RecordChallenge(r, "n", false, "matmul answer wrong", 1, c);
  EXPECT_EQ(e.kind, "challenge_failed");
  EXPECT_DOUBLE_EQ(e.reputation_after, before * 0.98);
  RecordChallenge(r, "n", false, "again", 2, c);
  EXPECT_NEAR(ReputationScore(r, c), before * 0.98 * 0.98, 1e-12);
  NodeEvent ok = RecordChallenge(r, "n", true, "fine", 3, c);
  EXPECT_EQ(ok.kind, "challenge_passed");
  EXPECT_EQ(r.challenges_passed, 1);
  EXPECT_EQ(r.challenges_failed, 2);
}

TEST(ReputationTest, UptimeFromHeartbeats) {
  ReputationConfig c;
  c.heartbeat_timeout_ms = 60'000;
  NodeReputation r;
  EXPECT_EQ(UptimeBp(r), 10'000);
  EXPECT_TRUE(RecordHeartbeat(r, "n", 0, c).empty());           // the first only starts the clock
  EXPECT_TRUE(RecordHeartbeat(r, "n", 30'000, c).empty());      // on time
  auto ev = RecordHeartbeat(r, "n", 180'000, c);                 // a 150 s gap
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, "downtime");
  EXPECT_EQ(r.up_ms, 30'000 + 60'000);
  EXPECT_EQ(r.down_ms, 90'000);
  EXPECT_EQ(UptimeBp(r), 90'000 * 10'000 / 180'000);
  EXPECT_TRUE(RecordHeartbeat(r, "n", 100'000, c).empty());     // out of order: ignored
  EXPECT_EQ(r.last_heartbeat_ms, 180'000);
}

TEST(TrustTest, LevelsFollowTheThresholds) {
  TrustConfig c;
  NodeReputation r;
  EXPECT_EQ(TrustLevel(r, 100 * T - 1, c), 0);
  EXPECT_EQ(TrustLevel(r, 100 * T, c), 1);
  EXPECT_EQ(TrustLevel(r, 1000 * T, c), 1);  // no challenges passed yet
  r.challenges_passed = 9;
  EXPECT_EQ(TrustLevel(r, 1000 * T, c), 1);
  r.challenges_passed = 10;
  EXPECT_EQ(TrustLevel(r, 1000 * T - 1, c), 1);
  EXPECT_EQ(TrustLevel(r, 1000 * T, c), 2);
  r.jobs_ok = 95;
  r.jobs_failed = 5;  // 100 jobs, exactly 95 %
  EXPECT_EQ(TrustLevel(r, 10'000 * T, c), 3);
  EXPECT_EQ(TrustLevel(r, 10'000 * T - 1, c), 2);
  r.jobs_ok = 94;
  r.jobs_failed = 6;
  EXPECT_EQ(TrustLevel(r, 10'000 * T, c), 2);
  r.jobs_ok = 99;
  r.jobs_failed = 0;  // 99 jobs: not enough
  EXPECT_EQ(TrustLevel(r, 10'000 * T, c), 2);
  r.partner = true;
  EXPECT_EQ(TrustLevel(r, 0, c), 4);
  r.banned = true;
  EXPECT_EQ(TrustLevel(r, 1'000'000 * T, c), 0);
  EXPECT_STREQ(TrustLevelName(2), "Verified");
}

TEST(DrainTest, OverTwentyPercentFailuresOnceThereAreEnoughJobs) {
  ReputationConfig c;
  NodeReputation r;
  r.jobs_ok = 8;
  r.jobs_failed = 2;  // exactly 20 %: not over
  EXPECT_FALSE(ShouldDrain(r, c));
  r.jobs_ok = 7;
  r.jobs_failed = 3;
  EXPECT_TRUE(ShouldDrain(r, c));
  NodeReputation young;
  young.jobs_failed = 4;  // 100 % but only 4 outcomes
  EXPECT_FALSE(ShouldDrain(young, c));
  c.drain_min_jobs = 1;
  EXPECT_TRUE(ShouldDrain(young, c));
}

TEST(ReputationTest, StateAndEventsRoundTripThroughJson) {
  ReputationConfig c;
  NodeReputation r;
  RecordJobOutcome(r, "n", true, "", 0, c);
  RecordChallenge(r, "n", false, "", 0, c);
  RecordHeartbeat(r, "n", 5, c);
  r.partner = true;
  nlohmann::json j = r;
  EXPECT_EQ(nlohmann::json(j.get<NodeReputation>()), j);
  NodeEvent e = RecordJobOutcome(r, "n", false, "why", 9, c);
  e.stake_change = -5;
  e.tx_ref = "slash:n:1";
  nlohmann::json je = e;
  EXPECT_EQ(nlohmann::json(je.get<NodeEvent>()), je);
}

}  // namespace
}  // namespace gm::acct
