// Bad input at every boundary gets a clear message naming what was wrong, a
// non-zero exit or a 4xx answer, and changes nothing (DESIGN.md, rule 5).
#include <filesystem>

#include <gtest/gtest.h>

#include "tests/integration/federation.h"

namespace gm::itest {
namespace {

namespace fs = std::filesystem;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = Federation::Up(/*workers=*/2, /*gpus_per_worker=*/2);
    ASSERT_TRUE(f.ok()) << f.status().message();
    fed_ = std::move(f).value();
  }

  size_t JobCount() {
    auto jobs = fed_->Jobs();
    EXPECT_TRUE(jobs.ok()) << jobs.status().message();
    return jobs.ok() ? jobs->size() : 0;
  }

  // Parses an error answer: {"error": {"code": …, "message": …}}.
  static json ErrorOf(const HttpAnswer& a) {
    json j = json::parse(a.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("error") || !j["error"].is_object()) return json();
    return j["error"];
  }

  std::unique_ptr<Federation> fed_;
};

TEST_F(BadInputTest, RequestWithoutTokenIs401WithJsonError) {
  HttpAnswer none = fed_->RawGet("/api/v1/jobs", "");
  ASSERT_EQ(none.status, 401) << none.body << none.error;
  json err = ErrorOf(none);
  ASSERT_FALSE(err.is_null()) << "not a JSON error: " << none.body;
  EXPECT_EQ(err["code"], "Unauthenticated");
  EXPECT_NE(err.value("message", "").find("token"), std::string::npos) << none.body;

  HttpAnswer forged = fed_->RawGet("/api/v1/jobs", "gm_0000000000000000000000000000000000000000");
  ASSERT_EQ(forged.status, 401) << forged.body << forged.error;
  EXPECT_EQ(ErrorOf(forged)["code"], "Unauthenticated") << forged.body;

  // The same through ApiClient, and through gm without GM_TOKEN.
  auto api = fed_->Get("/api/v1/jobs", "");
  ASSERT_FALSE(api.ok());
  EXPECT_EQ(api.status().code(), Status::Code::kUnauthenticated) << api.status().ToString();
  ProcResult q = fed_->Run({"squeue"}, {{"GM_TOKEN", ""}});
  EXPECT_NE(q.exit_code, 0) << q.Describe();
  EXPECT_NE(q.err.find("token"), std::string::npos) << q.Describe();
}

TEST_F(BadInputTest, MalformedRequestBodyIs400) {
  size_t before = JobCount();
  HttpAnswer a = fed_->RawPost("/api/v1/jobs", "{not json", fed_->user_token());
  ASSERT_EQ(a.status, 400) << a.body << a.error;
  EXPECT_EQ(ErrorOf(a)["code"], "InvalidArgument") << a.body;
  HttpAnswer b = fed_->RawPost("/api/v1/jobs", R"({"spec": {"script": "echo no interpreter"}})",
                               fed_->user_token());
  ASSERT_EQ(b.status, 400) << b.body << b.error;
  EXPECT_NE(ErrorOf(b).value("message", "").find("#!"), std::string::npos) << b.body;
  EXPECT_EQ(JobCount(), before);
}

TEST_F(BadInputTest, NonAdminMintIs403AndMintsNothing) {
  auto before = fed_->Wallet(Federation::kUser);
  ASSERT_TRUE(before.ok()) << before.status().message();
  HttpAnswer a = fed_->RawPost("/api/v1/admin/mint",
                               json{{"account", Federation::kUser}, {"amount", 5'000'000}}.dump(),
                               fed_->user_token());
  ASSERT_EQ(a.status, 403) << a.body << a.error;
  EXPECT_EQ(ErrorOf(a)["code"], "PermissionDenied") << a.body;
  ProcResult r = fed_->Run({"admin", "mint", Federation::kUser, "5"});
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.err.find("admin"), std::string::npos) << r.Describe();
  auto after = fed_->Wallet(Federation::kUser);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)["available"], (*before)["available"]);
}

TEST_F(BadInputTest, MalformedDirectiveNamesFileLineAndOption) {
  size_t before = JobCount();
  std::string script = fed_->WriteScript("bad_nodes.sh",
                                         "#!/bin/bash\n"
                                         "#SBATCH -J fine\n"
                                         "#SBATCH --nodes=abc\n"
                                         "echo never\n");
  ProcResult r = fed_->Run({"sbatch", script});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_NE(r.err.find("bad_nodes.sh"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(":3"), std::string::npos) << "no line number 3 in: " << r.err;
  EXPECT_NE(r.err.find("--nodes"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(JobCount(), before) << "a job was created from a malformed script";
}

TEST_F(BadInputTest, UnknownOptionIsNamed) {
  size_t before = JobCount();
  std::string script = fed_->WriteScript("ok.sh", "#!/bin/bash\ntrue\n");
  ProcResult r = fed_->Run({"sbatch", "--bogus", script});
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;

  std::string in_script = fed_->WriteScript("bogus_directive.sh", "#!/bin/bash\n#SBATCH --bogus\ntrue\n");
  ProcResult d = fed_->Run({"sbatch", in_script});
  EXPECT_NE(d.exit_code, 0) << d.Describe();
  EXPECT_NE(d.err.find("--bogus"), std::string::npos) << d.err;
  EXPECT_NE(d.err.find("bogus_directive.sh:2"), std::string::npos) << d.err;
  EXPECT_EQ(JobCount(), before);
}

TEST_F(BadInputTest, AttachWithWrongEnrollmentTokenIsRefused) {
  auto nodes_before = fed_->Nodes();
  ASSERT_TRUE(nodes_before.ok());
  size_t count = (*nodes_before)["nodes"].size();
  auto attach = [&](const std::string& dir, const std::string& token) {
    return fed_->RunBinary("gmd",
                           {"attach", "--foreground", "--state-dir", fed_->dir() + "/" + dir, "--controller",
                            fed_->controller_url(), "--ca", fed_->ca_file(), "--enroll-token", token,
                            "--price", "0.5", "--name", "intruder", "--site", "local", "--gpus", "4",
                            "--gpu-model", "fakegpu", "--gpu-mem-mb", "1000", "--heartbeat", "1"},
                           Millis(20'000));
  };
  ProcResult wrong = attach("intruder1", "gm_0123456789abcdef0123456789abcdef01234567");
  EXPECT_FALSE(wrong.timed_out) << "gmd attached and served with a forged enrollment token";
  EXPECT_NE(wrong.exit_code, 0) << wrong.Describe();
  EXPECT_NE(wrong.err.find("token"), std::string::npos) << wrong.Describe();
  // A user's API token is no enrollment token either.
  ProcResult user = attach("intruder2", fed_->user_token());
  EXPECT_FALSE(user.timed_out) << "gmd attached with a user's API token";
  EXPECT_NE(user.exit_code, 0) << user.Describe();
  EXPECT_NE(user.err.find("token"), std::string::npos) << user.Describe();

  auto nodes_after = fed_->Nodes();
  ASSERT_TRUE(nodes_after.ok());
  EXPECT_EQ((*nodes_after)["nodes"].size(), count);
  for (const auto& n : (*nodes_after)["nodes"]) EXPECT_NE(n["name"], "intruder");
  EXPECT_FALSE(fs::exists(fed_->dir() + "/intruder1/node.json"));
}

TEST_F(BadInputTest, ScancelOfUnknownJobFails) {
  ProcResult r = fed_->Run({"scancel", "99999"});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_NE(r.err.find("99999"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Invalid job id"), std::string::npos) << r.err;

  ProcResult bad = fed_->Run({"scancel", "12abc"});
  EXPECT_NE(bad.exit_code, 0) << bad.Describe();
  EXPECT_NE(bad.err.find("12abc"), std::string::npos) << bad.err;
}

TEST_F(BadInputTest, UserCannotCancelAnotherUsersJob) {
  ProcResult acct = fed_->RunAdmin({"admin", "account", "create", "other"});
  ASSERT_EQ(acct.exit_code, 0) << acct.Describe();
  std::string other_token = acct.out.substr(0, acct.out.find('\n'));
  ProcResult mint = fed_->RunAdmin({"admin", "mint", "other", "10"});
  ASSERT_EQ(mint.exit_code, 0) << mint.Describe();
  std::string script = fed_->WriteScript("long.sh", "#!/bin/bash\nsleep 300\n");
  auto id = fed_->Submit(script, {"--gres=gpu:1", "-t", "5"}, {{"GM_TOKEN", other_token}});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto running = fed_->WaitForState(*id, {"RUNNING"});
  ASSERT_TRUE(running.ok()) << running.status().message();

  ProcResult r = fed_->Run({"scancel", std::to_string(*id)});  // as the test user
  EXPECT_NE(r.exit_code, 0) << r.Describe();
  EXPECT_NE(r.err.find("Invalid job id"), std::string::npos) << r.err;
  auto job = fed_->Job(*id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ((*job)["state"], "RUNNING") << "another user's scancel reached the job";
}

}  // namespace
}  // namespace gm::itest
