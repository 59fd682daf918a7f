// Tests of the scheduler core's rules, driven with explicit times.
#include "scheduler/core.h"

#include <gtest/gtest.h>

namespace gm::sched {
namespace {

constexpr Micros T = kMicrosPerToken;

Node MakeNode(const std::string& id, int gpus, Micros price, const std::string& site,
              int cpus = 8) {
  Node n;
  n.id = id;
  n.name = "host-" + id;
  n.provider = "p-" + id;
  n.gpu_model = "H100";
  n.gpus = gpus;
  n.cpus = cpus;
  n.mem_mb = 64'000;
  n.price = price;
  n.site = site;
  n.region = "eu";
  return n;
}

Job MakeJob(int64_t id, int nodes, int gpus_per_node, int64_t limit_s = 600) {
  Job j;
  j.id = id;
  j.user = j.payer = "alice";
  j.spec.nodes_min = j.spec.nodes_max = nodes;
  if (gpus_per_node) j.spec.gpus_per_node = gpus_per_node;
  j.spec.time_limit_s = limit_s;
  j.spec.job_name = "j" + std::to_string(id);
  return j;
}

const CanHoldFn kRich = [](const Job&, Micros) { return true; };

class SchedulerTest : public ::testing::Test {
 protected:
  Scheduler s{Options{}};
};

TEST_F(SchedulerTest, PicksCheapestFeasibleNode) {
  s.UpsertNode(MakeNode("n1", 4, 3 * T, "a"));
  s.UpsertNode(MakeNode("n2", 4, 1 * T, "a"));
  s.UpsertNode(MakeNode("n3", 1, T / 2, "a"));  // cheapest but too small
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 2), 0).ok());
  auto d = s.Schedule(0, kRich);
  ASSERT_EQ(d.size(), 1u);
  const Job& j = *s.FindJob(1);
  EXPECT_EQ(j.state, JobState::kRunning);
  ASSERT_EQ(j.alloc.size(), 1u);
  EXPECT_EQ(j.alloc[0].node_id, "n2");
  EXPECT_EQ(j.alloc[0].gpu_indices, (std::vector<int>{0, 1}));
  // Hold: 1 token/GPU-h × 2 GPUs × 600 s = 1/3 token.
  EXPECT_EQ(d[0].hold, 2 * T * 600 / 3600);
}

TEST_F(SchedulerTest, GangComesFromOneSiteAllOrNothing) {
  s.UpsertNode(MakeNode("a1", 2, T, "siteA"));
  s.UpsertNode(MakeNode("b1", 2, T / 10, "siteB"));
  s.UpsertNode(MakeNode("b2", 2, T / 10, "siteB"));
  s.UpsertNode(MakeNode("c1", 2, T / 20, "siteC"));  // cheapest, but alone in its site
  ASSERT_TRUE(s.Submit(MakeJob(1, 2, 2), 0).ok());
  s.Schedule(0, kRich);
  const Job& j = *s.FindJob(1);
  ASSERT_EQ(j.state, JobState::kRunning);
  EXPECT_EQ(j.alloc[0].node_id, "b1");
  EXPECT_EQ(j.alloc[1].node_id, "b2");
  // A second 2-node gang cannot start on a1 + c1 (two sites): it waits whole.
  ASSERT_TRUE(s.Submit(MakeJob(2, 2, 2), 0).ok());
  EXPECT_TRUE(s.Schedule(0, kRich).empty());
  EXPECT_EQ(s.FindJob(2)->reason, "Resources");
  EXPECT_TRUE(s.FindNode("a1")->jobs.empty());
}

TEST_F(SchedulerTest, NeverFeasibleRequestSaysBadConstraints) {
  s.UpsertNode(MakeNode("n1", 2, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 8), 0).ok());
  s.Schedule(0, kRich);
  EXPECT_EQ(s.FindJob(1)->state, JobState::kPending);
  EXPECT_EQ(s.FindJob(1)->reason, "BadConstraints");
  // Once a big enough node joins, it runs.
  s.UpsertNode(MakeNode("n2", 8, T, "a"));
  EXPECT_EQ(s.Schedule(1, kRich).size(), 1u);
}

TEST_F(SchedulerTest, InsufficientFundsStaysPending) {
  s.UpsertNode(MakeNode("n1", 2, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 1), 0).ok());
  auto d = s.Schedule(0, [](const Job&, Micros) { return false; });
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(s.FindJob(1)->reason, "InsufficientFunds");
  EXPECT_EQ(s.FindNode("n1")->GpusFree(), 2);
}

TEST_F(SchedulerTest, PriceCapFiltersNodesAndBoundsHold) {
  s.UpsertNode(MakeNode("n1", 2, 5 * T, "a"));
  Job j = MakeJob(1, 1, 1, 3600);
  j.spec.gm_max_price = 4 * T;
  ASSERT_TRUE(s.Submit(j, 0).ok());
  EXPECT_TRUE(s.Schedule(0, kRich).empty());
  s.UpsertNode(MakeNode("n2", 2, 3 * T, "a"));
  auto d = s.Schedule(0, kRich);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].hold, 4 * T);  // the cap, not the ask, bounds the worst case
}

TEST_F(SchedulerTest, GpusAreNeverGivenTwice) {
  s.UpsertNode(MakeNode("n1", 4, T, "a"));
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(s.Submit(MakeJob(i, 1, 2), 0).ok());
  EXPECT_EQ(s.Schedule(0, kRich).size(), 2u);
  EXPECT_EQ(s.FindJob(3)->state, JobState::kPending);
  std::set<int> seen;
  for (int i = 1; i <= 2; ++i)
    for (int g : s.FindJob(i)->alloc[0].gpu_indices) EXPECT_TRUE(seen.insert(g).second);
  s.FinishJob(1, JobState::kCompleted, 0, 0, 10);
  EXPECT_EQ(s.Schedule(10, kRich).size(), 1u);
  EXPECT_EQ(s.FindJob(3)->alloc[0].gpu_indices, s.FindJob(1)->alloc[0].gpu_indices);
}

TEST_F(SchedulerTest, ExclusiveTakesWholeNode) {
  s.UpsertNode(MakeNode("n1", 4, T, "a"));
  Job j = MakeJob(1, 1, 1);
  j.spec.exclusive = true;
  ASSERT_TRUE(s.Submit(j, 0).ok());
  ASSERT_TRUE(s.Submit(MakeJob(2, 1, 1), 0).ok());
  s.Schedule(0, kRich);
  EXPECT_EQ(s.FindJob(1)->alloc[0].gpu_indices.size(), 4u);
  EXPECT_EQ(s.FindJob(2)->state, JobState::kPending);
}

TEST_F(SchedulerTest, CancelPendingIsImmediateRunningGoesThroughCompleting) {
  s.UpsertNode(MakeNode("n1", 1, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 1), 0).ok());
  ASSERT_TRUE(s.Submit(MakeJob(2, 1, 1), 0).ok());
  s.Schedule(0, kRich);
  EXPECT_TRUE(s.Cancel(2, 1));
  EXPECT_EQ(s.FindJob(2)->state, JobState::kCancelled);
  EXPECT_FALSE(s.Cancel(1, 1));
  EXPECT_EQ(s.FindJob(1)->state, JobState::kCompleting);
  s.FinishJob(1, JobState::kFailed, 0, 15, 2);  // killed by SIGTERM, but it was a cancel
  EXPECT_EQ(s.FindJob(1)->state, JobState::kCancelled);
  EXPECT_EQ(s.FindNode("n1")->GpusFree(), 1);
}

TEST_F(SchedulerTest, TimeLimitMovesToCompletingThenTimeout) {
  s.UpsertNode(MakeNode("n1", 1, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 1, 60), 0).ok());
  s.Schedule(0, kRich);
  s.Heartbeat("n1", 59'000);
  EXPECT_TRUE(s.Tick(59'000).jobs_hit_limit.empty());
  s.Heartbeat("n1", 60'000);
  auto r = s.Tick(60'000);
  ASSERT_EQ(r.jobs_hit_limit, std::vector<int64_t>{1});
  s.FinishJob(1, JobState::kFailed, 0, 15, 61'000);
  EXPECT_EQ(s.FindJob(1)->state, JobState::kTimeout);
}

TEST_F(SchedulerTest, SilentNodeGoesDownAndItsJobsAreReported) {
  s.UpsertNode(MakeNode("n1", 1, T, "a"));
  s.UpsertNode(MakeNode("n2", 1, T, "a"));
  s.Heartbeat("n1", 0);
  s.Heartbeat("n2", 0);
  ASSERT_TRUE(s.Submit(MakeJob(1, 2, 1), 0).ok());
  s.Schedule(0, kRich);
  s.Heartbeat("n1", 29'000);
  auto r = s.Tick(31'000);
  EXPECT_EQ(r.nodes_lost, std::vector<std::string>{"n2"});
  EXPECT_EQ(r.jobs_on_lost, std::vector<int64_t>{1});
  s.Requeue(1, 31'000, "NodeFail", true);
  const Job& j = *s.FindJob(1);
  EXPECT_EQ(j.state, JobState::kPending);
  EXPECT_EQ(j.attempt, 1);
  EXPECT_EQ(s.FindNode("n1")->GpusFree(), 1);
  EXPECT_EQ(s.FindNode("n2")->DisplayState(), "down");
  // n2 is down, so the 2-node job cannot restart yet.
  EXPECT_TRUE(s.Schedule(31'000, kRich).empty());
}

TEST_F(SchedulerTest, DependencyAfterOkAndNeverSatisfied) {
  s.UpsertNode(MakeNode("n1", 2, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 1), 0).ok());
  Job b = MakeJob(2, 1, 1);
  b.spec.dependency = "afterok:1";
  ASSERT_TRUE(s.Submit(b, 0).ok());
  Job c = MakeJob(3, 1, 1);
  c.spec.dependency = "afternotok:1";
  ASSERT_TRUE(s.Submit(c, 0).ok());
  s.Schedule(0, kRich);
  EXPECT_EQ(s.FindJob(2)->reason, "Dependency");
  s.FinishJob(1, JobState::kCompleted, 0, 0, 5);
  s.Schedule(5, kRich);
  EXPECT_EQ(s.FindJob(2)->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(3)->reason, "DependencyNeverSatisfied");
}

TEST_F(SchedulerTest, HeldJobWaits) {
  s.UpsertNode(MakeNode("n1", 1, T, "a"));
  Job j = MakeJob(1, 1, 1);
  j.spec.hold = true;
  ASSERT_TRUE(s.Submit(j, 0).ok());
  EXPECT_TRUE(s.Schedule(0, kRich).empty());
  EXPECT_EQ(s.FindJob(1)->reason, "JobHeldUser");
}

TEST_F(SchedulerTest, RestoreRetakesAllocation) {
  s.UpsertNode(MakeNode("n1", 2, T, "a"));
  Job j = MakeJob(5, 1, 1);
  j.state = JobState::kRunning;
  j.alloc = {NodeAlloc{"n1", {1}, 1, 0, T}};
  s.Restore(j);
  EXPECT_EQ(s.FindNode("n1")->GpusFree(), 1);
  ASSERT_TRUE(s.Submit(MakeJob(6, 1, 1), 0).ok());
  s.Schedule(0, kRich);
  EXPECT_EQ(s.FindJob(6)->alloc[0].gpu_indices, std::vector<int>{0});
}

TEST_F(SchedulerTest, BackfillStartsShortJobButNeverDelaysTheReservation) {
  s.UpsertNode(MakeNode("n1", 4, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 2, 600), 0).ok());   // runs until t=600
  s.Schedule(0, kRich);
  ASSERT_TRUE(s.Submit(MakeJob(2, 1, 4, 600), 1).ok());   // needs the whole node: waits for t=600
  ASSERT_TRUE(s.Submit(MakeJob(3, 1, 2, 300), 2).ok());   // fits now and ends at 302 < 600: backfills
  ASSERT_TRUE(s.Submit(MakeJob(4, 1, 2, 3600), 3).ok());  // fits now but would delay job 2: waits
  auto d = s.Schedule(3'000, kRich);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].job_id, 3);
  EXPECT_EQ(s.FindJob(2)->reason, "Resources");
  EXPECT_EQ(s.FindJob(2)->expected_start_ms, 600'000);
  EXPECT_EQ(s.FindJob(4)->reason, "Priority");
  // At t=600 both jobs end; job 2 starts at its reservation.
  s.FinishJob(1, JobState::kCompleted, 0, 0, 600'000);
  s.FinishJob(3, JobState::kCompleted, 0, 0, 303'000);
  auto d2 = s.Schedule(600'000, kRich);
  ASSERT_GE(d2.size(), 1u);
  EXPECT_EQ(d2[0].job_id, 2);
}

TEST_F(SchedulerTest, WithoutBackfillLowerJobsWaitBehindTheBlockedOne) {
  Options o;
  o.backfill = false;
  Scheduler strict(o);
  strict.UpsertNode(MakeNode("n1", 4, T, "a"));
  ASSERT_TRUE(strict.Submit(MakeJob(1, 1, 2, 600), 0).ok());
  strict.Schedule(0, kRich);
  ASSERT_TRUE(strict.Submit(MakeJob(2, 1, 4, 600), 1).ok());
  ASSERT_TRUE(strict.Submit(MakeJob(3, 1, 2, 60), 2).ok());
  EXPECT_TRUE(strict.Schedule(3'000, kRich).empty());
  EXPECT_EQ(strict.FindJob(3)->reason, "Priority");
}

TEST_F(SchedulerTest, InfeasibleReasonsSaySpecificallyWhy) {
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 1), 0).ok());
  s.Schedule(0, kRich);
  EXPECT_EQ(s.FindJob(1)->reason, "NoVerifiedNodes");  // nobody attached yet
  Node pricey = MakeNode("n1", 2, 5 * T, "a");
  pricey.trust_level = 2;
  s.UpsertNode(pricey);
  Job capped = MakeJob(2, 1, 1);
  capped.spec.gm_max_price = 1 * T;
  ASSERT_TRUE(s.Submit(capped, 0).ok());
  Job picky = MakeJob(3, 1, 1);
  picky.spec.gm_min_trust = 3;
  ASSERT_TRUE(s.Submit(picky, 0).ok());
  Job typed = MakeJob(4, 1, 1);
  typed.spec.gpu_type = "a100";
  ASSERT_TRUE(s.Submit(typed, 0).ok());
  s.Schedule(1, kRich);
  EXPECT_EQ(s.FindJob(2)->reason, "PriceCapTooLow");
  EXPECT_EQ(s.FindJob(3)->reason, "TrustLevel");
  EXPECT_EQ(s.FindJob(4)->reason, "BadConstraints");
  EXPECT_EQ(s.FindJob(1)->state, JobState::kRunning);
}

TEST_F(SchedulerTest, DownNodesMakeReqNodeNotAvail) {
  s.UpsertNode(MakeNode("n1", 1, T, "a"));
  s.Heartbeat("n1", 0);
  s.Tick(60'000);  // silent: DOWN
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 1), 60'000).ok());
  s.Schedule(60'000, kRich);
  EXPECT_EQ(s.FindJob(1)->reason, "ReqNodeNotAvail");
  Node back = MakeNode("n1", 1, T, "a");  // registering anew brings it back
  s.UpsertNode(back);
  EXPECT_EQ(s.Schedule(61'000, kRich).size(), 1u);
}

TEST_F(SchedulerTest, CloseSitesFormOneLocalityGroup) {
  s.UpsertNode(MakeNode("a1", 2, T, "fra1"));
  s.UpsertNode(MakeNode("b1", 2, T, "fra2"));
  s.UpsertNode(MakeNode("c1", 2, T, "nyc1"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 2, 2), 0).ok());
  s.Schedule(0, kRich);
  EXPECT_EQ(s.FindJob(1)->reason, "BadConstraints");  // no site has two nodes
  s.SetSiteRtts({{"fra1", "fra2", 1.2}, {"fra1", "nyc1", 80}});
  auto d = s.Schedule(1, kRich);
  ASSERT_EQ(d.size(), 1u);
  std::set<std::string> used;
  for (const auto& a : s.FindJob(1)->alloc) used.insert(a.node_id);
  EXPECT_EQ(used, (std::set<std::string>{"a1", "b1"}));
  EXPECT_EQ(s.GroupOf(*s.FindNode("b1")), "fra1");
}

TEST(SchedulerPartitionTest, PartitionsSelectNodesAndLimits) {
  Options o;
  Partition gpu;
  gpu.name = "gpu";
  gpu.is_default = true;
  gpu.gpu_models = {"H100"};
  gpu.max_time_s = 3600;
  Partition cheap;
  cheap.name = "cheap";
  cheap.gpu_models = {"T4"};
  o.partitions = {gpu, cheap};
  ASSERT_TRUE(Scheduler::ValidateOptions(o).ok());
  Scheduler s(o);
  Node h = MakeNode("h1", 2, T, "a");
  Node t = MakeNode("t1", 2, T / 10, "a");
  t.gpu_model = "T4";
  s.UpsertNode(h);
  s.UpsertNode(t);
  Job j = MakeJob(1, 1, 1);
  j.spec.partition = "";  // the default: gpu
  ASSERT_TRUE(s.Submit(j, 0).ok());
  EXPECT_EQ(s.FindJob(1)->spec.partition, "gpu");
  Job k = MakeJob(2, 1, 1);
  k.spec.partition = "cheap";
  ASSERT_TRUE(s.Submit(k, 0).ok());
  Job too_long = MakeJob(3, 1, 1, 7200);
  ASSERT_TRUE(s.Submit(too_long, 0).ok());
  Job bad = MakeJob(4, 1, 1);
  bad.spec.partition = "nope";
  Status st = s.Submit(bad, 0);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("nope"), std::string::npos);
  s.Schedule(0, kRich);
  EXPECT_EQ(s.FindJob(1)->alloc[0].node_id, "h1");
  EXPECT_EQ(s.FindJob(2)->alloc[0].node_id, "t1");
  EXPECT_EQ(s.FindJob(3)->reason, "PartitionTimeLimit");
  EXPECT_EQ(s.PartitionNodeCount(*s.FindPartition("gpu")), 1);
}

TEST(SchedulerPartitionTest, InvalidOptionsAreRefused) {
  Options o;
  o.policy = "magic";
  EXPECT_FALSE(Scheduler::ValidateOptions(o).ok());
  Options two;
  Partition a, b;
  a.name = "a";
  b.name = "b";
  a.is_default = b.is_default = true;
  two.partitions = {a, b};
  EXPECT_FALSE(Scheduler::ValidateOptions(two).ok());
}

TEST_F(SchedulerTest, ArrayTaskLimitCapsRunningTasks) {
  s.UpsertNode(MakeNode("n1", 8, T, "a"));
  for (int t = 0; t < 5; ++t) {
    Job j = MakeJob(10 + t, 1, 1);
    j.array_job_id = 10;
    j.array_task_id = t;
    j.spec.array_max_running = 2;
    ASSERT_TRUE(s.Submit(j, 0).ok());
  }
  EXPECT_EQ(s.Schedule(0, kRich).size(), 2u);
  EXPECT_EQ(s.FindJob(12)->reason, "JobArrayTaskLimit");
  s.FinishJob(10, JobState::kCompleted, 0, 0, 5);
  auto d = s.Schedule(5, kRich);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].job_id, 12);
}

TEST_F(SchedulerTest, FairShareOrdersCompetingUsers) {
  s.UpsertNode(MakeNode("n1", 1, T, "a"));
  s.fairshare().AddUsage("heavy", 1e6, 0);
  Job h = MakeJob(1, 1, 1);
  h.payer = "heavy";
  Job l = MakeJob(2, 1, 1);
  l.payer = "light";
  ASSERT_TRUE(s.Submit(h, 0).ok());
  ASSERT_TRUE(s.Submit(l, 0).ok());
  auto d = s.Schedule(0, kRich);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].job_id, 2);  // the light user goes first despite the later id
  EXPECT_GT(s.Priority(*s.FindJob(2), 0).fairshare, s.Priority(*s.FindJob(1), 0).fairshare);
}

TEST_F(SchedulerTest, RequeueRecordsAttemptsAndUsage) {
  s.UpsertNode(MakeNode("n1", 1, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 1), 0).ok());
  s.Schedule(0, kRich);
  s.Requeue(1, 10'000, "NodeFail: n1 stopped answering", /*provider_fault=*/true);
  const Job& j = *s.FindJob(1);
  ASSERT_EQ(j.history.size(), 1u);
  EXPECT_EQ(j.history[0].state, JobState::kNodeFail);
  EXPECT_EQ(j.history[0].node_ids, std::vector<std::string>{"n1"});
  EXPECT_DOUBLE_EQ(s.fairshare().Usage("alice", 10'000), 0);  // provider's fault: not the user's usage
  s.Schedule(10'000, kRich);
  s.Requeue(1, 20'000, "requeued by alice", /*provider_fault=*/false);
  EXPECT_EQ(s.FindJob(1)->history[1].state, JobState::kRequeued);
  EXPECT_NEAR(s.fairshare().Usage("alice", 20'000), 10, 1e-6);  // 1 GPU × 10 s
}

TEST_F(SchedulerTest, HoldReleaseAndUpdate) {
  s.UpsertNode(MakeNode("n1", 1, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 1), 0).ok());
  ASSERT_TRUE(s.Hold(1, /*by_admin=*/true).ok());
  s.Schedule(0, kRich);
  EXPECT_EQ(s.FindJob(1)->reason, "JobHeldAdmin");
  EXPECT_EQ(s.Release(1, false).code(), Status::Code::kPermissionDenied);
  JobUpdate u;
  u.time_limit_s = 120;
  u.qos = "high";
  ASSERT_TRUE(s.Update(1, u).ok());
  u.qos = "platinum";
  EXPECT_FALSE(s.Update(1, u).ok());
  ASSERT_TRUE(s.Release(1, true).ok());
  s.Schedule(1, kRich);
  EXPECT_EQ(s.FindJob(1)->state, JobState::kRunning);
  EXPECT_EQ(s.FindJob(1)->time_limit_s, 120);
  EXPECT_EQ(s.Hold(1, false).code(), Status::Code::kFailedPrecondition);
}

TEST_F(SchedulerTest, UnverifiedNodeGetsNoWorkUntilVerified) {
  Node n = MakeNode("n1", 1, T, "a");
  n.verification = NodeTrust::kPending;
  s.UpsertNode(n);
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 1), 0).ok());
  s.Schedule(0, kRich);
  EXPECT_EQ(s.FindJob(1)->reason, "NoVerifiedNodes");
  EXPECT_EQ(s.FindNode("n1")->DisplayState(), "pend");
  s.MutateNode("n1", [](Node& m) { m.verification = NodeTrust::kVerified; });
  EXPECT_EQ(s.Schedule(1, kRich).size(), 1u);
}

TEST_F(SchedulerTest, StoppingJobOnALostNodeEndsInsteadOfRunningAgain) {
  s.UpsertNode(MakeNode("n1", 1, T, "a"));
  s.UpsertNode(MakeNode("n2", 1, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 1, 600), 0).ok());
  ASSERT_TRUE(s.Submit(MakeJob(2, 1, 1, 60), 0).ok());
  s.Schedule(0, kRich);
  EXPECT_FALSE(s.Cancel(1, 1'000));                 // COMPLETING, heading for CANCELLED
  s.Heartbeat("n1", 60'000);
  s.Heartbeat("n2", 60'000);
  s.Tick(60'000);                                   // job 2 hits its limit: heading for TIMEOUT
  auto r = s.Tick(200'000);                         // both nodes fall silent
  ASSERT_EQ(r.jobs_on_lost.size(), 2u);
  for (int64_t id : r.jobs_on_lost) s.Requeue(id, 200'000, "NodeFail", true);
  EXPECT_EQ(s.FindJob(1)->state, JobState::kCancelled);
  EXPECT_EQ(s.FindJob(2)->state, JobState::kTimeout);
  EXPECT_EQ(s.FindJob(1)->attempt, 0);
}

TEST_F(SchedulerTest, ReregistrationWithLessThanHeldKeepsHoldsAndDrains) {
  s.UpsertNode(MakeNode("n1", 4, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 4), 0).ok());
  ASSERT_EQ(s.Schedule(0, kRich).size(), 1u);
  Node fewer = MakeNode("n1", 2, T, "a");
  fewer.cpus = 0;
  s.UpsertNode(fewer);
  const Node& n = *s.FindNode("n1");
  EXPECT_EQ(n.gpus, 4);  // the held GPUs stay counted until the job ends
  EXPECT_GE(n.cpus, n.cpus_used);
  EXPECT_TRUE(n.drain);
  EXPECT_NE(n.drain_reason.find("re-registered"), std::string::npos);
}

TEST_F(SchedulerTest, NothingJoinsAnExclusiveJobEvenAfterTheNodeGrows) {
  s.UpsertNode(MakeNode("n1", 1, T, "a", 1));
  Job ex = MakeJob(1, 1, 0);
  ex.spec.exclusive = true;
  ASSERT_TRUE(s.Submit(ex, 0).ok());
  ASSERT_EQ(s.Schedule(0, kRich).size(), 1u);
  s.UpsertNode(MakeNode("n1", 2, T, "a", 8));  // more CPUs and GPUs appear
  ASSERT_TRUE(s.Submit(MakeJob(2, 1, 1), 1).ok());
  EXPECT_TRUE(s.Schedule(1, kRich).empty());
  EXPECT_EQ(s.FindJob(2)->state, JobState::kPending);
}

TEST_F(SchedulerTest, ReservationSeesWhatAnExclusiveJobWillFree) {
  s.UpsertNode(MakeNode("n1", 1, T, "a"));
  s.UpsertNode(MakeNode("n2", 1, T, "a"));
  Job ex = MakeJob(1, 1, 1, 100);
  ex.spec.exclusive = true;
  ASSERT_TRUE(s.Submit(ex, 0).ok());
  ASSERT_TRUE(s.Submit(MakeJob(2, 1, 1, 600), 0).ok());
  ASSERT_EQ(s.Schedule(0, kRich).size(), 2u);
  Job big = MakeJob(3, 2, 1, 60);
  big.spec.mem_per_node_mb = 16'000;
  ASSERT_TRUE(s.Submit(big, 1).ok());
  s.Schedule(1, kRich);
  EXPECT_EQ(s.FindJob(3)->reason, "Resources");
  EXPECT_EQ(s.FindJob(3)->expected_start_ms, 600'000);  // when both nodes are free again
}

// ---- incremental passes ------------------------------------------------------------

Options IncrementalOnly() {
  Options o;
  o.full_pass_interval_ms = int64_t{1} << 50;  // full passes only when something asks for one
  return o;
}

TEST(SchedulerIncrementalTest, AJobWaitingForRoomStartsWhenANodeGainsIt) {
  Scheduler s(IncrementalOnly());
  s.UpsertNode(MakeNode("n1", 2, T, "a"));
  s.UpsertNode(MakeNode("n2", 2, 2 * T, "b"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 2), 0).ok());
  ASSERT_TRUE(s.Submit(MakeJob(2, 1, 2), 0).ok());
  ASSERT_EQ(s.Schedule(0, kRich).size(), 2u);   // the full pass fills both nodes
  ASSERT_TRUE(s.Submit(MakeJob(3, 1, 1), 1).ok());
  EXPECT_TRUE(s.Schedule(1, kRich).empty());    // nothing has room
  EXPECT_EQ(s.FindJob(3)->reason, "Resources");
  s.FinishJob(2, JobState::kCompleted, 0, 0, 2'000);
  auto d = s.Schedule(2'000, kRich);            // incremental: only n2 gained room
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].job_id, 3);
  EXPECT_EQ(s.FindJob(3)->alloc[0].node_id, "n2");
}

TEST(SchedulerIncrementalTest, ReservationViewNamesItsJobTimeAndNodes) {
  Scheduler s(IncrementalOnly());
  s.UpsertNode(MakeNode("n1", 4, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 2, 600), 0).ok());
  s.Schedule(0, kRich);
  EXPECT_FALSE(s.reservation());                // nobody waits
  ASSERT_TRUE(s.Submit(MakeJob(2, 1, 4, 600), 1).ok());
  s.Schedule(1'000, kRich);
  auto r = s.reservation();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->job_id, 2);
  EXPECT_EQ(r->start_ms, 600'000);
  EXPECT_EQ(r->node_ids, std::vector<std::string>{"n1"});
  s.FinishJob(1, JobState::kCompleted, 0, 0, 5'000);
  ASSERT_EQ(s.Schedule(5'000, kRich).size(), 1u);  // job 2 starts early: no one waits any more
  EXPECT_FALSE(s.reservation());
}

TEST(SchedulerIncrementalTest, AHigherJobTakingTheReservedNodeMovesTheReservation) {
  Scheduler s(IncrementalOnly());
  s.UpsertNode(MakeNode("n1", 2, T, "a"));
  s.UpsertNode(MakeNode("n2", 2, T, "b"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 2, 600), 0).ok());    // n1 until 600
  ASSERT_TRUE(s.Submit(MakeJob(2, 1, 2, 1200), 0).ok());   // n2 until 1200
  ASSERT_EQ(s.Schedule(0, kRich).size(), 2u);
  ASSERT_TRUE(s.Submit(MakeJob(3, 1, 2, 600), 1).ok());
  s.Schedule(1'000, kRich);
  ASSERT_EQ(s.FindJob(3)->expected_start_ms, 600'000);     // on n1, when job 1 ends
  // A job of higher priority arrives, and n1 comes free: the new job takes it
  // and job 3's reservation must move to n2's end instead of staying at 600.
  Job urgent = MakeJob(4, 1, 2, 3600);
  urgent.spec.nice = -100000;
  ASSERT_TRUE(s.Submit(urgent, 2'000).ok());
  s.FinishJob(1, JobState::kCompleted, 0, 0, 2'000);
  auto d = s.Schedule(2'000, kRich);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].job_id, 4);
  EXPECT_EQ(s.FindJob(3)->reason, "Resources");
  EXPECT_EQ(s.FindJob(3)->expected_start_ms, 1'200'000);
}

TEST(SchedulerIncrementalTest, PrioritiesAreRecomputedAtFullPasses) {
  Options o;
  o.full_pass_interval_ms = 60'000;
  o.priority.fairshare = 0;  // age alone orders the queue here
  o.priority.job_size = 0;
  o.priority.qos = 0;
  o.priority.max_age_s = 100;
  Scheduler s(o);
  s.UpsertNode(MakeNode("n1", 1, T, "a"));
  ASSERT_TRUE(s.Submit(MakeJob(1, 1, 1, 600), 0).ok());
  s.Schedule(0, kRich);                                    // full pass; job 1 runs
  ASSERT_TRUE(s.Submit(MakeJob(2, 1, 1), 0).ok());
  s.Schedule(10'000, kRich);                               // incremental: job 2's priority is set once
  double before = s.FindJob(2)->priority;
  s.Schedule(30'000, kRich);                               // still within the interval
  EXPECT_EQ(s.FindJob(2)->priority, before);
  s.Schedule(70'000, kRich);                               // a full pass: job 2 has aged
  EXPECT_GT(s.FindJob(2)->priority, before);
}

TEST(SchedulerIncrementalTest, ANodeWithNoFreeCpuTakesNoGpuJob) {
  Scheduler s(IncrementalOnly());
  s.UpsertNode(MakeNode("n1", 4, T, "a", /*cpus=*/2));
  Job cpu_heavy = MakeJob(1, 1, 1);
  cpu_heavy.spec.cpus_per_task = 2;                        // all the node's CPUs, one of its GPUs
  ASSERT_TRUE(s.Submit(cpu_heavy, 0).ok());
  ASSERT_EQ(s.Schedule(0, kRich).size(), 1u);
  ASSERT_TRUE(s.Submit(MakeJob(2, 1, 1), 1).ok());
  EXPECT_TRUE(s.Schedule(1'000, kRich).empty());           // three GPUs free, no CPU
  EXPECT_EQ(s.FindNode("n1")->GpusFree(), 3);
  EXPECT_EQ(s.FindJob(2)->reason, "Resources");
}

TEST(JobStateTest, NamesAndCodesAsSlurm) {
  EXPECT_STREQ(JobStateCode(JobState::kPending), "PD");
  EXPECT_STREQ(JobStateCode(JobState::kCompleting), "CG");
  EXPECT_STREQ(JobStateCode(JobState::kNodeFail), "NF");
  EXPECT_STREQ(JobStateName(JobState::kTimeout), "TIMEOUT");
  EXPECT_EQ(JobStateFromName("CANCELLED"), JobState::kCancelled);
  EXPECT_EQ(JobStateFromName("CD"), JobState::kCompleted);
  EXPECT_FALSE(JobStateFromName("BOGUS").has_value());
}

}  // namespace
}  // namespace gm::sched
