// Golden tests for what gm squeue, sinfo and sacct print. The inputs are
// fixed controller answers (golden/jobs.json, golden/nodes.json); the
// expected texts in golden/*.txt were written by hand from Slurm 22.05's
// formats: squeue/sinfo's "%[.]N" columns (right-justified with '.', cut to
// N), their default formats as squeue(1)/sinfo(1) give them and as the real
// commands print them here, and sacct's print_fields (cut with '+', one blank
// after each field, negative widths left-aligned), checked against
// libslurmfull's print_fields_header/print_fields_str.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "cli/format.h"
#include "tests/slurm/golden.h"

namespace gm::cli {
namespace {

using golden::Golden;
using golden::Load;

int64_t Now() { return Load("jobs.json")["now_ms"].get<int64_t>(); }

SqueueView View() {
  SqueueView v;
  v.now_ms = Now();
  v.tz_offset_s = 0;  // the goldens are in UTC
  return v;
}

json Jobs(const SqueueFilter& f) { return SelectSqueueJobs(Load("jobs.json")["jobs"], f); }

TEST(SqueueGolden, DefaultFormat) {
  Rendered r = RenderSqueue(Jobs({}), View());
  EXPECT_EQ(r.out, Golden("squeue_default.txt"));
  EXPECT_TRUE(r.errors.empty());
}

TEST(SqueueGolden, ArrayTasksUnfoldedWithoutHeader) {
  SqueueView v = View();
  v.unfold_arrays = true;
  v.header = false;
  EXPECT_EQ(RenderSqueue(Jobs({}), v).out, Golden("squeue_unfolded_noheader.txt"));
}

TEST(SqueueGolden, PercentFormatWithWidthsAllStatesOneUser) {
  SqueueFilter f;
  f.states = {"ALL"};
  f.users = {"alice"};
  SqueueView v = View();
  v.format = "%10i|%5j|%.5j|%F|%K|%T|%l|%L|%N|%r";
  EXPECT_EQ(RenderSqueue(Jobs(f), v).out, Golden("squeue_format.txt"));
}

TEST(SqueueGolden, FieldNameFormat) {
  SqueueView v = View();
  v.long_format = "JobID:6,JobArrayID:.14,Name:8 ,State:.9|,TimeLimit,ReasonList";
  EXPECT_EQ(RenderSqueue(Jobs({}), v).out, Golden("squeue_long_format.txt"));
}

TEST(SqueueGolden, StartShowsPendingJobsByExpectedStart) {
  SqueueFilter f;
  f.start = true;
  SqueueView v = View();
  v.start = true;
  EXPECT_EQ(RenderSqueue(Jobs(f), v).out, Golden("squeue_start.txt"));
}

// Measured on 22.05.8: squeue -o '%?' reports the letter and prints "%?".
TEST(SqueueGolden, UnknownLettersAreReportedAndKept) {
  SqueueFilter f;
  f.jobs = {"101"};
  SqueueView v = View();
  v.format = "%i %~";
  Rendered r = RenderSqueue(Jobs(f), v);
  EXPECT_EQ(r.out, "JOBID %~\n101 %~\n");
  EXPECT_EQ(r.errors, std::vector<std::string>{"Invalid job format specification: ~"});
  v.format = "";
  v.long_format = "jobid:4,bogus";
  r = RenderSqueue(Jobs(f), v);
  EXPECT_EQ(r.out, "JOBI\n101 \n");
  EXPECT_EQ(r.errors, std::vector<std::string>{"Invalid job format specification: bogus"});
}

TEST(SqueueFilters, UsersStatesPartitionsAndIds) {
  auto ids = [](const json& jobs) {
    std::vector<int64_t> out;
    for (const auto& j : jobs) out.push_back(j["id"].get<int64_t>());
    return out;
  };
  SqueueFilter f;
  EXPECT_EQ(ids(Jobs(f)), (std::vector<int64_t>{101, 102, 103, 104, 105, 106, 107}));
  f.users = {"bob"};
  EXPECT_EQ(ids(Jobs(f)), (std::vector<int64_t>{102}));
  f = {};
  f.states = {"PD"};
  f.partitions = {"gpu"};
  EXPECT_EQ(ids(Jobs(f)), (std::vector<int64_t>{102, 104, 105, 106}));
  f = {};
  f.jobs = {"103"};  // an array's id names all its tasks
  EXPECT_EQ(ids(Jobs(f)), (std::vector<int64_t>{103, 104, 105, 106}));
  f.jobs = {"103_2", "90"};  // -j shows jobs in any state
  EXPECT_EQ(ids(Jobs(f)), (std::vector<int64_t>{90, 105}));
  f = {};
  f.states = {"CD", "TIMEOUT"};
  EXPECT_EQ(ids(Jobs(f)), (std::vector<int64_t>{90, 93}));
}

TEST(SqueueFilters, StatesAndIdsAreCheckedAsSqueueDoes) {
  EXPECT_TRUE(ValidateJobStates({"PD", "RUNNING", "OOM", "ALL"}).ok());
  Status s = ValidateJobStates({"BOGUS"});
  EXPECT_EQ(s.message().substr(0, s.message().find('\n')), "Invalid job state specified: bogus");
  EXPECT_TRUE(ValidateJobIds({"12", "12_3"}).ok());
  EXPECT_EQ(ValidateJobIds({"abc"}).message(), "Invalid job id: abc");
}

// ---- sinfo

SinfoView Sinfo() {
  SinfoView v;
  v.tz_offset_s = 0;
  return v;
}

TEST(SinfoGolden, DefaultGroupsNodesByPartitionAndState) {
  Rendered r = RenderSinfo(Load("nodes.json"), Sinfo());
  EXPECT_EQ(r.out, Golden("sinfo_default.txt"));
  EXPECT_TRUE(r.errors.empty());
}

// GridMint's own view (no Slurm counterpart): the expected table is written
// out by hand from the nodes below.
TEST(SinfoGroups, OneLinePerLocalityGroup) {
  json resp = json::parse(R"({"nodes": [
    {"name": "a1", "site": "fra1", "group": "fra1", "state": "idle", "gpus": 8, "gpus_free": 8, "gpu_model": "H100", "partitions": ["main"]},
    {"name": "a2", "site": "fra2", "group": "fra1", "state": "mix", "gpus": 4, "gpus_free": 1, "gpu_model": "A100", "partitions": ["main"]},
    {"name": "a3", "site": "fra2", "group": "fra1", "state": "alloc", "gpus": 8, "gpus_free": 0, "gpu_model": "H100", "partitions": ["main"]},
    {"name": "b1", "site": "ams", "group": "ams", "state": "down", "gpus": 2, "gpus_free": 2, "gpu_model": "L40S", "partitions": ["main"]},
    {"name": "b2", "site": "ams", "group": "ams", "state": "drng", "gpus": 2, "gpus_free": 1, "gpu_model": "L40S", "partitions": ["main"]}
  ], "partitions": [{"name": "main"}]})");
  SinfoView v;
  v.groups = true;
  EXPECT_EQ(RenderSinfoGroups(resp, v).out,
            "GROUP SITES     NODES(A/I/O/T) GPUS(F/T) MODELS\n"
            "ams   ams       0/0/2/2        0/0       -\n"
            "fra1  fra1,fra2 2/1/0/3        9/20      H100:16,A100:4\n");
  v.header = false;
  v.states = {"idle"};
  EXPECT_EQ(RenderSinfoGroups(resp, v).out, "fra1 fra1 0/1/0/1 8/8 H100:8\n");
}

// gm market (GridMint's own): the expected text is written out by hand;
// asks print as every amount of tokens does (six decimals, common/money.h).
TEST(Market, TableAndParsable) {
  json m = json::parse(R"({"models": [
    {"model": "A100", "nodes": 2, "gpus": 8, "gpus_free": 7, "lowest_ask": 500000, "median_ask": 500000,
     "jobs_waiting": 0, "utilisation": 0.125},
    {"model": "H100", "nodes": 3, "gpus": 20, "gpus_free": 10, "lowest_ask": 2000000, "median_ask": 3000000,
     "jobs_waiting": 12, "utilisation": 0.5}], "any_model_waiting": 1})");
  EXPECT_EQ(RenderMarket(m, true, false),
            "MODEL NODES GPUS FREE   LOWEST   MEDIAN WAITING  UTIL\n"
            "A100      2    8    7 0.500000 0.500000       0 12.5%\n"
            "H100      3   20   10 2.000000 3.000000      12 50.0%\n"
            "1 more job(s) wait for GPUs of any model\n");
  EXPECT_EQ(RenderMarket(m, false, true), "A100|2|8|7|0.500000|0.500000|0|12.5%\nH100|3|20|10|2.000000|3.000000|12|50.0%\n");
}

TEST(SinfoGolden, NodeOriented) {
  SinfoView v = Sinfo();
  v.node_oriented = true;
  EXPECT_EQ(RenderSinfo(Load("nodes.json"), v).out, Golden("sinfo_node.txt"));
}

TEST(SinfoGolden, Reasons) {
  SinfoView v = Sinfo();
  v.reasons = true;
  EXPECT_EQ(RenderSinfo(Load("nodes.json"), v).out, Golden("sinfo_reasons.txt"));
}

TEST(SinfoGolden, PercentFormat) {
  SinfoView v = Sinfo();
  v.format = "%P %.5D %C %G %f %c %m %T";
  EXPECT_EQ(RenderSinfo(Load("nodes.json"), v).out, Golden("sinfo_format.txt"));
}

TEST(SinfoGolden, Summarize) {
  SinfoView v = Sinfo();
  v.summarize = true;
  EXPECT_EQ(RenderSinfo(Load("nodes.json"), v).out, Golden("sinfo_summarize.txt"));
}

TEST(SinfoFilters, PartitionStateAndNoHeader) {
  SinfoView v = Sinfo();
  v.partitions = {"debug"};
  v.states = {"idle"};
  v.header = false;
  EXPECT_EQ(RenderSinfo(Load("nodes.json"), v).out, "debug        up    1:00:00      1   idle cpu1\n");
  // Measured: a state nothing is in still prints the partition, 0 nodes, n/a.
  v.states = {"alloc"};
  EXPECT_EQ(RenderSinfo(Load("nodes.json"), v).out, "debug        up    1:00:00      0    n/a \n");
}

// ---- sacct

SacctView Sacct() {
  SacctView v;
  v.now_ms = Now();
  v.tz_offset_s = 0;
  return v;
}

json SacctJobs(std::set<std::string> users) {
  SacctFilter f;
  f.users = std::move(users);
  return SelectSacctJobs(Load("jobs.json")["jobs"], f);
}

TEST(SacctGolden, DefaultFields) {
  auto out = RenderSacct(SacctJobs({"alice"}), Sacct());
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, Golden("sacct_default.txt"));
}

TEST(SacctGolden, WidthSuffixesAndTruncation) {
  SacctView v = Sacct();
  v.fields = "JobID%-8,JobName%-12,State%12,Elapsed,Timelimit,Start,End,NodeList%12";
  auto out = RenderSacct(SacctJobs({"alice", "bob"}), v);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, Golden("sacct_widths.txt"));
}

TEST(SacctGolden, Parsable2WithGridMintFields) {
  SacctView v = Sacct();
  v.fields = "JobID,State,Charged,Fee,Refunded,Providers";
  v.parsable = 2;
  EXPECT_EQ(*RenderSacct(SacctJobs({"alice"}), v), Golden("sacct_parsable2.txt"));
}

TEST(SacctGolden, ParsableWithoutHeader) {
  SacctView v = Sacct();
  v.fields = "jobid,state";  // names are case-insensitive
  v.parsable = 1;
  v.header = false;
  EXPECT_EQ(*RenderSacct(SacctJobs({"alice"}), v), Golden("sacct_parsable_noheader.txt"));
}

TEST(SacctGolden, GridMintMoneyColumns) {
  SacctView v = Sacct();
  v.fields = "JobID,State,Charged,Providers";
  EXPECT_EQ(*RenderSacct(SacctJobs({"alice"}), v), Golden("sacct_gridmint.txt"));
}

TEST(SacctFields, PrefixesAndUnknownNames) {
  SacctView v = Sacct();
  v.fields = "jobn,exitc";  // sacct takes the first field a name is a prefix of
  v.parsable = 2;
  SacctFilter f;
  f.jobs = {"90"};
  EXPECT_EQ(*RenderSacct(SelectSacctJobs(Load("jobs.json")["jobs"], f), v), "JobName|ExitCode\nprep|0:0\n");
  v.fields = "JobID,Bogus";
  EXPECT_EQ(RenderSacct(json::array(), v).status().message(), "Invalid field requested: \"Bogus\"");
}

TEST(SacctFilters, TimeWindowStatesAndNames) {
  json all = Load("jobs.json")["jobs"];
  int64_t now = Now();
  auto ids = [](const json& jobs) {
    std::vector<int64_t> out;
    for (const auto& j : jobs) out.push_back(j["id"].get<int64_t>());
    return out;
  };
  SacctFilter f;
  f.start_ms = now - 3500 * 1000;  // jobs that ended before this are out
  EXPECT_EQ(ids(SelectSacctJobs(all, f)), (std::vector<int64_t>{93, 101, 102, 103, 104, 105, 106, 107}));
  f = {};
  f.end_ms = now - 4500 * 1000;  // jobs submitted after this are out
  EXPECT_EQ(ids(SelectSacctJobs(all, f)), (std::vector<int64_t>{90, 91}));
  f = {};
  f.states = {"F", "CANCELLED"};
  EXPECT_EQ(ids(SelectSacctJobs(all, f)), (std::vector<int64_t>{91, 92}));
  f = {};
  f.names = {"sweep"};
  f.jobs = {"103_1", "103_5"};
  EXPECT_EQ(ids(SelectSacctJobs(all, f)), (std::vector<int64_t>{104, 106}));
}

TEST(SlurmTimes, SacctStartAndEndForms) {
  int64_t now = Now();  // 2026-11-22T12:00:00 UTC
  auto at = [&](const std::string& t) { return *ParseSlurmTime(t, now, 0); };
  EXPECT_EQ(at("now"), now);
  EXPECT_EQ(at("today"), now - 12 * 3600 * 1000LL);
  EXPECT_EQ(at("midnight"), now - 12 * 3600 * 1000LL);
  EXPECT_EQ(at("yesterday"), now - 36 * 3600 * 1000LL);
  EXPECT_EQ(at("now-2hours"), now - 2 * 3600 * 1000LL);
  EXPECT_EQ(at("now+30minutes"), now + 30 * 60 * 1000LL);
  EXPECT_EQ(at("2026-11-22T10:30"), now - 90 * 60 * 1000LL);
  EXPECT_EQ(at("2026-11-22T10:30:15"), now - (90 * 60 - 15) * 1000LL);
  EXPECT_EQ(at("2026-11-21"), now - 36 * 3600 * 1000LL);
  EXPECT_EQ(at("11/21"), now - 36 * 3600 * 1000LL);
  EXPECT_EQ(at("11/21/26"), now - 36 * 3600 * 1000LL);
  EXPECT_EQ(at("08:00"), now - 4 * 3600 * 1000LL);
  EXPECT_EQ(*ParseSlurmTime("08:00", now, 3600), now - 5 * 3600 * 1000LL);  // 08:00 at UTC+1 is 07:00 UTC
  for (const char* bad : {"garbage", "2026-13-01", "25:00", "now+3fortnights", "11/21/2026x"})
    EXPECT_FALSE(ParseSlurmTime(bad, now, 0).ok()) << bad;
}

// ---- scancel

TEST(ScancelTargets, IdsArraysAndFilters) {
  json jobs = Load("jobs.json")["jobs"];
  std::vector<std::string> missing;
  CancelRequest r;
  r.ids = {"103"};  // the whole array
  EXPECT_EQ(SelectCancelTargets(jobs, r, &missing), (std::vector<int64_t>{103, 104, 105, 106}));
  r.ids = {"103_5", "103_[1-2]"};
  EXPECT_EQ(SelectCancelTargets(jobs, r, &missing), (std::vector<int64_t>{106, 104, 105}));
  r.ids = {"103"};
  r.states = {"PD"};
  EXPECT_EQ(SelectCancelTargets(jobs, r, &missing), (std::vector<int64_t>{104, 105, 106}));
  r = {};
  r.users = {"alice"};
  r.names = {"sweep"};
  r.states = {"RUNNING"};
  EXPECT_EQ(SelectCancelTargets(jobs, r, &missing), (std::vector<int64_t>{103}));
  r = {};
  r.users = {"bob"};  // without ids only jobs that have not ended
  EXPECT_EQ(SelectCancelTargets(jobs, r, &missing), (std::vector<int64_t>{102}));
  EXPECT_TRUE(missing.empty());
  r = {};
  r.ids = {"999", "101"};
  EXPECT_EQ(SelectCancelTargets(jobs, r, &missing), (std::vector<int64_t>{101}));
  EXPECT_EQ(missing, std::vector<std::string>{"999"});
}

TEST(ScancelTargets, IdsStatesAndSignalsAreChecked) {
  CancelRequest r;
  r.ids = {"12", "12_3", "12_[1-3,5]"};
  EXPECT_TRUE(ValidateCancel(r).ok());
  r.ids = {"abc"};
  EXPECT_EQ(ValidateCancel(r).message(), "Invalid job id abc");
  r.ids = {"12_x"};
  EXPECT_EQ(ValidateCancel(r).message(), "Invalid job id 12_x");
  r = {};
  r.states = {"COMPLETED"};
  EXPECT_EQ(ValidateCancel(r).message(),
            "Invalid job state specified: completed\nValid job states are PENDING, RUNNING, and SUSPENDED");
  EXPECT_EQ(SignalName("SIGUSR1"), "USR1");
  EXPECT_EQ(SignalName("usr2"), "USR2");
  EXPECT_EQ(SignalName("9"), "KILL");
  EXPECT_EQ(SignalName("15"), "TERM");
  EXPECT_EQ(SignalName("BOGUS"), std::nullopt);
}

// ---- columns

TEST(Columns, SlurmAndSacctRules) {
  EXPECT_EQ(SlurmColumn("abc", 5, true), "  abc");
  EXPECT_EQ(SlurmColumn("abc", 5, false), "abc  ");
  EXPECT_EQ(SlurmColumn("abcdefgh", 5, true), "abcde");  // cut, keeping the start
  EXPECT_EQ(SlurmColumn("abcdefgh", 0, false), "abcdefgh");
  // As libslurmfull's print_fields_str prints (22.05.8).
  EXPECT_EQ(SacctColumn("1234.batch", -12), "1234.batch   ");
  EXPECT_EQ(SacctColumn("a_very_long_name", 10), "a_very_lo+ ");
  EXPECT_EQ(SacctColumn("12345678901234", -12), "12345678901+ ");
  EXPECT_EQ(TaskRanges({7, 1, 2, 3, 5, 3}), "1-3,5,7");
}

TEST(TestOnly, FieldsInTheIssuesOrderNullWhereUnset) {
  JobSpec s;
  s.job_name = "job.sh";
  auto j = TestOnlyJson(s);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "job_name", "nodes_min", "nodes_max", "ntasks", "ntasks_per_node", "cpus_per_task",
                      "gpus_per_node", "gpus_total", "gpu_type", "mem_per_node_mb", "mem_per_cpu_mb",
                      "time_limit_s", "partition", "account", "qos", "constraint", "array",
                      "array_max_running", "dependency", "chdir", "exclusive", "requeue", "output", "error"}));
  EXPECT_EQ(j["ntasks"], 1);
  EXPECT_EQ(j["cpus_per_task"], 1);
  EXPECT_TRUE(j["partition"].is_null());
  EXPECT_TRUE(j["array"].is_null());
  EXPECT_TRUE(j["requeue"].is_null());
  s.array_tasks = {1, 3, 5};
  s.nodes_min = s.nodes_max = 2;
  s.ntasks_per_node = 4;
  j = TestOnlyJson(s);
  EXPECT_EQ(j["array"], (std::vector<int>{1, 3, 5}));
  EXPECT_EQ(j["ntasks"], 8);
}

}  // namespace
}  // namespace gm::cli
