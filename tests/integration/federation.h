// The integration-test harness: a real local federation (one gmctld, N gmd,
// started by `gm local up` in a fresh temporary directory) driven through real
// child processes (`gm …`, `gmd …`) and the controller's HTTPS/JSON API.
//
// Everything a Federation starts is stopped by its destructor (`gm local down
// --purge`, then SIGKILL for anything still running from its directory), so a
// failing test leaves nothing behind.
//
// Single-threaded: one test drives one Federation from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http.h"
#include "common/status.h"

namespace gm::itest {

using json = nlohmann::json;
using Millis = std::chrono::milliseconds;

// The directory of gm, gmctld and gmd (GM_BIN_DIR, set by CMake).
std::string BinDir();

// What a finished child process left: its exit status (128 + N when signal N
// ended it, 124 when the harness killed it at its time limit), stdout, stderr.
struct ProcResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  bool timed_out = false;
  // "exit 3; stdout: …; stderr: …", for assertion messages.
  std::string Describe() const;
};

struct ProcOptions {
  // The child's complete environment.
  std::map<std::string, std::string> env;
  std::string stdin_text;
  std::string cwd;  // "" = the test's own
  Millis timeout = Millis(60'000);
};

// fork + execve of argv[0] (a path), stdin fed from `stdin_text`, stdout and
// stderr captured. The child leads its own process group, which is killed
// whole at the time limit.
ProcResult RunProcess(const std::vector<std::string>& argv, const ProcOptions& opts);

// Whether `pid` exists and is not a zombie.
bool ProcessRunning(pid_t pid);

// Keeps a process stopped (SIGSTOP) for its lifetime, and continues it
// (SIGCONT) on the way out, whatever happens to the test.
class StoppedProcess {
 public:
  explicit StoppedProcess(pid_t pid);
  ~StoppedProcess() { Resume(); }
  StoppedProcess(const StoppedProcess&) = delete;
  StoppedProcess& operator=(const StoppedProcess&) = delete;
  bool ok() const { return stopped_; }
  void Resume();

 private:
  pid_t pid_;
  bool stopped_ = false;
};

// Polls `ready` every `every` until it is true or `timeout` passes.
bool WaitUntil(const std::function<bool()>& ready, Millis timeout, Millis every = Millis(50));

std::string ReadFileOr(const std::string& path, const std::string& dflt = "");
void WriteFileOrDie(const std::string& path, const std::string& text, int mode = 0644);

// Number of non-overlapping occurrences of `needle` in `hay`.
int CountOf(const std::string& hay, const std::string& needle);

// Raw HTTP answer, for tests of status codes and error bodies.
struct HttpAnswer {
  int status = 0;  // 0: no answer (connection failed)
  std::string body;
  std::string error;  // httplib's error when status == 0
};

class Federation {
 public:
  // The account `gm local up` creates for the test user: the harness runs every
  // child with USER=LOGNAME=kUser.
  static constexpr const char* kUser = "tester";

  // `gm local up --dir DIR --workers N --gpus-per-worker G EXTRA…` in a fresh
  // mkdtemp directory under /tmp.
  static Result<std::unique_ptr<Federation>> Up(int workers, int gpus_per_worker,
                                                std::vector<std::string> extra_args = {});
  ~Federation();
  Federation(const Federation&) = delete;
  Federation& operator=(const Federation&) = delete;

  const std::string& dir() const { return dir_; }
  // DIR/submit: where scripts are written and submitted from (the jobs'
  // SLURM_SUBMIT_DIR, where `gm sbatch --wait` puts their output).
  std::string submit_dir() const { return dir_ + "/submit"; }
  const std::string& controller_url() const { return url_; }
  const std::string& ca_file() const { return ca_; }
  const std::string& user_token() const { return user_token_; }
  const std::string& admin_token() const { return admin_token_; }
  int workers() const { return workers_; }

  // The environment every child gets: the test's own, less GM_*, SLURM_* and
  // SBATCH_* variables, with USER/LOGNAME = kUser and GM_CONTROLLER, GM_CA,
  // GM_TOKEN (the user's token) set. `overrides` come last; an empty value
  // removes the variable.
  std::map<std::string, std::string> ChildEnv(const std::map<std::string, std::string>& overrides = {}) const;

  // Runs `gm ARGS…` as a real child process (cwd "" = submit_dir()).
  ProcResult Run(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env_overrides = {},
                 const std::string& stdin_text = "", const std::string& cwd = "",
                 Millis timeout = Millis(60'000)) const;
  // The same with the admin token.
  ProcResult RunAdmin(const std::vector<std::string>& args) const;
  // Runs another program of BinDir() (gmd, gmctld).
  ProcResult RunBinary(const std::string& program, const std::vector<std::string>& args,
                       Millis timeout = Millis(60'000)) const;

  // Writes `text` as DIR/submit/NAME (mode 0755) and returns its path.
  std::string WriteScript(const std::string& name, const std::string& text) const;
  // `gm sbatch --parsable ARGS… SCRIPT`: the job id, or an error naming what sbatch said.
  Result<int64_t> Submit(const std::string& script_path, const std::vector<std::string>& args = {},
                         const std::map<std::string, std::string>& env_overrides = {}) const;

  // The JSON API, with the user's token, the admin's token, or any token.
  Result<json> Get(const std::string& path, const std::string& token) const;
  Result<json> Post(const std::string& path, const json& body, const std::string& token) const;
  Result<json> UserGet(const std::string& path) const { return Get(path, user_token_); }
  Result<json> AdminGet(const std::string& path) const { return Get(path, admin_token_); }
  // Raw GET/POST: "" token sends no Authorization header.
  HttpAnswer RawGet(const std::string& path, const std::string& token) const;
  HttpAnswer RawPost(const std::string& path, const std::string& body, const std::string& token) const;

  Result<json> Job(int64_t id) const { return AdminGet("/api/v1/jobs/" + std::to_string(id)); }
  Result<json> Wallet(const std::string& account) const;  // read with the admin token
  Result<json> Nodes() const { return AdminGet("/api/v1/nodes"); }
  Result<std::vector<json>> Jobs() const;  // every job, as GET /api/v1/jobs lists them

  // Polls GET /api/v1/jobs/ID every 50 ms until its state is one of `states`;
  // the job's last answer, or an error naming the state it was stuck in.
  Result<json> WaitForState(int64_t id, const std::set<std::string>& states,
                            Millis timeout = Millis(30'000)) const;

  // Pids from DIR/pids (0 if none).
  pid_t ControllerPid() const;
  pid_t WorkerPid(int i) const;  // 1-based

  // SIGKILL to the controller; returns once it no longer runs.
  Status KillController9();
  // `gm local up --dir DIR` again: restarts what is not running, same port, same state.
  Status RestartLocal();

  // Processes whose working directory lies under DIR/workerN/jobs (the jobs'
  // processes), optionally only those whose command name (comm) is `comm`.
  // Where this federation's job directories live (outside its state directory).
  std::string JobsRoot() const;
  std::vector<pid_t> JobProcesses(const std::string& comm = "") const;

  // Log files, for assertion messages.
  std::string Logs() const;

 private:
  Federation() = default;
  Result<std::unique_ptr<ApiClient>> Client(const std::string& token) const;
  void Stop();

  std::string dir_;
  std::string url_, ca_, user_token_, admin_token_;
  int workers_ = 0;
};

}  // namespace gm::itest
