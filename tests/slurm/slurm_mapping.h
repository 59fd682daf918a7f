// Shared by the corpus tests: reading tests/slurm/corpus, running commands,
// parsing `scontrol show job -o`, and mapping gm's `sbatch --test-only
// --json` onto the values scontrol shows, so that the two can be compared
// field by field. The mapping is the documented one (docs/gm-sbatch.md,
// "How --test-only --json maps to scontrol show job").
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gm::slurmtest {

struct CorpusCase {
  std::string name;                          // file stem
  std::string script_path;                   // absolute path of NAME.sh
  std::vector<std::string> args;             // before the script
  std::map<std::string, std::string> env;    // SBATCH_* and friends
  std::string wrap;                          // non-empty: --wrap instead of the script
  std::map<std::string, std::string> expect; // scontrol key -> raw value with {id}, {cwd}
  std::set<std::string> skip;
  bool reject = false;
};

// Every NAME.sh in `dir` with its NAME.case, sorted by name.
std::vector<CorpusCase> LoadCorpus(const std::string& dir);
std::vector<std::string> CorpusNames(const std::string& dir);

// The keys compared between Slurm and gm, in scontrol's order.
const std::vector<std::string>& ComparedKeys();

// `scontrol show job -o` as key -> value. Values may hold blanks ("JobName=my
// job"): a word starts a new key only when it is one of scontrol's keys.
std::map<std::string, std::string> ParseScontrolLine(const std::string& line);

// The comparable form of a raw scontrol value (see corpus/README.md).
std::string Normalize(const std::string& key, const std::string& raw);

// Normalize(key) of every compared key as scontrol would show gm's
// resolution. `id` is the job id, `cwd` the submission directory, `user` the
// submitting user, `default_partition` the cluster's.
std::map<std::string, std::string> GmAsSlurm(const nlohmann::json& gm, long long id, const std::string& cwd,
                                             const std::string& user, const std::string& default_partition);

// Replaces {id} and {cwd}.
std::string Substitute(const std::string& value, long long id, const std::string& cwd);

struct ProcResult {
  int rc = -1;
  std::string out, err;
};

// Runs argv[0] (searched in PATH) with exactly `env` as its environment, in
// `cwd`, stdin from /dev/null; collects its output.
ProcResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               const std::string& cwd);

// The argv that submits `c` with `prefix` (e.g. {"sbatch", "--hold"}):
// prefix, the case's args, then the script's file name or --wrap.
std::vector<std::string> SubmitArgv(const CorpusCase& c, std::vector<std::string> prefix);

}  // namespace gm::slurmtest
