// Tests of multifactor priority and fair-share decay.
#include "scheduler/priority.h"

#include <gtest/gtest.h>

#include <cmath>

namespace gm::sched {
namespace {

Job J(const std::string& payer, int64_t eligible_ms, int nodes = 1) {
  Job j;
  j.payer = payer;
  j.eligible_ms = eligible_ms;
  j.spec.nodes_min = nodes;
  return j;
}

TEST(FairShareTest, UsageHalvesEveryHalfLife) {
  FairShare fs(3600);
  fs.AddUsage("a", 100, 0);
  EXPECT_DOUBLE_EQ(fs.Usage("a", 0), 100);
  EXPECT_NEAR(fs.Usage("a", 3600'000), 50, 1e-9);
  EXPECT_NEAR(fs.Usage("a", 7200'000), 25, 1e-9);
  fs.AddUsage("a", 10, 3600'000);  // decayed, then added
  EXPECT_NEAR(fs.Usage("a", 3600'000), 60, 1e-9);
}

TEST(FairShareTest, HeavyUserGetsLowerFactor) {
  FairShare fs(86400);
  fs.AddUsage("heavy", 900, 0);
  fs.AddUsage("light", 100, 0);
  std::map<std::string, int> accounts = {{"heavy", 1}, {"light", 1}};
  double h = fs.Factor("heavy", accounts, 0), l = fs.Factor("light", accounts, 0);
  EXPECT_LT(h, l);
  // 2^(-U/S): U = 0.9, S = 0.5 -> 2^-1.8
  EXPECT_NEAR(h, std::exp2(-1.8), 1e-9);
  EXPECT_NEAR(fs.Factor("new", {{"new", 1}, {"heavy", 1}, {"light", 1}}, 0), 1.0, 1e-9);
}

TEST(FairShareTest, NoUsageMeansFullFactor) {
  FairShare fs(86400);
  EXPECT_DOUBLE_EQ(fs.Factor("a", {{"a", 1}}, 0), 1.0);
}

TEST(PriorityTest, AgeGrowsToItsCap) {
  PriorityWeights w;
  w.max_age_s = 100;
  std::map<std::string, int> qos = {{"normal", 0}};
  auto young = ComputePriority(J("a", 0), w, qos, 1, 10, 10'000);
  auto old = ComputePriority(J("a", 0), w, qos, 1, 10, 100'000);
  auto older = ComputePriority(J("a", 0), w, qos, 1, 10, 500'000);
  EXPECT_NEAR(young.age, 0.1, 1e-9);
  EXPECT_DOUBLE_EQ(old.age, 1.0);
  EXPECT_DOUBLE_EQ(older.age, 1.0);
  EXPECT_GT(old.total, young.total);
}

TEST(PriorityTest, SizeQosAndNice) {
  PriorityWeights w;
  std::map<std::string, int> qos = {{"normal", 0}, {"high", 100}, {"low", -100}};
  Job big = J("a", 0, 8), small = J("a", 0, 1);
  EXPECT_GT(ComputePriority(big, w, qos, 1, 16, 0).total, ComputePriority(small, w, qos, 1, 16, 0).total);
  Job hi = J("a", 0), lo = J("a", 0);
  hi.spec.qos = "high";
  lo.spec.qos = "low";
  auto fh = ComputePriority(hi, w, qos, 1, 16, 0), fl = ComputePriority(lo, w, qos, 1, 16, 0);
  EXPECT_DOUBLE_EQ(fh.qos, 1.0);
  EXPECT_DOUBLE_EQ(fl.qos, 0.0);
  Job nice = J("a", 0);
  nice.spec.nice = 500;
  EXPECT_DOUBLE_EQ(ComputePriority(small, w, qos, 1, 16, 0).total -
                       ComputePriority(nice, w, qos, 1, 16, 0).total,
                   500);
}

}  // namespace
}  // namespace gm::sched
