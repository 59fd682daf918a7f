// Tests of scoring, policies, feature expressions and indexed placement.
#include "scheduler/matcher.h"

#include <gtest/gtest.h>

namespace gm::sched {
namespace {

constexpr Micros T = kMicrosPerToken;

Node N(const std::string& id, int gpus, Micros price, const std::string& site, double rep = 0.5) {
  Node n;
  n.id = id;
  n.name = id;
  n.gpu_model = "H100";
  n.gpus = gpus;
  n.gpu_busy.assign(gpus, false);
  n.cpus = 16;
  n.mem_mb = 64000;
  n.price = price;
  n.site = site;
  n.reputation = rep;
  return n;
}

TEST(MatchScoreTest, EachTermMovesTheScoreTheRightWay) {
  ScoreWeights w;
  Node a = N("a", 1, 2 * T, "s"), b = a;
  b.price = 1 * T;
  EXPECT_GT(MatchScore(b, w), MatchScore(a, w));  // cheaper
  b = a;
  b.reputation = 0.9;
  EXPECT_GT(MatchScore(b, w), MatchScore(a, w));
  b = a;
  b.latency_ms = 150;
  EXPECT_LT(MatchScore(b, w), MatchScore(a, w));
  b = a;
  b.tflops = 500;
  EXPECT_GT(MatchScore(b, w), MatchScore(a, w));
  b = a;
  b.uptime = 0.5;
  EXPECT_LT(MatchScore(b, w), MatchScore(a, w));
}

TEST(MatchScoreTest, WeightsDecideTheTradeOff) {
  // Cheap but poorly reputed vs dear but trusted: the weights pick the winner.
  Node cheap = N("c", 1, T / 2, "s", 0.1), trusted = N("t", 1, 5 * T, "s", 0.99);
  ScoreWeights price_first;
  price_first.reputation = 0.1;
  ScoreWeights rep_first;
  rep_first.price = 0.1;
  rep_first.reputation = 2;
  EXPECT_GT(MatchScore(cheap, price_first), MatchScore(trusted, price_first));
  EXPECT_LT(MatchScore(cheap, rep_first), MatchScore(trusted, rep_first));
}

TEST(MatchScoreTest, TermsAreClampedToTheirScale) {
  ScoreWeights w;
  Node a = N("a", 1, 100 * T, "s"), b = N("b", 1, 200 * T, "s");  // both above the 10-token scale
  EXPECT_DOUBLE_EQ(MatchScore(a, w), MatchScore(b, w));
}

TEST(PolicyTest, UnknownPolicyIsAnError) {
  auto k = MakeKeyFn("best-effort", ScoreWeights{}, 1);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("best-effort"), std::string::npos);
}

TEST(FeaturesTest, AndOrSingle) {
  std::set<std::string> f = {"ib", "nvlink"};
  EXPECT_TRUE(FeaturesMatch(f, ""));
  EXPECT_TRUE(FeaturesMatch(f, "ib"));
  EXPECT_TRUE(FeaturesMatch(f, "ib&nvlink"));
  EXPECT_FALSE(FeaturesMatch(f, "ib&roce"));
  EXPECT_TRUE(FeaturesMatch(f, "roce|nvlink"));
  EXPECT_FALSE(FeaturesMatch(f, "roce|eth"));
}

class IndexTest : public ::testing::Test {
 protected:
  void Build(const std::string& policy = "score") {
    index = std::make_unique<NodeIndex>(&nodes, *MakeKeyFn(policy, ScoreWeights{}, 7));
    for (size_t i = 0; i < nodes.size(); ++i) index->Update(i);
  }
  std::vector<Node> nodes;
  std::unique_ptr<NodeIndex> index;
};

TEST_F(IndexTest, SingleNodeTakesHighestScore) {
  nodes = {N("a", 8, 3 * T, "s1"), N("b", 8, 1 * T, "s1"), N("c", 8, 2 * T, "s2")};
  Build();
  Demand d;
  d.gpus_per_node = 4;
  auto p = index->Place(d, nullptr);
  ASSERT_TRUE(p);
  EXPECT_EQ(nodes[(*p)[0]].id, "b");
  std::set<size_t> avoid = {1};
  p = index->Place(d, &avoid);
  EXPECT_EQ(nodes[(*p)[0]].id, "c");
}

TEST_F(IndexTest, TiesBreakByRegistrationOrder) {
  nodes = {N("z", 2, T, "s"), N("a", 2, T, "s")};
  Build();
  Demand d;
  d.gpus_per_node = 1;
  EXPECT_EQ(nodes[(*index->Place(d, nullptr))[0]].id, "z");
}

TEST_F(IndexTest, FirstFitPolicyIgnoresPrice) {
  nodes = {N("dear", 2, 9 * T, "s"), N("cheap", 2, T / 10, "s")};
  Build("fifo-firstfit");
  Demand d;
  d.gpus_per_node = 1;
  EXPECT_EQ(nodes[(*index->Place(d, nullptr))[0]].id, "dear");
  Build("cheapest");
  EXPECT_EQ(nodes[(*index->Place(d, nullptr))[0]].id, "cheap");
}

TEST_F(IndexTest, GangPicksGroupWithBestSummedScore) {
  nodes = {N("a1", 4, 1 * T, "A"), N("a2", 4, 9 * T, "A"),   // one great, one poor
           N("b1", 4, 3 * T, "B"), N("b2", 4, 3 * T, "B"),   // two decent
           N("c1", 4, T / 10, "C")};                         // best, but alone
  Build();
  Demand d;
  d.nodes = 2;
  d.gpus_per_node = 4;
  auto p = index->Place(d, nullptr);
  ASSERT_TRUE(p);
  EXPECT_EQ(nodes[(*p)[0]].site, "B");
  EXPECT_EQ(nodes[(*p)[1]].site, "B");
}

TEST_F(IndexTest, UsageChangesAreSeenAfterUpdate) {
  nodes = {N("a", 2, T, "s")};
  Build();
  Demand d;
  d.gpus_per_node = 2;
  ASSERT_TRUE(index->Place(d, nullptr));
  nodes[0].gpu_busy[0] = true;
  index->Update(0);
  EXPECT_FALSE(index->Place(d, nullptr));
  d.gpus_per_node = 1;
  EXPECT_TRUE(index->Place(d, nullptr));
}

TEST_F(IndexTest, StaticMisfitNamesTheFirstFailedCheck) {
  nodes = {N("a", 2, 5 * T, "s")};
  nodes[0].region = "eu";
  nodes[0].trust_level = 2;
  Build();
  Demand d;
  d.gpus_per_node = 1;
  d.gpu_type = "a100";
  EXPECT_EQ(index->StaticMisfit(nodes[0], d), Misfit::kGpuType);
  d.gpu_type = "h100";  // case-insensitive, as Slurm's gres types
  EXPECT_EQ(index->StaticMisfit(nodes[0], d), Misfit::kNone);
  d.region = "us";
  EXPECT_EQ(index->StaticMisfit(nodes[0], d), Misfit::kRegion);
  d.region = "";
  d.max_price = 4 * T;
  EXPECT_EQ(index->StaticMisfit(nodes[0], d), Misfit::kPrice);
  d.max_price = 0;
  d.min_trust = 3;
  EXPECT_EQ(index->StaticMisfit(nodes[0], d), Misfit::kTrust);
  d.min_trust = 1;
  d.gpus_per_node = 3;
  EXPECT_EQ(index->StaticMisfit(nodes[0], d), Misfit::kSize);
}

TEST_F(IndexTest, DownOrUnverifiedNodesAreNotPlaced) {
  nodes = {N("a", 2, T, "s"), N("b", 2, 2 * T, "s")};
  nodes[0].verification = NodeTrust::kPending;
  Build();
  Demand d;
  d.gpus_per_node = 1;
  EXPECT_EQ(nodes[(*index->Place(d, nullptr))[0]].id, "b");
  nodes[1].up = false;
  index->Update(1);
  EXPECT_FALSE(index->Place(d, nullptr));
}

}  // namespace
}  // namespace gm::sched
