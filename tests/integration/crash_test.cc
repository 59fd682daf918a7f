// kill -9 of the controller while jobs run, finish and wait: after a restart
// (`gm local up --dir` again) no job, output or token is lost or doubled.
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "tests/integration/federation.h"
#include "tests/integration/money_rule.h"

namespace gm::itest {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kFund = 1000 * kMicrosPerToken;  // what gm local up gives the user

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = Federation::Up(/*workers=*/2, /*gpus_per_worker=*/2);
    ASSERT_TRUE(f.ok()) << f.status().message();
    fed_ = std::move(f).value();
  }

  // Job results the workers wrote but the controller has not acknowledged.
  int UndeliveredResults() const {
    int n = 0;
    std::error_code ec;
    for (int i = 1; i <= fed_->workers(); ++i)
      for (const auto& e : fs::directory_iterator(fed_->JobsRoot() + "/worker" + std::to_string(i), ec))
        n += fs::exists(e.path() / "result.json") && !fs::exists(e.path() / "acked");
    return n;
  }

  std::unique_ptr<Federation> fed_;
};

TEST_F(CrashTest, Kill9OfControllerLosesAndDoublesNothing) {
  const std::string user = Federation::kUser;
  // Each job prints a marker line naming itself; a job run twice would print
  // it twice or leave a second attempt behind.
  std::string quick = fed_->WriteScript("quick.sh", "#!/bin/bash\necho \"marker job=$SLURM_JOB_ID\"\n");
  std::string slow = fed_->WriteScript("slow.sh", "#!/bin/bash\necho \"marker job=$SLURM_JOB_ID\"\nsleep 3\n");

  std::vector<int64_t> ids;
  // Two quick jobs end before the crash.
  for (int i = 0; i < 2; ++i) {
    auto id = fed_->Submit(quick, {"--gres=gpu:1"});
    ASSERT_TRUE(id.ok()) << id.status().message();
    ids.push_back(*id);
  }
  for (int64_t id : {ids[0], ids[1]}) {
    auto done = fed_->WaitForState(id, {"COMPLETED"});
    ASSERT_TRUE(done.ok()) << done.status().message();
  }
  // Slow jobs take every slot (a GPU and a CPU each); two quick ones wait behind them.
  auto nodes = fed_->Nodes();
  ASSERT_TRUE(nodes.ok()) << nodes.status().message();
  int slots = 0;
  for (const auto& n : (*nodes)["nodes"]) slots += std::min(n["gpus"].get<int>(), n["cpus"].get<int>());
  ASSERT_GE(slots, 2);
  for (int i = 0; i < slots; ++i) {
    auto id = fed_->Submit(slow, {"--gres=gpu:1"});
    ASSERT_TRUE(id.ok()) << id.status().message();
    ids.push_back(*id);
  }
  for (int i = 0; i < 2; ++i) {
    auto id = fed_->Submit(quick, {"--gres=gpu:1"});
    ASSERT_TRUE(id.ok()) << id.status().message();
    ids.push_back(*id);
  }
  const size_t first_waiting = 2 + static_cast<size_t>(slots);
  for (size_t k = 2; k < first_waiting; ++k) {
    auto r = fed_->WaitForState(ids[k], {"RUNNING"});
    ASSERT_TRUE(r.ok()) << r.status().message();
  }
  for (size_t k = first_waiting; k < ids.size(); ++k) {
    auto j = fed_->Job(ids[k]);
    ASSERT_TRUE(j.ok());
    ASSERT_EQ((*j)["state"], "PENDING") << j->dump();
  }
  // The slow scripts really run on the workers.
  ASSERT_TRUE(WaitUntil([&] { return fed_->JobProcesses("sleep").size() == static_cast<size_t>(slots); },
                        Millis(10'000)))
      << fed_->JobProcesses("sleep").size() << " sleeps running\n" << fed_->Logs();

  ASSERT_TRUE(fed_->KillController9().ok());
  // While the controller is dead, jobs end on the workers and their results
  // wait there to be delivered.
  EXPECT_TRUE(WaitUntil([&] { return UndeliveredResults() >= 1; }, Millis(10'000)))
      << "no job ended while the controller was down";

  Status restarted = fed_->RestartLocal();
  ASSERT_TRUE(restarted.ok()) << restarted.message();

  std::vector<json> jobs;
  for (int64_t id : ids) {
    auto done = fed_->WaitForState(id, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"},
                                   Millis(60'000));
    ASSERT_TRUE(done.ok()) << done.status().message();
    jobs.push_back(*done);
  }
  // Every job is still there, each completed exactly once.
  auto all = fed_->Jobs();
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(all->size(), ids.size());
  int64_t charged = 0, treasury_fees = 0, burned = 0;
  std::map<std::string, int64_t> earned;
  for (const auto& job : jobs) {
    const std::string id = std::to_string(job["id"].get<int64_t>());
    EXPECT_EQ(job["state"], "COMPLETED") << job.dump();
    EXPECT_EQ(job["attempt"], 0) << "job " << id << " was run again";
    JobBooks b = BooksOf(job, user);
    // One hold, at most one usage record (one node each; none when the
    // charge rounds to zero), one release: nothing doubled.
    EXPECT_LE(b.usage_txs, 1) << job.dump();
    EXPECT_EQ(job["transactions"].size(), 2u + b.usage_txs) << job.dump();
    EXPECT_EQ(b.held, job["held"].get<int64_t>()) << job.dump();
    charged += b.Charge();
    treasury_fees += b.treasury;
    burned += b.burned;
    for (const auto& [p, v] : b.shares) earned[p] += v;
    // One output file, with the marker once.
    auto outs = fed_->UserGet("/api/v1/jobs/" + id + "/outputs");
    ASSERT_TRUE(outs.ok()) << outs.status().message();
    ASSERT_EQ((*outs)["outputs"].size(), 1u) << outs->dump();
    std::string dest = fed_->dir() + "/fetched/" + id;
    ProcResult f = fed_->Run({"fetch", id, "--dest", dest});
    ASSERT_EQ(f.exit_code, 0) << f.Describe();
    std::string text = ReadFileOr(dest + "/slurm-" + id + ".out");
    EXPECT_EQ(text, "marker job=" + id + "\n") << "output of job " << id;
  }
  // The restarted controller dropped no result: every one was acknowledged.
  EXPECT_TRUE(WaitUntil([&] { return UndeliveredResults() == 0; }, Millis(5'000)));

  // Money: nothing minted is lost or doubled.
  auto wallet = fed_->Wallet(user);
  ASSERT_TRUE(wallet.ok()) << wallet.status().message();
  int64_t available = (*wallet)["available"], held = (*wallet)["held"];
  EXPECT_EQ(held, 0);
  EXPECT_EQ(kFund - available, charged);
  int64_t providers_total = 0;
  for (int i = 1; i <= fed_->workers(); ++i) {
    std::string p = "provider" + std::to_string(i);
    auto w = fed_->Wallet(p);
    ASSERT_TRUE(w.ok()) << w.status().message();
    int64_t e = (*w)["earned"];
    EXPECT_EQ(e, earned[p]) << p;
    providers_total += e;
  }
  EXPECT_EQ(charged, providers_total + treasury_fees + burned);
  auto supply = fed_->UserGet("/api/v1/ledger/supply");
  ASSERT_TRUE(supply.ok()) << supply.status().message();
  EXPECT_EQ((*supply)["minted"].get<int64_t>(), kGenesisSupply + kFund) << supply->dump();
  EXPECT_EQ((*supply)["burned"].get<int64_t>(), burned) << supply->dump();
  EXPECT_EQ((*supply)["treasury"].get<int64_t>(), GenesisTreasury() + treasury_fees) << supply->dump();
  EXPECT_EQ((*supply)["sum_of_balances"].get<int64_t>(), kGenesisSupply + kFund - burned);
  // The audit trail re-derives every balance and root, signatures included.
  ProcResult v = fed_->RunAdmin({"ledger", "verify"});
  EXPECT_EQ(v.exit_code, 0) << v.Describe();
}

// The node's work generation as the controller counts it now (a read: it
// changes nothing).
int64_t WorkGeneration(const Federation& fed, int worker) {
  json ident = json::parse(ReadFileOr(fed.dir() + "/worker" + std::to_string(worker) + "/node.json"), nullptr,
                           false);
  if (ident.is_discarded()) return -1;
  HttpAnswer a = fed.RawGet("/api/v1/nodes/" + ident["node_id"].get<std::string>() + "/work?since=0&wait=0",
                            ident["node_token"].get<std::string>());
  json j = json::parse(a.body, nullptr, false);
  return a.status == 200 && !j.is_discarded() ? j.value("gen", int64_t{-1}) : -1;
}

// The worker long-polls for its work with the generation number of the last
// answer it got ("since"). A restarted controller must hand out generations
// above any of its previous life, so a change of a node's work reaches the
// node promptly whatever generation the worker saw before the crash.
TEST(CrashRestartTest, WorkerLearnsOfNewWorkPromptlyAfterControllerRestart) {
  auto up = Federation::Up(/*workers=*/1, /*gpus_per_worker=*/2);
  ASSERT_TRUE(up.ok()) << up.status().message();
  std::unique_ptr<Federation> fed = std::move(up).value();

  // Job X runs: the worker launched it, so it has read the answer that
  // carried the generation the controller reports now.
  std::string hold = fed->WriteScript("hold.sh", "#!/bin/bash\nsleep 300\n");
  auto x = fed->Submit(hold, {"--gres=gpu:1"});
  ASSERT_TRUE(x.ok()) << x.status().message();
  ASSERT_TRUE(WaitUntil([&] { return fed->JobProcesses("sleep").size() == 1; }, Millis(10'000)))
      << fed->Logs();
  const int64_t seen = WorkGeneration(*fed, 1);
  ASSERT_GT(seen, 0);

  // The worker sleeps through the crash and the restart; meanwhile the new
  // controller cancels X.
  StoppedProcess worker(fed->WorkerPid(1));
  ASSERT_TRUE(worker.ok());
  ASSERT_TRUE(fed->KillController9().ok());
  Status restarted = fed->RestartLocal();
  ASSERT_TRUE(restarted.ok()) << restarted.message();
  ProcResult c = fed->Run({"scancel", std::to_string(*x)});
  ASSERT_EQ(c.exit_code, 0) << c.Describe();
  EXPECT_GT(WorkGeneration(*fed, 1), seen)
      << "the restarted controller counts the node's work generations from where an earlier life "
         "might have been: a worker's 'since' could look current and it would sleep through new work";
  worker.Resume();

  // Seconds at most: the worker reconnects within its back-off and stopping
  // a job takes no time. Waiting out a whole long poll (25 s) is the bug.
  auto x_done = fed->WaitForState(*x, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"},
                                  Millis(10'000));
  ASSERT_TRUE(x_done.ok()) << "the node did not act on its new work promptly after the restart\n"
                           << x_done.status().message();
  EXPECT_EQ((*x_done)["state"], "CANCELLED");
}

// A cancel that reaches the controller before the node ever started the job
// (here: the node was out of touch while the controller restarted, the job
// was handed to it and then cancelled). The node learns of the job only as
// one to stop; the job must still end CANCELLED promptly, charged nothing.
TEST(CrashRestartTest, CancelOfAJobItsNodeNeverStartedEndsPromptly) {
  auto up = Federation::Up(/*workers=*/1, /*gpus_per_worker=*/2);
  ASSERT_TRUE(up.ok()) << up.status().message();
  std::unique_ptr<Federation> fed = std::move(up).value();
  auto nodes = fed->Nodes();
  ASSERT_TRUE(nodes.ok());
  // Y (stopping) and Z (running) each hold one CPU at once.
  ASSERT_GE((*nodes)["nodes"][0]["cpus"].get<int>(), 2) << "this test needs a machine with two CPUs";

  StoppedProcess worker(fed->WorkerPid(1));
  ASSERT_TRUE(worker.ok());
  ASSERT_TRUE(fed->KillController9().ok());
  Status restarted = fed->RestartLocal();
  ASSERT_TRUE(restarted.ok()) << restarted.message();

  // Y is handed to the node and cancelled before the node hears of it; Z is
  // handed to it after (three changes of the node's work: whatever generation
  // the worker saw before, it differs from at least one of them).
  std::string hold = fed->WriteScript("hold.sh", "#!/bin/bash\nsleep 300\n");
  auto y = fed->Submit(hold, {"--gres=gpu:1", "-t", "5"});
  ASSERT_TRUE(y.ok()) << y.status().message();
  ASSERT_TRUE(fed->WaitForState(*y, {"RUNNING"}).ok());
  ProcResult c = fed->Run({"scancel", std::to_string(*y)});
  ASSERT_EQ(c.exit_code, 0) << c.Describe();
  std::string quick = fed->WriteScript("quick.sh", "#!/bin/bash\necho hi\n");
  auto z = fed->Submit(quick, {"--gres=gpu:1"});
  ASSERT_TRUE(z.ok()) << z.status().message();
  ASSERT_TRUE(fed->WaitForState(*z, {"RUNNING"}).ok());
  worker.Resume();

  auto z_done = fed->WaitForState(*z, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"},
                                  Millis(10'000));
  ASSERT_TRUE(z_done.ok()) << "the node never acted on its work after the restart\n"
                           << z_done.status().message();
  EXPECT_EQ((*z_done)["state"], "COMPLETED");
  auto y_done = fed->WaitForState(*y, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"},
                                  Millis(10'000));
  ASSERT_TRUE(y_done.ok()) << "a cancelled job its node never started stays COMPLETING (holding its "
                              "GPU and its escrow) instead of ending CANCELLED\n"
                           << y_done.status().message();
  EXPECT_EQ((*y_done)["state"], "CANCELLED");
  // Nothing ran: the whole hold comes back.
  JobBooks b = BooksOf(*y_done, Federation::kUser);
  EXPECT_GT(b.held, 0) << y_done->dump();
  EXPECT_EQ(b.usage_txs, 0) << y_done->dump();
  EXPECT_EQ(b.refunded, b.held) << "a job that never ran was charged: " << y_done->dump();
  EXPECT_TRUE(fed->JobProcesses("sleep").empty());
}

}  // namespace
}  // namespace gm::itest
