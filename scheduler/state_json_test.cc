// Tests of the JSON views the controller serves (scheduler/state_json.h).
#include "scheduler/state_json.h"

#include <gtest/gtest.h>

namespace gm::sched {
namespace {

constexpr Micros T = kMicrosPerToken;

Node GpuNode(const std::string& id, const std::string& model, int gpus, int busy, Micros price) {
  Node n;
  n.id = n.name = id;
  n.gpu_model = model;
  n.gpus = gpus;
  n.gpu_busy.assign(gpus, false);
  for (int g = 0; g < busy; ++g) n.gpu_busy[g] = true;
  n.price = price;
  return n;
}

Job Pending(int64_t id, int gpus, const std::string& type) {
  Job j;
  j.id = id;
  j.state = JobState::kPending;
  j.spec.gpus_per_node = gpus;
  j.spec.gpu_type = type;
  return j;
}

TEST(MarketSummaryTest, PerModelFiguresOverNodesTakingWork) {
  std::vector<Node> nodes = {GpuNode("a", "H100", 8, 2, 3 * T), GpuNode("b", "H100", 8, 8, 2 * T),
                             GpuNode("c", "H100", 4, 0, 5 * T), GpuNode("d", "A100", 4, 1, T),
                             GpuNode("e", "A100", 4, 0, T / 2), GpuNode("cpu", "", 0, 0, T)};
  nodes.push_back(GpuNode("drained", "H100", 8, 0, T / 10));
  nodes.back().drain = true;  // takes no work: not counted, its low ask included
  nodes.push_back(GpuNode("down", "A100", 8, 0, T / 10));
  nodes.back().up = false;
  std::map<int64_t, Job> jobs;
  jobs[1] = Pending(1, 2, "h100");  // gres types are matched without case
  jobs[2] = Pending(2, 1, "H100");
  jobs[3] = Pending(3, 1, "");      // any model
  jobs[4] = Pending(4, 0, "H100");  // no GPUs: not waiting for any
  jobs[5] = Pending(5, 1, "A100");
  jobs[5].state = JobState::kRunning;
  nlohmann::json m = MarketSummary(nodes, jobs);
  ASSERT_EQ(m["models"].size(), 2u);
  const auto& a100 = m["models"][0];
  EXPECT_EQ(a100["model"], "A100");
  EXPECT_EQ(a100["nodes"], 2);
  EXPECT_EQ(a100["gpus"], 8);
  EXPECT_EQ(a100["gpus_free"], 7);
  EXPECT_EQ(a100["lowest_ask"], T / 2);
  EXPECT_EQ(a100["median_ask"], T / 2);  // two asks: the lower middle one
  EXPECT_EQ(a100["jobs_waiting"], 0);
  EXPECT_DOUBLE_EQ(a100["utilisation"].get<double>(), 1.0 / 8);
  const auto& h100 = m["models"][1];
  EXPECT_EQ(h100["model"], "H100");
  EXPECT_EQ(h100["nodes"], 3);
  EXPECT_EQ(h100["gpus"], 20);
  EXPECT_EQ(h100["gpus_free"], 10);
  EXPECT_EQ(h100["lowest_ask"], 2 * T);
  EXPECT_EQ(h100["median_ask"], 3 * T);
  EXPECT_EQ(h100["jobs_waiting"], 2);
  EXPECT_DOUBLE_EQ(h100["utilisation"].get<double>(), 0.5);
  EXPECT_EQ(m["any_model_waiting"], 1);
}

}  // namespace
}  // namespace gm::sched
