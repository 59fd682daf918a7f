// The corpus against gm alone: every tests/slurm/corpus case through the gm
// binary (`gm sbatch --test-only --json`, no controller), compared with the
// values its .case file expects from Slurm's documentation. The same
// expectations are checked against a real Slurm by slurm_diff_test.
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "tests/slurm/slurm_mapping.h"

namespace gm::slurmtest {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr long long kFakeJobId = 4242;

std::string UserName() {
  passwd* pw = getpwuid(getuid());
  return pw ? pw->pw_name : "root";
}

class Corpus : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/gmcorpus-XXXXXX";
    work_ = mkdtemp(tmpl);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(work_, ec);
  }
  static std::string work_;
};
std::string Corpus::work_;

// The keys `gm sbatch --test-only --json` prints, in the order.
const std::vector<std::string> kJsonKeys = {
    "job_name", "nodes_min", "nodes_max", "ntasks", "ntasks_per_node", "cpus_per_task", "gpus_per_node",
    "gpus_total", "gpu_type", "mem_per_node_mb", "mem_per_cpu_mb", "time_limit_s", "partition", "account",
    "qos", "constraint", "array", "array_max_running", "dependency", "chdir", "exclusive", "requeue",
    "output", "error"};

TEST_P(Corpus, GmResolvesAsSlurmDocuments) {
  CorpusCase c;
  for (auto& each : LoadCorpus(GM_CORPUS_DIR))
    if (each.name == GetParam()) c = each;
  ASSERT_EQ(c.name, GetParam());
  ASSERT_TRUE(c.reject || !c.expect.empty() || !c.skip.empty()) << c.name << ".case expects nothing";
  fs::copy_file(c.script_path, fs::path(work_) / (c.name + ".sh"), fs::copy_options::overwrite_existing);
  std::map<std::string, std::string> env = c.env;
  env["PATH"] = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  env["USER"] = UserName();
  env["HOME"] = work_;
  ProcResult r = RunCommand(SubmitArgv(c, {GM_BIN, "sbatch", "--test-only", "--json"}), env, work_);
  if (c.reject) {
    EXPECT_NE(r.rc, 0) << "gm accepted a script Slurm refuses: " << r.out;
    EXPECT_EQ(r.err.rfind("sbatch: error: ", 0), 0u) << r.err;
    return;
  }
  ASSERT_EQ(r.rc, 0) << r.err;
  json j = json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  // Exactly the fields, in its order (the output is an ordered object).
  std::vector<std::string> keys;
  auto ordered = nlohmann::ordered_json::parse(r.out);
  for (auto it = ordered.begin(); it != ordered.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, kJsonKeys);
  auto gm = GmAsSlurm(j, kFakeJobId, work_, UserName(), "debug");
  for (const auto& [key, value] : c.expect) {
    ASSERT_TRUE(gm.count(key)) << "unknown key " << key << " in " << c.name << ".case";
    EXPECT_EQ(gm[key], Normalize(key, Substitute(value, kFakeJobId, work_))) << key;
  }
}

INSTANTIATE_TEST_SUITE_P(Sbatch, Corpus, ::testing::ValuesIn(CorpusNames(GM_CORPUS_DIR)),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(CorpusSize, CoversTheOptionMatrix) {
  auto cases = LoadCorpus(GM_CORPUS_DIR);
  EXPECT_GE(cases.size(), 60u);
  int rejected = 0, with_args = 0, with_env = 0;
  for (const auto& c : cases) {
    rejected += c.reject;
    with_args += !c.args.empty() || !c.wrap.empty();
    with_env += !c.env.empty();
  }
  EXPECT_GE(rejected, 10);
  EXPECT_GE(with_args, 3);
  EXPECT_GE(with_env, 5);
}

}  // namespace
}  // namespace gm::slurmtest
