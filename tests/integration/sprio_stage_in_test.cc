// gm sprio against the controller's GET /api/v1/priority on a real
// federation, and --gm-stage-in bundles end to end: a job reads the files it
// was sent, and a bundle over the controller's limit is refused by name.
#include <cmath>
#include <filesystem>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/federation.h"

namespace gm::itest {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> Fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> f;
  for (std::string w; in >> w;) f.push_back(w);
  return f;
}

std::map<std::string, std::vector<std::string>> RowsById(const std::string& table) {
  std::map<std::string, std::vector<std::string>> rows;
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    auto f = Fields(line);
    if (!f.empty() && f[0] != "JOBID") rows[f[0]] = f;
  }
  return rows;
}

std::string Rounded(const json& v) { return std::to_string(std::llround(v.get<double>())); }

TEST(SprioTest, ShowsThePendingJobsFactorsAsTheEndpointComputesThem) {
  auto f = Federation::Up(/*workers=*/2, /*gpus_per_worker=*/2);
  ASSERT_TRUE(f.ok()) << f.status().message();
  auto& fed = *f;
  // One job takes every GPU; the others wait with different sizes, nice and QOS.
  std::string script = fed->WriteScript("wait.sh", "#!/bin/bash\nsleep 60\n");
  auto big = fed->Submit(script, {"-N", "2", "--gres=gpu:2", "-J", "big"});
  ASSERT_TRUE(big.ok()) << big.status().message();
  ASSERT_TRUE(fed->WaitForState(*big, {"RUNNING"}).ok()) << fed->Logs();
  auto one = fed->Submit(script, {"-N", "1", "--gres=gpu:1"});
  auto nice = fed->Submit(script, {"-N", "1", "--gres=gpu:1", "--nice=100"});
  auto two = fed->Submit(script, {"-N", "2", "--gres=gpu:1"});
  auto high = fed->Submit(script, {"-N", "1", "--gres=gpu:1", "--qos=high"});
  auto held = fed->Submit(script, {"-N", "1", "--gres=gpu:1", "--hold"});
  ASSERT_TRUE(one.ok() && nice.ok() && two.ok() && high.ok() && held.ok());

  ProcResult text = fed->Run({"sprio", "-l"});
  auto endpoint = fed->UserGet("/api/v1/priority");
  ASSERT_EQ(text.exit_code, 0) << text.Describe();
  ASSERT_TRUE(endpoint.ok()) << endpoint.status().message();
  EXPECT_EQ(Fields(text.out.substr(0, text.out.find('\n'))),
            (std::vector<std::string>{"JOBID", "PARTITION", "USER", "PRIORITY", "SITE", "AGE", "ASSOC", "FAIRSHARE",
                                      "JOBSIZE", "PARTITION", "QOS", "NICE", "TRES"}));
  auto rows = RowsById(text.out);
  ASSERT_EQ(rows.size(), 4u) << text.out;  // pending jobs only: not the running one, not the held one
  EXPECT_FALSE(rows.count(std::to_string(*big)));
  EXPECT_FALSE(rows.count(std::to_string(*held)));
  std::map<int64_t, json> by_id;
  for (const auto& j : (*endpoint)["jobs"]) by_id[j["id"].get<int64_t>()] = j;
  for (int64_t id : {*one, *nice, *two, *high}) {
    ASSERT_TRUE(rows.count(std::to_string(id))) << id << "\n" << text.out;
    const auto& r = rows[std::to_string(id)];
    ASSERT_EQ(r.size(), 12u) << text.out;  // TRES is blank
    const json& j = by_id[id];
    EXPECT_EQ(r[1], "main");
    EXPECT_EQ(r[2], Federation::kUser);
    EXPECT_EQ(r[3], Rounded(j["priority"])) << j.dump();
    EXPECT_EQ(r[4], "0");
    EXPECT_EQ(r[5], Rounded(j["age"]));
    EXPECT_EQ(r[6], "0");
    EXPECT_EQ(r[7], Rounded(j["fairshare"]));
    EXPECT_EQ(r[8], Rounded(j["job_size"]));
    EXPECT_EQ(r[9], "0");
    EXPECT_EQ(r[10], Rounded(j["qos"]));
    EXPECT_EQ(r[11], std::to_string(j["nice"].get<int>()));
  }
  // The factors tell the jobs apart as Slurm's multifactor plugin would.
  auto num = [&](int64_t id, size_t col) { return std::stoll(rows[std::to_string(id)][col]); };
  EXPECT_EQ(num(*nice, 11), 100);
  EXPECT_EQ(num(*one, 3) - num(*nice, 3), 100);
  EXPECT_EQ(num(*two, 8), 2 * num(*one, 8));
  EXPECT_GT(num(*two, 8), 0);
  EXPECT_GT(num(*high, 10), num(*one, 10));

  // -j, -u, -n, -w and -o, and their answers on nothing to show.
  ProcResult j = fed->Run({"sprio", "-h", "-j", std::to_string(*nice)});
  EXPECT_EQ(Fields(j.out).at(0), std::to_string(*nice)) << j.Describe();
  EXPECT_EQ(CountOf(j.out, "\n"), 1) << j.out;
  ProcResult none = fed->Run({"sprio", "-j", "99999"});
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.out, "Unable to find jobs matching user/id(s) specified\n");
  ProcResult bad = fed->Run({"sprio", "-j", "12x"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(bad.err, "sprio: error: Invalid job id: 12x\n");
  ProcResult other = fed->Run({"sprio", "-u", "nobody-here"});
  EXPECT_EQ(other.exit_code, 0);
  EXPECT_EQ(Fields(other.out), (std::vector<std::string>{"JOBID", "PARTITION", "USER", "PRIORITY", "SITE", "AGE",
                                                         "FAIRSHARE", "JOBSIZE", "QOS"}));
  ProcResult w = fed->Run({"sprio", "-w"});
  EXPECT_EQ(Fields(w.out.substr(w.out.find('\n') + 1)),
            (std::vector<std::string>{"Weights", "1", "1000", "10000", "1000", "1000"}))
      << w.out;
  ProcResult o = fed->Run({"sprio", "-h", "-o", "%i|%Y|%N|%j", "-j", std::to_string(*two)});
  const json& t = by_id[*two];
  char norm[32];
  std::snprintf(norm, sizeof norm, "%.7f", t["factors"]["job_size"].get<double>());
  EXPECT_EQ(o.out, std::to_string(*two) + "|" + Rounded(t["priority"]) + "|0|" + norm + "\n") << o.Describe();
  ProcResult js = fed->Run({"sprio", "--json", "-j", std::to_string(*high)});
  json parsed = json::parse(js.out, nullptr, false);
  ASSERT_TRUE(parsed.is_object()) << js.Describe();
  EXPECT_EQ(parsed["jobs"].size(), 1u);
  EXPECT_EQ(parsed["jobs"][0]["id"], *high);
}

class StageInTest : public ::testing::Test {
 protected:
  void Up(std::vector<std::string> extra) {
    auto f = Federation::Up(/*workers=*/1, /*gpus_per_worker=*/1, std::move(extra));
    ASSERT_TRUE(f.ok()) << f.status().message();
    fed_ = std::move(f).value();
  }
  std::unique_ptr<Federation> fed_;
};

TEST_F(StageInTest, JobReadsItsStagedInFilesAndSendsOneBack) {
  Up({});
  std::string dir = fed_->submit_dir();
  WriteFileOrDie(dir + "/input.txt", "hello from the submitter\n");
  fs::create_directories(dir + "/conf/deep");
  WriteFileOrDie(dir + "/conf/deep/a.cfg", "alpha=1\n");
  WriteFileOrDie(dir + "/conf/b.cfg", "beta=2\n");
  std::string script = fed_->WriteScript("reader.sh",
                                         "#!/bin/bash\ncat input.txt conf/deep/a.cfg conf/b.cfg\n"
                                         "sha256sum input.txt | cut -c1-64 > digest.txt\n");
  ProcResult r = fed_->Run({"sbatch", "--wait", "-o", "reader-%j.out", "--gm-stage-in", "input.txt,conf",
                            "--gm-stage-out", "digest.txt", script});
  ASSERT_EQ(r.exit_code, 0) << r.Describe() << fed_->Logs();
  int64_t id = std::stoll(r.out.substr(r.out.rfind(' ') + 1));
  EXPECT_EQ(ReadFileOr(dir + "/reader-" + std::to_string(id) + ".out"),
            "hello from the submitter\nalpha=1\nbeta=2\n");
  // digest.txt came back: the job saw the very bytes that were sent.
  ProcResult local = RunProcess({"/usr/bin/sha256sum", dir + "/input.txt"}, {});
  EXPECT_EQ(ReadFileOr(dir + "/digest.txt"), local.out.substr(0, 64) + "\n");
  auto job = fed_->Job(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ((*job)["spec"]["bundle"].get<std::string>().size(), 64u);

  // A missing stage-in file is refused before anything is submitted.
  size_t before = fed_->Jobs()->size();
  ProcResult missing = fed_->Run({"sbatch", "--gm-stage-in", "input.txt,nothere.dat", script});
  EXPECT_EQ(missing.exit_code, 1) << missing.Describe();
  EXPECT_NE(missing.err.find("nothere.dat"), std::string::npos) << missing.err;
  EXPECT_EQ(fed_->Jobs()->size(), before);
}

TEST_F(StageInTest, OversizedBundleIsRefusedNamingTheLimit) {
  Up({"--max-bundle-bytes", "1000"});
  std::string dir = fed_->submit_dir();
  WriteFileOrDie(dir + "/big.bin", std::string(5000, 'x'));
  std::string script = fed_->WriteScript("big.sh", "#!/bin/bash\nwc -c big.bin\n");
  ProcResult r = fed_->Run({"sbatch", "--gm-stage-in", "big.bin", script});
  EXPECT_EQ(r.exit_code, 1) << r.Describe();
  EXPECT_NE(r.err.find("sbatch: error: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("5000 bytes"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("bundle limit of 1000 bytes"), std::string::npos) << r.err;
  auto jobs = fed_->Jobs();
  ASSERT_TRUE(jobs.ok());
  EXPECT_TRUE(jobs->empty());
  // The controller refuses it too, whoever skips the client's check.
  HttpAnswer a = fed_->RawPost("/api/v1/blobs?sha256=" + std::string(64, 'a'), std::string(2000, 'y'),
                               fed_->user_token());
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.body.find("bundle limit of 1000 bytes"), std::string::npos) << a.body;
  // Within the limit the same job runs.
  WriteFileOrDie(dir + "/big.bin", std::string(900, 'x'));
  ProcResult ok = fed_->Run({"sbatch", "--wait", "-o", "big.out", "--gm-stage-in", "big.bin", script});
  ASSERT_EQ(ok.exit_code, 0) << ok.Describe() << fed_->Logs();
  EXPECT_EQ(ReadFileOr(dir + "/big.out"), "900 big.bin\n");
}

}  // namespace
}  // namespace gm::itest
