// Node management through the real gm, gmctld and gmd (issue 4): drain,
// resume and detach by an admin or the node's provider, what sinfo and
// gm node list show, refusals that change nothing, and persistence across a
// controller restart; and gmd's daemon mode (the systemd units use
// --foreground).
#include <signal.h>

#include <chrono>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/federation.h"

namespace gm::itest {
namespace {

class NodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = Federation::Up(/*workers=*/2, /*gpus_per_worker=*/2);
    ASSERT_TRUE(f.ok()) << f.status().message();
    fed_ = std::move(f).value();
  }

  // The node named `name` as GET /api/v1/nodes lists it; null if not listed.
  json Node(const std::string& name) const {
    auto nodes = fed_->Nodes();
    EXPECT_TRUE(nodes.ok()) << nodes.status().message();
    if (!nodes.ok()) return json();
    for (const auto& n : (*nodes)["nodes"])
      if (n["name"] == name) return n;
    return json();
  }

  json History(const std::string& name) const {
    auto h = fed_->AdminGet("/api/v1/nodes/" + name + "/history");
    EXPECT_TRUE(h.ok()) << h.status().message();
    return h.ok() ? (*h)["events"] : json::array();
  }

  // An API token of `account` (gm admin token).
  std::string TokenOf(const std::string& account) const {
    ProcResult r = fed_->RunAdmin({"admin", "token", account});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    std::string t = r.out;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    return t;
  }

  // The fields of the line of `table` whose first field is `first`.
  static std::vector<std::string> RowOf(const std::string& table, const std::string& first) {
    std::istringstream in(table);
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::vector<std::string> f;
      for (std::string w; fields >> w;) f.push_back(w);
      if (!f.empty() && f[0] == first) return f;
    }
    return {};
  }

  // sinfo -N's STATE of `node` ("idle", "drain", "drng", ...).
  std::string SinfoState(const std::string& node) const {
    ProcResult r = fed_->Run({"sinfo", "-N", "-h", "-o", "%N %t"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    auto row = RowOf(r.out, node);
    return row.size() == 2 ? row[1] : "(not listed: " + r.out + ")";
  }

  std::unique_ptr<Federation> fed_;
};

TEST_F(NodesTest, DrainStopsPlacementsAndResumeTakesWorkAgain) {
  ProcResult d = fed_->Run({"node", "drain", "node1", "--reason", "disk failing"},
                           {{"GM_TOKEN", fed_->admin_token()}});
  ASSERT_EQ(d.exit_code, 0) << d.Describe();
  EXPECT_EQ(SinfoState("node1"), "drain");
  ProcResult list = fed_->Run({"node", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.Describe();
  auto row = RowOf(list.out, "node1");
  ASSERT_GE(row.size(), 11u) << list.out;
  EXPECT_EQ(row[3], "drain") << list.out;
  EXPECT_NE(list.out.find("disk failing"), std::string::npos) << list.out;
  json n1 = Node("node1");
  EXPECT_EQ(n1["drain_reason"], "disk failing");
  EXPECT_EQ(n1["drain_user"], "admin");
  EXPECT_GT(n1.value("drain_time_ms", int64_t{0}), 0);
  ProcResult reasons = fed_->Run({"sinfo", "-R", "-h", "-o", "%E|%U|%N"});
  EXPECT_EQ(reasons.out, "disk failing|admin|node1\n") << reasons.Describe();

  // Two jobs that each need a whole node: with node1 drained only one runs.
  std::string script = fed_->WriteScript("hold.sh", "#!/bin/bash\nsleep 8\necho ran on $SLURMD_NODENAME\n");
  auto a = fed_->Submit(script, {"--gres=gpu:2", "-J", "a"});
  auto b = fed_->Submit(script, {"--gres=gpu:2", "-J", "b"});
  ASSERT_TRUE(a.ok() && b.ok()) << a.status().message() << b.status().message();
  auto ja = fed_->WaitForState(*a, {"RUNNING"});
  ASSERT_TRUE(ja.ok()) << ja.status().message() << fed_->Logs();
  EXPECT_EQ((*ja)["node_names"], json::array({"node2"}));
  // The second waits for resources although node1 has two free GPUs.
  std::this_thread::sleep_for(Millis(1500));
  auto jb = fed_->Job(*b);
  ASSERT_TRUE(jb.ok());
  EXPECT_EQ((*jb)["state"], "PENDING") << jb->dump();
  EXPECT_EQ(Node("node1")["jobs"], json::array());

  // Resume by the node's own provider: node1 takes the waiting job.
  ProcResult r = fed_->Run({"node", "resume", "node1"}, {{"GM_TOKEN", TokenOf("provider1")}});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  auto jb2 = fed_->WaitForState(*b, {"RUNNING"});
  ASSERT_TRUE(jb2.ok()) << jb2.status().message();
  EXPECT_EQ((*jb2)["node_names"], json::array({"node1"}));
  EXPECT_FALSE(Node("node1").contains("drain_time_ms"));

  // Draining a node that runs a job: "drng" until the job ends, then "drain".
  auto running = fed_->WaitForState(*b, {"RUNNING"});
  ASSERT_TRUE(running.ok()) << running.status().message();
  {
    ProcResult again = fed_->Run({"scontrol", "update", "nodename=node1", "state=drain", "reason=after this job"},
                                 {{"GM_TOKEN", fed_->admin_token()}});
    ASSERT_EQ(again.exit_code, 0) << again.Describe();
    EXPECT_EQ(SinfoState("node1"), "drng");
    auto done = fed_->WaitForState(*b, {"COMPLETED"});
    ASSERT_TRUE(done.ok()) << done.status().message();
    EXPECT_EQ(SinfoState("node1"), "drain");
  }
  // Every change is in the node's history, newest first.
  json events = History("node1");
  std::vector<std::string> kinds;
  for (const auto& e : events)
    if (e["kind"] == "drain" || e["kind"] == "resume") kinds.push_back(e["kind"]);
  EXPECT_EQ(kinds, (std::vector<std::string>{"drain", "resume", "drain"})) << events.dump();
}

TEST_F(NodesTest, OnlyAdminOrOwnerMayChangeANodeAndBadInputChangesNothing) {
  size_t before = History("node1").size();
  // The user, and another provider: 403, exit 1, nothing changes.
  ProcResult user = fed_->Run({"node", "drain", "node1", "--reason", "mine now"});
  EXPECT_EQ(user.exit_code, 1) << user.Describe();
  EXPECT_NE(user.err.find("only an admin or the node's provider (provider1)"), std::string::npos) << user.err;
  HttpAnswer other = fed_->RawPost("/api/v1/nodes/node1/drain", R"({"reason":"x"})", TokenOf("provider2"));
  EXPECT_EQ(other.status, 403) << other.body;
  HttpAnswer detach = fed_->RawPost("/api/v1/nodes/node1/detach", "", fed_->user_token());
  EXPECT_EQ(detach.status, 403) << detach.body;
  // Unknown node: 404 and a clear message.
  ProcResult unknown = fed_->Run({"node", "drain", "node9", "--reason", "x"}, {{"GM_TOKEN", fed_->admin_token()}});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.Describe();
  EXPECT_NE(unknown.err.find("no node node9"), std::string::npos) << unknown.err;
  EXPECT_EQ(fed_->RawPost("/api/v1/nodes/node9/resume", "", fed_->admin_token()).status, 404);
  // Missing, empty or mistyped reason; bad JSON; unknown fields: 400.
  ProcResult noreason = fed_->Run({"node", "drain", "node1"}, {{"GM_TOKEN", fed_->admin_token()}});
  EXPECT_NE(noreason.exit_code, 0) << noreason.Describe();
  EXPECT_NE(noreason.err.find("reason is required"), std::string::npos) << noreason.err;
  ProcResult slurm = fed_->Run({"scontrol", "update", "NodeName=node1", "State=DRAIN"},
                               {{"GM_TOKEN", fed_->admin_token()}});
  EXPECT_EQ(slurm.exit_code, 1) << slurm.Describe();
  EXPECT_NE(slurm.err.find("You must specify a reason when DOWNING or DRAINING a node"), std::string::npos)
      << slurm.err;
  ProcResult badstate = fed_->Run({"scontrol", "update", "NodeName=node1", "State=FROZEN"},
                                  {{"GM_TOKEN", fed_->admin_token()}});
  EXPECT_EQ(badstate.exit_code, 1) << badstate.Describe();
  EXPECT_NE(badstate.err.find("Invalid input: State=frozen"), std::string::npos) << badstate.err;
  for (const char* body : {"{}", R"({"reason":"  "})", R"({"reason":5})", "not json", R"({"reason":"a","force":true})"}) {
    HttpAnswer a = fed_->RawPost("/api/v1/nodes/node1/drain", body, fed_->admin_token());
    EXPECT_EQ(a.status, 400) << body << " -> " << a.body;
  }
  // Resume of a node that is not drained: 409.
  HttpAnswer resume = fed_->RawPost("/api/v1/nodes/node1/resume", "", fed_->admin_token());
  EXPECT_EQ(resume.status, 409) << resume.body;
  EXPECT_NE(resume.body.find("is not drained"), std::string::npos) << resume.body;

  json n1 = Node("node1");
  EXPECT_EQ(n1["state"], "idle");
  EXPECT_EQ(n1.value("drain", true), false);
  EXPECT_EQ(History("node1").size(), before) << History("node1").dump();
}

TEST_F(NodesTest, DetachWaitsForRunningJobsThenRemovesTheNode) {
  // node2 runs a job: detach drains it, the job finishes, then it is gone.
  std::string script = fed_->WriteScript("short.sh", "#!/bin/bash\nsleep 3\necho done\n");
  auto id = fed_->Submit(script, {"--gres=gpu:2"});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = fed_->WaitForState(*id, {"RUNNING"});
  ASSERT_TRUE(job.ok()) << job.status().message();
  std::string busy = (*job)["node_names"][0], idle = busy == "node1" ? "node2" : "node1";
  std::string owner = busy == "node1" ? "provider1" : "provider2";
  ProcResult d = fed_->Run({"node", "detach", busy, "--reason", "moving house"}, {{"GM_TOKEN", TokenOf(owner)}});
  ASSERT_EQ(d.exit_code, 0) << d.Describe();
  EXPECT_NE(d.out.find("will be detached when its 1 running job(s) end"), std::string::npos) << d.out;
  EXPECT_EQ(SinfoState(busy), "drng");
  HttpAnswer twice = fed_->RawPost("/api/v1/nodes/" + busy + "/detach", "", fed_->admin_token());
  EXPECT_EQ(twice.status, 409) << twice.body;
  auto done = fed_->WaitForState(*id, {"COMPLETED"});
  ASSERT_TRUE(done.ok()) << done.status().message();
  ASSERT_TRUE(WaitUntil([&] { return Node(busy).is_null(); }, Millis(10'000)))
      << "still listed: " << Node(busy).dump();
  ProcResult sinfo = fed_->Run({"sinfo", "-N", "-h", "-o", "%N"});
  EXPECT_EQ(sinfo.out, idle + "\n") << sinfo.Describe();
  // Its gmd's token is revoked; its history stays readable.
  json events = History(busy);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0]["kind"], "detached") << events.dump();

  // The idle node detaches at once; a later drain of it is refused.
  ProcResult now = fed_->Run({"node", "detach", idle}, {{"GM_TOKEN", fed_->admin_token()}});
  ASSERT_EQ(now.exit_code, 0) << now.Describe();
  EXPECT_EQ(now.out, "node " + idle + ": detached\n");
  EXPECT_TRUE(Node(idle).is_null());
  HttpAnswer drain = fed_->RawPost("/api/v1/nodes/" + idle + "/drain", R"({"reason":"x"})", fed_->admin_token());
  EXPECT_EQ(drain.status, 409) << drain.body;

  // Jobs submitted now stay pending: no node can take them.
  auto later = fed_->Submit(script, {"--gres=gpu:1"});
  ASSERT_TRUE(later.ok()) << later.status().message();
  std::this_thread::sleep_for(Millis(1500));
  EXPECT_EQ((*fed_->Job(*later))["state"], "PENDING");
}

TEST_F(NodesTest, DrainSurvivesAControllerRestart) {
  ProcResult d = fed_->Run({"scontrol", "update", "NodeName=node[1-2]", "State=DRAIN", "Reason=maintenance window"},
                           {{"GM_TOKEN", fed_->admin_token()}});
  ASSERT_EQ(d.exit_code, 0) << d.Describe();
  int64_t at = Node("node2").value("drain_time_ms", int64_t{0});
  ASSERT_GT(at, 0);
  ASSERT_TRUE(fed_->KillController9().ok());
  Status s = fed_->RestartLocal();
  ASSERT_TRUE(s.ok()) << s.message();
  for (const char* name : {"node1", "node2"}) {
    json n = Node(name);
    EXPECT_EQ(n["drain_reason"], "maintenance window") << n.dump();
    EXPECT_EQ(n["drain_user"], "admin") << n.dump();
    EXPECT_EQ(n.value("drain_time_ms", int64_t{0}), std::string(name) == "node2" ? at : n["drain_time_ms"].get<int64_t>());
    EXPECT_EQ(SinfoState(name), "drain");
  }
  ProcResult show = fed_->Run({"scontrol", "show", "node", "node2"});
  EXPECT_NE(show.out.find("Reason=maintenance window [admin@"), std::string::npos) << show.Describe();
  ProcResult resume = fed_->Run({"scontrol", "update", "NodeName=node[1-2]", "State=RESUME"},
                                {{"GM_TOKEN", fed_->admin_token()}});
  ASSERT_EQ(resume.exit_code, 0) << resume.Describe();
  EXPECT_EQ(SinfoState("node1"), "idle");
}

// The systemd units run gmd with --foreground; without it gmd detaches, as
// INSTALL.md says: the command returns at once and the daemon serves jobs.
TEST_F(NodesTest, GmdWithoutForegroundDetachesAndServes) {
  pid_t old = fed_->WorkerPid(1);
  ASSERT_GT(old, 0);
  ASSERT_EQ(kill(old, SIGTERM), 0);
  // gmd finishes its current long poll (up to 25 s) before it exits.
  ASSERT_TRUE(WaitUntil([&] { return !ProcessRunning(old); }, Millis(40'000))) << "gmd ignored SIGTERM";
  std::string state = fed_->dir() + "/worker1";
  auto started = std::chrono::steady_clock::now();
  ProcResult r = fed_->RunBinary("gmd", {"run", "--state-dir", state}, Millis(20'000));
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
  EXPECT_NE(r.out.find("serving in the background, log in " + state + "/gmd.log"), std::string::npos) << r.out;
  // Only node1 (worker1's node) may take the job: the detached gmd runs it.
  ProcResult d = fed_->Run({"node", "drain", "node2", "--reason", "test"}, {{"GM_TOKEN", fed_->admin_token()}});
  ASSERT_EQ(d.exit_code, 0) << d.Describe();
  std::string script = fed_->WriteScript("where.sh", "#!/bin/bash\necho on $SLURMD_NODENAME\n");
  ProcResult job = fed_->Run({"sbatch", "--wait", "-o", "where.out", script}, {}, "", "", Millis(60'000));
  ASSERT_EQ(job.exit_code, 0) << job.Describe() << fed_->Logs();
  EXPECT_EQ(ReadFileOr(fed_->submit_dir() + "/where.out"), "on node1\n");
  EXPECT_NE(ReadFileOr(state + "/gmd.log").find("gmd:"), std::string::npos);
  // The harness's teardown stops the daemon (its command line names the federation's directory).
}

}  // namespace
}  // namespace gm::itest
