// The reference pages (docs/gm-*.md) against what gm says it does: every
// option `gm CMD --help` lists is on the command's page, every row of a
// page's generated option table is an option --help lists, and the Slurm
// shims in contrib/slurm-shims reach gm.
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/slurm/slurm_mapping.h"

namespace gm::slurmtest {
namespace {

const std::vector<std::string> kCommands = {"sbatch", "squeue", "scancel", "sinfo", "sacct",
                                            "scontrol", "sprio", "fetch", "wallet", "admin", "local",
                                            "node", "market"};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::map<std::string, std::string> Env() {
  return {{"PATH", std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin"}, {"HOME", "/tmp"}};
}

std::set<std::string> LongOptions(const std::string& text) {
  std::set<std::string> out;
  std::regex re("--[A-Za-z][A-Za-z0-9-]*");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
    out.insert(it->str());
  return out;
}

class Docs : public ::testing::TestWithParam<std::string> {};

TEST_P(Docs, EveryOptionOfHelpIsOnThePage) {
  const std::string cmd = GetParam();
  std::string page = ReadFile(std::string(GM_SOURCE_DIR) + "/docs/gm-" + cmd + ".md");
  ASSERT_FALSE(page.empty()) << "docs/gm-" << cmd << ".md is missing";
  ProcResult help = RunCommand({GM_BIN, cmd, "--help"}, Env(), "/tmp");
  ASSERT_EQ(help.rc, 0) << help.err;
  ASSERT_FALSE(help.out.empty());
  for (const auto& opt : LongOptions(help.out))
    EXPECT_NE(page.find(opt), std::string::npos) << opt << " (from gm " << cmd << " --help) is not on its page";
}

TEST_P(Docs, GeneratedOptionTablesMatchHelp) {
  const std::string cmd = GetParam();
  std::string page = ReadFile(std::string(GM_SOURCE_DIR) + "/docs/gm-" + cmd + ".md");
  size_t begin = page.find("<!-- BEGIN OPTIONS"), end = page.find("<!-- END OPTIONS");
  if (begin == std::string::npos) return;  // a page without a generated table
  ASSERT_NE(end, std::string::npos);
  std::string table = page.substr(begin, end - begin);
  ProcResult help = RunCommand({GM_BIN, cmd, "--help"}, Env(), "/tmp");
  // Each help line "  -x, --name=VALUE   text" is one row "| `-x, --name=VALUE` | text |".
  std::set<std::string> from_help, from_page;
  std::regex help_line("^ +(-.*?)(?:  +(.*))?$"), row("^\\| `(-.*)` \\| (.*) \\|$");
  std::stringstream hs(help.out), ps(table);
  std::string line;
  while (std::getline(hs, line)) {
    std::smatch m;
    if (std::regex_match(line, m, help_line)) from_help.insert(m[1].str() + " | " + m[2].str());
  }
  while (std::getline(ps, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, row)) continue;
    std::string opt = std::regex_replace(m[1].str(), std::regex("\\\\\\|"), "|");
    std::string text = std::regex_replace(m[2].str(), std::regex("\\\\\\|"), "|");
    from_page.insert(opt + " | " + text);
  }
  EXPECT_EQ(from_page, from_help) << "docs/gm-" << cmd
                                  << ".md's option table is stale: run docs/update-option-tables.sh";
}

INSTANTIATE_TEST_SUITE_P(Commands, Docs, ::testing::ValuesIn(kCommands),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(Docs, MainHelpNamesEveryCommand) {
  ProcResult help = RunCommand({GM_BIN, "--help"}, Env(), "/tmp");
  ASSERT_EQ(help.rc, 0);
  for (const auto& cmd : kCommands) EXPECT_NE(help.out.find("  " + cmd + " "), std::string::npos) << cmd;
  ProcResult bad = RunCommand({GM_BIN, "frobnicate"}, Env(), "/tmp");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_EQ(bad.err.rfind("gm: error: unknown command 'frobnicate'", 0), 0u);
}

std::string ShimDir() { return std::string(GM_SOURCE_DIR) + "/contrib/slurm-shims"; }

std::map<std::string, std::string> ShimEnv() {
  auto env = Env();
  std::string gm = GM_BIN;
  env["PATH"] = gm.substr(0, gm.rfind('/')) + ":" + env["PATH"];
  return env;
}

TEST(SlurmShims, EveryNameIsThereAndRunsGm) {
  for (const char* name : {"sbatch", "squeue", "scancel", "sinfo", "sacct", "scontrol", "srun", "salloc"}) {
    std::string path = ShimDir() + "/" + name;
    EXPECT_EQ(access(path.c_str(), X_OK), 0) << path << " is missing or not executable";
  }
  ProcResult v = RunCommand({ShimDir() + "/squeue", "--version"}, ShimEnv(), "/tmp");
  EXPECT_EQ(v.rc, 0) << v.err;
  EXPECT_EQ(v.out.rfind("gridmint", 0), 0u) << v.out;
}

TEST(SlurmShims, SbatchThroughTheShimIsGmSbatch) {
  char tmpl[] = "/tmp/gmshim-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::ofstream(dir + "/job.sh") << "#!/bin/sh\n#SBATCH -N 2 -t 10\nsrun hostname\n";
  ProcResult shim = RunCommand({ShimDir() + "/sbatch", "--test-only", "--json", "-J", "x y", "job.sh"}, ShimEnv(), dir);
  ProcResult gm = RunCommand({GM_BIN, "sbatch", "--test-only", "--json", "-J", "x y", "job.sh"}, ShimEnv(), dir);
  EXPECT_EQ(shim.rc, 0) << shim.err;
  EXPECT_EQ(shim.out, gm.out);
  EXPECT_NE(shim.out.find("\"job_name\":\"x y\""), std::string::npos);
  ProcResult bad = RunCommand({ShimDir() + "/sbatch", "--test-only", "-t", "1:2:3:4", "job.sh"}, ShimEnv(), dir);
  EXPECT_EQ(bad.rc, 1);  // the exit status passes through
  std::remove((dir + "/job.sh").c_str());
  rmdir(dir.c_str());
}

TEST(SlurmShims, SrunAndSallocSayTheyAreNotThereYet) {
  for (const char* name : {"srun", "salloc"}) {
    ProcResult r = RunCommand({ShimDir() + "/" + name, "hostname"}, ShimEnv(), "/tmp");
    EXPECT_EQ(r.rc, 1);
    EXPECT_EQ(r.err, std::string(name) + ": error: " + name +
                         " is not supported by this version of GridMint yet; submit with sbatch\n");
  }
}

}  // namespace
}  // namespace gm::slurmtest
