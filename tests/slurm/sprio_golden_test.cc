// Golden tests for gm sprio. The expected texts in golden/sprio_*.txt are what
// the real sprio of Slurm 22.05.8 printed (captured with
// /work/shared/slurm/local-slurm.sh, PriorityType=priority/multifactor,
// PriorityWeightAge=1000, PriorityWeightFairshare=10000,
// PriorityWeightJobSize=1000, PriorityWeightQOS=1000, PriorityWeightPartition=0,
// one node, three pending jobs: 2 and 3 (--nice=50) of root, 4 of gmalice).
// golden/priority.json is the same three jobs as GET /api/v1/priority
// describes them, listed out of order on purpose (sprio sorts by job id).
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "cli/format.h"
#include "tests/slurm/golden.h"

namespace gm::cli {
namespace {

using golden::Golden;
using golden::Load;

Rendered Sprio(const SprioView& v, const SprioFilter& f = {}) {
  json p = Load("priority.json");
  p["jobs"] = SelectSprioJobs(p["jobs"], f);
  return RenderSprio(p, v);
}

TEST(SprioGolden, DefaultOmitsFactorsWithoutWeight) {
  Rendered r = Sprio({});
  EXPECT_EQ(r.out, Golden("sprio_default.txt"));
  EXPECT_TRUE(r.errors.empty());
}

TEST(SprioGolden, Long) {
  SprioView v;
  v.long_format = true;
  EXPECT_EQ(Sprio(v).out, Golden("sprio_long.txt"));
}

TEST(SprioGolden, UserAddsTheUserColumn) {
  SprioView v;
  v.show_user = true;
  SprioFilter f;
  f.users = {"gmalice"};
  EXPECT_EQ(Sprio(v, f).out, Golden("sprio_user.txt"));
}

TEST(SprioGolden, Normalized) {
  SprioView v;
  v.normalized = true;
  EXPECT_EQ(Sprio(v).out, Golden("sprio_norm.txt"));
}

TEST(SprioGolden, Weights) {
  SprioView v;
  v.weights = true;
  EXPECT_EQ(Sprio(v).out, Golden("sprio_weights.txt"));
  v.long_format = true;
  EXPECT_EQ(Sprio(v).out, Golden("sprio_long_weights.txt"));
}

TEST(SprioGolden, OneJob) {
  SprioFilter f;
  f.jobs = {3};
  EXPECT_EQ(Sprio({}, f).out, Golden("sprio_job3.txt"));
}

TEST(SprioGolden, PercentFormatWithoutHeader) {
  SprioView v;
  v.header = false;
  v.format = "%i|%.6Y|%A|%F|%J|%Q|%N|%r|%u|%10a|%j";
  EXPECT_EQ(Sprio(v).out, Golden("sprio_format.txt"));
}

TEST(SprioFormat, UnknownLettersAreReportedAndLeftOut) {
  // sprio 22.05 knows no %n or %o (measured: "Invalid job format specification: n").
  SprioView v;
  v.header = false;
  v.format = "%i %n%o";
  SprioFilter f;
  f.jobs = {2};
  Rendered r = Sprio(v, f);
  EXPECT_EQ(r.out, "2 \n");
  EXPECT_EQ(r.errors, (std::vector<std::string>{"Invalid job format specification: n",
                                                "Invalid job format specification: o"}));
}

TEST(SprioFormat, HeldJobsAreNotShown) {
  // Measured: a job submitted with sbatch -H is absent from sprio's list.
  json jobs = Load("priority.json")["jobs"];
  jobs[1]["held"] = true;  // job 2
  json shown = SelectSprioJobs(jobs, {});
  ASSERT_EQ(shown.size(), 2u);
  EXPECT_EQ(shown[0]["id"], 3);
  EXPECT_EQ(shown[1]["id"], 4);
}

TEST(SprioFormat, ZeroWeightDropsItsDefaultColumn) {
  json p = Load("priority.json");
  p["weights"]["age"] = 0;
  SprioView v;
  std::string header = RenderSprio(p, v).out.substr(0, RenderSprio(p, v).out.find('\n'));
  EXPECT_EQ(header.find("AGE"), std::string::npos) << header;
  EXPECT_NE(header.find("FAIRSHARE"), std::string::npos) << header;
}

// ---- sinfo -R with who drained a node and when (sinfo(1): "%20E %9U %19H %N")

TEST(SinfoReasons, DrainUserAndTime) {
  json nodes = {{"nodes", json::array({{{"name", "gpu1"}, {"state", "drain"}, {"drain_reason", "disk failing"},
                                        {"drain_user", "admin"}, {"drain_time_ms", 1795316645000LL},
                                        {"partitions", json::array({"main"})}}})},
                {"partitions", json::array({{{"name", "main"}, {"default", true}}})}};
  SinfoView v;
  v.reasons = true;
  v.tz_offset_s = 0;
  EXPECT_EQ(RenderSinfo(nodes, v).out,
            "REASON               USER      TIMESTAMP           NODELIST\n"
            "disk failing         admin     2026-11-22T03:04:05 gpu1\n");
}

}  // namespace
}  // namespace gm::cli
