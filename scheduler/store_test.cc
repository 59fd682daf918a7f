// Tests of the controller's persistence: jobs and nodes round-trip through
// SQLite, ledger transactions apply once, counters survive a reopen.
#include "scheduler/store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/crypto.h"
#include "scheduler/state_json.h"
#include "tests/support/pg_server.h"

namespace gm {
namespace {

// The same suite runs on both stores: SQLite (embedded) and a real
// PostgreSQL server started for this test program.
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("gm-store-" + RandomHex(4));
    std::filesystem::create_directories(dir_);
    auto spec = testing::TestDatabase(GetParam(), dir_.string());
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    spec_ = *spec;
    Open();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    store_.reset();
    auto db = OpenDatabase(spec_);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    store_ = std::make_unique<ControllerStore>(std::move(db).value());
    ASSERT_TRUE(store_->Migrate().ok());
  }
  std::filesystem::path dir_;
  std::string spec_;
  std::unique_ptr<ControllerStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

sched::Job SampleJob() {
  sched::Job j;
  j.id = 42;
  j.user = j.payer = "alice";
  j.spec.job_name = "train";
  j.spec.nodes_min = j.spec.nodes_max = 2;
  j.spec.gpus_per_node = 4;
  j.spec.script = "#!/bin/sh\necho hi\n";
  j.spec.environment = {{"A", "1"}};
  j.state = sched::JobState::kRunning;
  j.attempt = 1;
  j.start_ms = 1000;
  j.time_limit_s = 600;
  j.alloc = {{"n1", {0, 1, 2, 3}, 4, 0, 2'000'000}, {"n2", {4, 5, 6, 7}, 4, 0, 3'000'000}};
  j.held = 123;
  j.completing_to = sched::JobState::kCancelled;
  return j;
}

TEST_P(StoreTest, JobRoundTripsEveryField) {
  sched::Job j = SampleJob();
  ASSERT_TRUE(store_->SaveJob(j).ok());
  j.state = sched::JobState::kCompleting;  // an update replaces the row
  ASSERT_TRUE(store_->SaveJob(j).ok());
  Open();
  auto jobs = store_->LoadJobs();
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  const sched::Job& k = (*jobs)[0];
  EXPECT_EQ(k.id, 42);
  EXPECT_EQ(k.state, sched::JobState::kCompleting);
  EXPECT_EQ(k.completing_to, sched::JobState::kCancelled);
  EXPECT_EQ(k.attempt, 1);
  EXPECT_EQ(k.spec.gpus_per_node, 4);
  EXPECT_EQ(k.spec.script, j.spec.script);
  EXPECT_EQ(k.spec.environment.at("A"), "1");
  ASSERT_EQ(k.alloc.size(), 2u);
  EXPECT_EQ(k.alloc[1].gpu_indices, (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(k.alloc[1].price, 3'000'000);
  EXPECT_EQ(k.held, 123);
}

TEST_P(StoreTest, NodeRoundTrip) {
  sched::Node n;
  n.id = "n7";
  n.name = "gpu07";
  n.provider = "acme";
  n.gpus = 8;
  n.gpu_model = "H100";
  n.price = 2'500'000;
  n.declared = true;
  n.site = "fra1";
  ASSERT_TRUE(store_->SaveNode(n).ok());
  auto nodes = store_->LoadNodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ((*nodes)[0].name, "gpu07");
  EXPECT_EQ((*nodes)[0].gpus, 8);
  EXPECT_EQ((*nodes)[0].price, 2'500'000);
  EXPECT_TRUE((*nodes)[0].declared);
  EXPECT_EQ((*nodes)[0].site, "fra1");
}

TEST_P(StoreTest, CountersPersist) {
  auto c = store_->GetCounter("next_job_id", 1);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 1);
  ASSERT_TRUE(store_->SetCounter("next_job_id", 17).ok());
  Open();
  EXPECT_EQ(*store_->GetCounter("next_job_id", 1), 17);
}

TEST_P(StoreTest, CorruptJobRowIsReportedNotIgnored) {
  ASSERT_TRUE(store_->db().Exec("INSERT INTO jobs(id, username, state, data) VALUES(1, 'x', 'PENDING', '{bad')").ok());
  auto jobs = store_->LoadJobs();
  ASSERT_FALSE(jobs.ok());
  EXPECT_EQ(jobs.status().code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace gm
