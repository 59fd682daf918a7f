// The corpus against a real Slurm 22.05: each tests/slurm/corpus case is
// submitted held (`sbatch --hold`) to a throw-away cluster started by
// ../shared/slurm/local-slurm.sh, read back with `scontrol show job -o`, and
//  1. checked against its .case expectations (so they are Slurm's, not ours),
//  2. compared field by field with `gm sbatch --test-only --json`, mapped as
//     docs/gm-sbatch.md documents.
// A script Slurm refuses must be refused by gm. Without local-slurm.sh (or
// without Slurm) every case fails, saying so: this test never passes by
// skipping.
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <regex>

#include <gtest/gtest.h>

#include "tests/slurm/slurm_mapping.h"

namespace gm::slurmtest {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string UserName() {
  passwd* pw = getpwuid(getuid());
  return pw ? pw->pw_name : "root";
}

std::map<std::string, std::string> BaseEnv() {
  std::map<std::string, std::string> env;
  env["PATH"] = std::getenv("PATH") ? std::getenv("PATH") : "/usr/sbin:/usr/bin:/sbin:/bin";
  env["USER"] = UserName();
  env["HOME"] = "/root";
  return env;
}

class SlurmDiff : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    const char* override_script = std::getenv("GM_LOCAL_SLURM");
    script_ = override_script ? override_script : std::string(GM_SHARED_DIR) + "/slurm/local-slurm.sh";
    if (!fs::exists(script_)) {
      error_ = "cannot start Slurm: " + script_ +
               " not found. The Slurm differential test needs the shared local-slurm.sh "
               "(set GM_LOCAL_SLURM to its path) and Slurm's packages (contrib/install-deps.sh).";
      return;
    }
    char tmpl[] = "/tmp/gms-XXXXXX";  // short: Slurm's unix sockets allow 107 bytes
    root_ = mkdtemp(tmpl);
    fs::permissions(root_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);  // munged insists
    cluster_ = root_ + "/c";
    work_ = root_ + "/w";
    fs::create_directories(work_);
    auto env = BaseEnv();
    auto up = RunCommand({script_, "up", cluster_, "--nodes", "2", "--gpus-per-node", "4", "--partition", "debug=ALL",
                   "--partition", "gpu=ALL"},
                  env, root_);
    if (up.rc != 0) {
      error_ = "local-slurm.sh up failed (rc " + std::to_string(up.rc) + "): " + up.err + up.out;
      return;
    }
    slurm_env_ = env;
    slurm_env_["SLURM_CONF"] = cluster_ + "/etc/slurm.conf";
    // Features for -C: slurmctld refuses constraints no node has.
    auto feat = RunCommand({"scontrol", "update", "NodeName=node[1-2]", "AvailableFeatures=a100,ib,intel",
                     "ActiveFeatures=a100,ib,intel"},
                    slurm_env_, root_);
    if (feat.rc != 0) error_ = "scontrol update (features) failed: " + feat.err;
  }

  static void TearDownTestSuite() {
    if (!cluster_.empty()) RunCommand({script_, "down", cluster_}, BaseEnv(), root_);
    std::error_code ec;
    if (!root_.empty()) fs::remove_all(root_, ec);
  }

  static std::string script_, root_, cluster_, work_, error_;
  static std::map<std::string, std::string> slurm_env_;
};
std::string SlurmDiff::script_, SlurmDiff::root_, SlurmDiff::cluster_, SlurmDiff::work_, SlurmDiff::error_;
std::map<std::string, std::string> SlurmDiff::slurm_env_;

TEST_P(SlurmDiff, GmMatchesSlurm) {
  ASSERT_TRUE(error_.empty()) << error_;
  CorpusCase c;
  for (auto& each : LoadCorpus(GM_CORPUS_DIR))
    if (each.name == GetParam()) c = each;
  ASSERT_EQ(c.name, GetParam());
  fs::copy_file(c.script_path, fs::path(work_) / (c.name + ".sh"), fs::copy_options::overwrite_existing);
  auto senv = slurm_env_;
  auto genv = BaseEnv();
  for (const auto& [k, v] : c.env) senv[k] = genv[k] = v;

  ProcResult slurm = RunCommand(SubmitArgv(c, {"sbatch", "--hold"}), senv, work_);
  ProcResult gm = RunCommand(SubmitArgv(c, {GM_BIN, "sbatch", "--test-only", "--json"}), genv, work_);
  std::smatch m;
  bool submitted = std::regex_search(slurm.out, m, std::regex("Submitted batch job ([0-9]+)"));
  if (slurm.rc != 0 || !submitted) {
    EXPECT_TRUE(c.reject) << "Slurm refused a case not marked reject: " << slurm.err;
    EXPECT_NE(gm.rc, 0) << "Slurm refused (" << slurm.err << ") but gm accepted: " << gm.out;
    return;
  }
  EXPECT_FALSE(c.reject) << "Slurm accepted a case marked reject";
  long long id = std::stoll(m[1]);
  ProcResult show = RunCommand({"scontrol", "show", "job", "-o", std::to_string(id)}, senv, work_);
  ASSERT_EQ(show.rc, 0) << show.err;
  auto slurm_fields = ParseScontrolLine(show.out);
  for (const auto& [key, value] : c.expect)
    EXPECT_EQ(Normalize(key, slurm_fields[key]), Normalize(key, Substitute(value, id, work_)))
        << "the .case expectation for " << key << " is not what Slurm does; scontrol: " << show.out;
  ASSERT_EQ(gm.rc, 0) << "Slurm accepted but gm refused: " << gm.err;
  json j = json::parse(gm.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << gm.out;
  auto mine = GmAsSlurm(j, id, work_, UserName(), "debug");
  for (const auto& key : ComparedKeys()) {
    if (c.skip.count(key)) continue;
    EXPECT_EQ(mine[key], Normalize(key, slurm_fields[key]))
        << key << ": gm " << gm.out << "\nscontrol: " << show.out;
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, SlurmDiff, ::testing::ValuesIn(CorpusNames(GM_CORPUS_DIR)),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
}  // namespace gm::slurmtest
