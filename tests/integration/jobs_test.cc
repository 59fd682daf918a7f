// Job lifecycle through the real gm, gmctld and gmd: submission, the job's
// environment and output files, failure, cancellation, time limits, squeue.
#include <signal.h>

#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/integration/federation.h"

namespace gm::itest {
namespace {

namespace fs = std::filesystem;

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = Federation::Up(/*workers=*/2, /*gpus_per_worker=*/2);
    ASSERT_TRUE(f.ok()) << f.status().message();
    fed_ = std::move(f).value();
  }

  // "Submitted batch job N" -> N, or -1.
  static int64_t SubmittedId(const std::string& out) {
    const std::string prefix = "Submitted batch job ";
    auto at = out.find(prefix);
    if (at == std::string::npos) return -1;
    return std::strtoll(out.c_str() + at + prefix.size(), nullptr, 10);
  }

  // The whitespace-separated fields of the line of `table` whose first field is `id`.
  static std::vector<std::string> RowOf(const std::string& table, int64_t id) {
    std::istringstream in(table);
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::vector<std::string> f;
      for (std::string w; fields >> w;) f.push_back(w);
      if (!f.empty() && f[0] == std::to_string(id)) return f;
    }
    return {};
  }

  std::unique_ptr<Federation> fed_;
};

constexpr const char* kEnvScript = R"(#!/bin/bash
echo "job=$SLURM_JOB_ID nodes=$SLURM_JOB_NODELIST nnodes=$SLURM_NNODES gpus=$CUDA_VISIBLE_DEVICES"
echo "to-stderr job=$SLURM_JOB_ID" >&2
)";

TEST_F(JobsTest, OneNodeJobCompletesWithOutputAndErrorFiles) {
  std::string script = fed_->WriteScript("env.sh", kEnvScript);
  ProcResult r = fed_->Run({"sbatch", "--wait", "-J", "single", "--gres=gpu:1", "-o", "%x-%j.out", "-e",
                            "%x-%j.err", script});
  ASSERT_EQ(r.exit_code, 0) << r.Describe() << fed_->Logs();
  int64_t id = SubmittedId(r.out);
  ASSERT_GT(id, 0) << r.Describe();

  auto job = fed_->Job(id);
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_EQ((*job)["state"], "COMPLETED");
  auto nodes = (*job)["node_names"].get<std::vector<std::string>>();
  ASSERT_EQ(nodes.size(), 1u);

  std::string out_path = fed_->submit_dir() + "/single-" + std::to_string(id) + ".out";
  std::string err_path = fed_->submit_dir() + "/single-" + std::to_string(id) + ".err";
  ASSERT_TRUE(fs::exists(out_path)) << "sbatch --wait did not fetch " << out_path;
  ASSERT_TRUE(fs::exists(err_path)) << "sbatch --wait did not fetch " << err_path;
  std::string out = ReadFileOr(out_path), err = ReadFileOr(err_path);
  // One GPU of an idle node: the job sees exactly the node's GPU 0.
  EXPECT_EQ(out, "job=" + std::to_string(id) + " nodes=" + nodes[0] + " nnodes=1 gpus=0\n");
  EXPECT_EQ(err, "to-stderr job=" + std::to_string(id) + "\n");

  // gm fetch brings the same files into another directory.
  std::string dest = fed_->dir() + "/fetched";
  ProcResult f = fed_->Run({"fetch", std::to_string(id), "--dest", dest});
  ASSERT_EQ(f.exit_code, 0) << f.Describe();
  EXPECT_EQ(ReadFileOr(dest + "/single-" + std::to_string(id) + ".out"), out);
  EXPECT_EQ(ReadFileOr(dest + "/single-" + std::to_string(id) + ".err"), err);

  ProcResult acct = fed_->Run({"sacct", "-j", std::to_string(id), "-n", "-P", "--format", "JobID,State,ExitCode"});
  ASSERT_EQ(acct.exit_code, 0) << acct.Describe();
  EXPECT_EQ(acct.out, std::to_string(id) + "|COMPLETED|0:0\n");
}

TEST_F(JobsTest, TwoNodeJobSeesBothNodesAndItsGpus) {
  std::string script = fed_->WriteScript("env2.sh", kEnvScript);
  ProcResult r = fed_->Run({"sbatch", "--wait", "-N", "2", "--gres=gpu:2", "-J", "pair", "-o", "%x-%j.out",
                            "-e", "%x-%j.err", script});
  ASSERT_EQ(r.exit_code, 0) << r.Describe() << fed_->Logs();
  int64_t id = SubmittedId(r.out);
  ASSERT_GT(id, 0) << r.Describe();
  auto job = fed_->Job(id);
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_EQ((*job)["state"], "COMPLETED");
  EXPECT_EQ((*job)["node_names"], json::array({"node1", "node2"}));
  EXPECT_EQ((*job)["gpus"], 4);
  EXPECT_EQ(ReadFileOr(fed_->submit_dir() + "/pair-" + std::to_string(id) + ".out"),
            "job=" + std::to_string(id) + " nodes=node[1-2] nnodes=2 gpus=0,1\n");
  EXPECT_EQ(ReadFileOr(fed_->submit_dir() + "/pair-" + std::to_string(id) + ".err"),
            "to-stderr job=" + std::to_string(id) + "\n");
}

TEST_F(JobsTest, FailingScriptEndsFailedWithItsExitCode) {
  std::string script = fed_->WriteScript("fail.sh", "#!/bin/bash\necho before\nexit 3\n");
  ProcResult r = fed_->Run({"sbatch", "--wait", script});
  EXPECT_EQ(r.exit_code, 3) << r.Describe();
  int64_t id = SubmittedId(r.out);
  ASSERT_GT(id, 0) << r.Describe();
  EXPECT_NE(r.err.find("FAILED"), std::string::npos) << r.err;

  auto job = fed_->Job(id);
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_EQ((*job)["state"], "FAILED");
  EXPECT_EQ((*job)["exit_code"], 3);
  EXPECT_EQ((*job)["exit_signal"], 0);

  ProcResult acct = fed_->Run({"sacct", "-j", std::to_string(id), "-n", "-P", "--format", "JobID,State,ExitCode"});
  ASSERT_EQ(acct.exit_code, 0) << acct.Describe();
  EXPECT_EQ(acct.out, std::to_string(id) + "|FAILED|3:0\n");
  // The default output file (slurm-%j.out) still comes home.
  EXPECT_EQ(ReadFileOr(fed_->submit_dir() + "/slurm-" + std::to_string(id) + ".out"), "before\n");
}

TEST_F(JobsTest, ScancelStopsARunningJobAndItsProcesses) {
  std::string script = fed_->WriteScript("long.sh", "#!/bin/bash\nsleep 300\n");
  auto id = fed_->Submit(script, {"--gres=gpu:1"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto running = fed_->WaitForState(*id, {"RUNNING"});
  ASSERT_TRUE(running.ok()) << running.status().message();
  std::vector<pid_t> sleeps;
  ASSERT_TRUE(WaitUntil([&] { return !(sleeps = fed_->JobProcesses("sleep")).empty(); }, Millis(10'000)))
      << "the job's sleep never started\n" << fed_->Logs();

  auto t0 = std::chrono::steady_clock::now();
  ProcResult c = fed_->Run({"scancel", std::to_string(*id)});
  ASSERT_EQ(c.exit_code, 0) << c.Describe();
  auto done = fed_->WaitForState(*id, {"CANCELLED", "COMPLETED", "FAILED", "TIMEOUT", "NODE_FAIL"},
                                 Millis(15'000));
  ASSERT_TRUE(done.ok()) << done.status().message();
  auto took = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - t0);
  EXPECT_EQ((*done)["state"], "CANCELLED");
  EXPECT_LT(took.count(), 5'000) << "cancel took " << took.count() << " ms";
  // Every process of the job is gone (the kernel may take a moment to tear them down).
  EXPECT_TRUE(WaitUntil([&] { return fed_->JobProcesses().empty(); }, Millis(3'000)))
      << "job processes left: " << fed_->JobProcesses().size();
  for (pid_t p : sleeps) EXPECT_FALSE(ProcessRunning(p)) << "sleep (pid " << p << ") survived the cancel";

  // Cancelling it again changes nothing; like Slurm's scancel, a job already
  // done is not an error unless -v asks to hear about it.
  ProcResult again = fed_->Run({"scancel", std::to_string(*id)});
  EXPECT_EQ(again.exit_code, 0) << again.Describe();
  ProcResult loud = fed_->Run({"scancel", "-v", std::to_string(*id)});
  EXPECT_NE(loud.err.find("already completing or completed"), std::string::npos) << loud.Describe();
  EXPECT_EQ((*fed_->Job(*id))["state"], "CANCELLED");
}

TEST_F(JobsTest, TimeLimitEndsJobAsTimeout) {
  std::string script = fed_->WriteScript("forever.sh", "#!/bin/bash\nsleep 600\n");
  auto id = fed_->Submit(script, {"-t", "1", "--gres=gpu:1"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto running = fed_->WaitForState(*id, {"RUNNING"});
  ASSERT_TRUE(running.ok()) << running.status().message();
  EXPECT_EQ((*running)["time_limit_s"], 60);
  auto done = fed_->WaitForState(*id, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"},
                                 Millis(100'000));
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ((*done)["state"], "TIMEOUT");
  int64_t ran_ms = (*done)["end_ms"].get<int64_t>() - (*done)["start_ms"].get<int64_t>();
  EXPECT_GE(ran_ms, 60'000);
  EXPECT_LE(ran_ms, 70'000);
  EXPECT_TRUE(WaitUntil([&] { return fed_->JobProcesses().empty(); }, Millis(3'000)))
      << "job processes left after TIMEOUT";
  ProcResult acct = fed_->Run({"sacct", "-j", std::to_string(*id), "-n", "-P", "--format", "JobID,State"});
  EXPECT_EQ(acct.out, std::to_string(*id) + "|TIMEOUT\n") << acct.Describe();
}

TEST_F(JobsTest, SqueueShowsRunningAndImpossibleJobs) {
  // Asked first, so that the later submission's scheduling pass sees it too.
  std::string huge = fed_->WriteScript("huge.sh", "#!/bin/bash\necho never\n");
  ProcResult h = fed_->Run({"sbatch", "--gres=gpu:8", huge});
  ASSERT_EQ(h.exit_code, 0) << h.Describe();
  int64_t huge_id = SubmittedId(h.out);
  ASSERT_GT(huge_id, 0) << h.Describe();
  EXPECT_NE(h.err.find("warning"), std::string::npos) << h.err;
  EXPECT_NE(h.err.find("BadConstraints"), std::string::npos) << h.err;

  std::string script = fed_->WriteScript("long.sh", "#!/bin/bash\nsleep 300\n");
  auto id = fed_->Submit(script, {"--gres=gpu:1", "-J", "sleeper"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto running = fed_->WaitForState(*id, {"RUNNING"});
  ASSERT_TRUE(running.ok()) << running.status().message();
  std::string node = (*running)["node_names"][0];

  ProcResult q = fed_->Run({"squeue"});
  ASSERT_EQ(q.exit_code, 0) << q.Describe();
  // JOBID PARTITION NAME USER ST TIME NODES NODELIST(REASON)
  auto run_row = RowOf(q.out, *id);
  ASSERT_EQ(run_row.size(), 8u) << q.out;
  EXPECT_EQ(run_row[2], "sleeper");
  EXPECT_EQ(run_row[3], Federation::kUser);
  EXPECT_EQ(run_row[4], "R");
  EXPECT_EQ(run_row[6], "1");
  EXPECT_EQ(run_row[7], node);
  auto pd_row = RowOf(q.out, huge_id);
  ASSERT_EQ(pd_row.size(), 8u) << q.out;
  EXPECT_EQ(pd_row[4], "PD");
  EXPECT_EQ(pd_row[7], "(BadConstraints)");

  // Still pending after further scheduling passes.
  auto huge_job = fed_->Job(huge_id);
  ASSERT_TRUE(huge_job.ok());
  EXPECT_EQ((*huge_job)["state"], "PENDING");
  EXPECT_EQ((*huge_job)["reason"], "BadConstraints");

  // squeue -t R lists only the running one.
  ProcResult qr = fed_->Run({"squeue", "-h", "-t", "R", "-o", "%i %t %N"});
  ASSERT_EQ(qr.exit_code, 0) << qr.Describe();
  EXPECT_EQ(qr.out, std::to_string(*id) + " R " + node + "\n");
}

TEST_F(JobsTest, ParsablePrintsOnlyTheJobId) {
  std::string script = fed_->WriteScript("quick.sh", "#!/bin/bash\ntrue\n");
  ProcResult r = fed_->Run({"sbatch", "--parsable", script});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  ASSERT_FALSE(r.out.empty());
  std::string id = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(r.out.back(), '\n');
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(id.find_first_not_of("0123456789"), std::string::npos) << "stdout: [" << r.out << "]";
  EXPECT_EQ(r.out.find("Submitted"), std::string::npos);
  EXPECT_EQ(r.err.find("Submitted"), std::string::npos);
  auto job = fed_->Job(std::stoll(id));
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_EQ((*job)["id"], std::stoll(id));
}

// Providers are strangers (DESIGN.md, rule 4): the user's API token is a
// bearer credential for the user's wallet, so it must not travel to the nodes
// that run the user's jobs, nor sit in the job's stored record.
TEST_F(JobsTest, UserTokenNeverReachesProviders) {
  std::string script = fed_->WriteScript("long.sh", "#!/bin/bash\nsleep 300\n");
  auto id = fed_->Submit(script, {"--gres=gpu:1"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto running = fed_->WaitForState(*id, {"RUNNING"});
  ASSERT_TRUE(running.ok()) << running.status().message();

  // What each node is told to run, fetched with the node's own credentials.
  std::string payloads;
  for (int i = 1; i <= fed_->workers(); ++i) {
    json ident = json::parse(ReadFileOr(fed_->dir() + "/worker" + std::to_string(i) + "/node.json"), nullptr, false);
    ASSERT_FALSE(ident.is_discarded()) << "worker" << i << "/node.json";
    HttpAnswer a = fed_->RawGet("/api/v1/nodes/" + ident["node_id"].get<std::string>() + "/work?since=0&wait=0",
                                ident["node_token"].get<std::string>());
    ASSERT_EQ(a.status, 200) << a.body << a.error;
    payloads += a.body;
  }
  ASSERT_NE(payloads.find("\"job_id\":" + std::to_string(*id)), std::string::npos) << payloads;
  EXPECT_EQ(payloads.find(fed_->user_token()), std::string::npos)
      << "the user's API token (GM_TOKEN) is sent to the provider's node in the launch payload";

  auto job = fed_->Job(*id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->dump().find(fed_->user_token()), std::string::npos)
      << "the user's API token is stored in the job's record (spec.environment.GM_TOKEN)";
}

}  // namespace
}  // namespace gm::itest
