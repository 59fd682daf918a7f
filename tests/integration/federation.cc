// The integration-test harness: see federation.h.
#include "tests/integration/federation.h"

#include "common/crypto.h"

#include <dirent.h>
#include <fcntl.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace gm::itest {

namespace fs = std::filesystem;

#ifndef GM_BIN_DIR
#error "GM_BIN_DIR must name the directory of gm, gmctld and gmd"
#endif

std::string BinDir() { return GM_BIN_DIR; }

namespace {

using Clock = std::chrono::steady_clock;

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t first = s.find_first_not_of(" \n");
  return first == std::string::npos ? "" : s.substr(first);
}

std::string Tail(const std::string& text, int lines) {
  int seen = 0;
  for (size_t i = text.size(); i > 0; --i)
    if (text[i - 1] == '\n' && ++seen > lines) return text.substr(i);
  return text;
}

std::string ProcText(pid_t pid, const char* what) {
  return ReadFileOr("/proc/" + std::to_string(pid) + "/" + what);
}

std::string ProcLink(pid_t pid, const char* what) {
  char buf[4096];
  std::string p = "/proc/" + std::to_string(pid) + "/" + what;
  ssize_t n = readlink(p.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

// Running (not a zombie) and not gone.
bool Running(pid_t pid) {
  if (pid <= 0) return false;
  std::string stat = ProcText(pid, "stat");
  if (stat.empty()) return false;
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

bool CmdlineHas(pid_t pid, const std::string& needle) {
  std::string cmd = ProcText(pid, "cmdline");
  std::replace(cmd.begin(), cmd.end(), '\0', ' ');
  return cmd.find(needle) != std::string::npos;
}

std::vector<pid_t> AllPids() {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (struct dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end == 0 && pid > 0) out.push_back(static_cast<pid_t>(pid));
  }
  closedir(d);
  return out;
}

// Collects the exit status of every child that has ended (the harness is a
// child subreaper, so the federation's daemons become its children).
void ReapZombies() {
  int status = 0;
  while (waitpid(-1, &status, WNOHANG) > 0) {
  }
}

std::map<std::string, std::string> ParseExports(const std::string& out) {
  std::map<std::string, std::string> vars;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("export ", 0) != 0) continue;
    line = line.substr(7);
    auto eq = line.find('=');
    if (eq != std::string::npos) vars[line.substr(0, eq)] = Trim(line.substr(eq + 1));
  }
  return vars;
}

void SetUpProcessOnce() {
  static bool done = false;
  if (done) return;
  done = true;
  signal(SIGPIPE, SIG_IGN);
  // Orphaned daemons (gm local up exits after starting them) become our
  // children: a kill -9 can then be awaited exactly, and nothing is left as a
  // zombie of a pid 1 that does not reap.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
}

}  // namespace

// ---- processes -----------------------------------------------------------------

std::string ProcResult::Describe() const {
  std::string s = timed_out ? "timed out" : "exit " + std::to_string(exit_code);
  return s + "; stdout: [" + out + "]; stderr: [" + err + "]";
}

ProcResult RunProcess(const std::vector<std::string>& argv, const ProcOptions& opts) {
  SetUpProcessOnce();
  ProcResult r;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    r.err = std::string("pipe: ") + strerror(errno);
    return r;
  }
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : opts.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (auto& a : argv_copy) args.push_back(a.data());
  args.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) {
    r.err = std::string("fork: ") + strerror(errno);
    return r;
  }
  if (pid == 0) {
    setpgid(0, 0);
    signal(SIGPIPE, SIG_DFL);
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (!opts.cwd.empty() && chdir(opts.cwd.c_str()) != 0) {
      dprintf(2, "harness: chdir %s: %s\n", opts.cwd.c_str(), strerror(errno));
      _exit(126);
    }
    execve(args[0], args.data(), envp.data());
    dprintf(2, "harness: exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  size_t written = 0;
  if (opts.stdin_text.empty()) {
    close(in[1]);
    in[1] = -1;
  }
  auto deadline = Clock::now() + opts.timeout;
  bool out_open = true, err_open = true;
  while ((out_open || err_open) && Clock::now() < deadline) {
    struct pollfd fds[3];
    int n = 0;
    if (out_open) fds[n++] = {out[0], POLLIN, 0};
    if (err_open) fds[n++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) fds[n++] = {in[1], POLLOUT, 0};
    int left_ms = static_cast<int>(
        std::chrono::duration_cast<Millis>(deadline - Clock::now()).count());
    if (poll(fds, n, std::max(1, std::min(left_ms, 200))) < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (!fds[i].revents) continue;
      if (fds[i].fd == in[1]) {
        ssize_t w = write(in[1], opts.stdin_text.data() + written, opts.stdin_text.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN) written = opts.stdin_text.size();
        if (written >= opts.stdin_text.size()) {
          close(in[1]);
          in[1] = -1;
        }
        continue;
      }
      char buf[65536];
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        (fds[i].fd == out[0] ? r.out : r.err).append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        (fds[i].fd == out[0] ? out_open : err_open) = false;
      }
    }
  }
  if (in[1] >= 0) close(in[1]);
  close(out[0]);
  close(err[0]);
  int status = 0;
  pid_t done = 0;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(Millis(5));
  if (done != pid) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    r.timed_out = true;
    r.exit_code = 124;
    return r;
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

bool ProcessRunning(pid_t pid) { return Running(pid); }

StoppedProcess::StoppedProcess(pid_t pid) : pid_(pid) {
  stopped_ = Running(pid_) && kill(pid_, SIGSTOP) == 0;
}

void StoppedProcess::Resume() {
  if (stopped_) kill(pid_, SIGCONT);
  stopped_ = false;
}

bool WaitUntil(const std::function<bool()>& ready, Millis timeout, Millis every) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (ready()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

std::string ReadFileOr(const std::string& path, const std::string& dflt) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return dflt;
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void WriteFileOrDie(const std::string& path, const std::string& text, int mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) {
      fprintf(stderr, "harness: cannot write %s\n", path.c_str());
      std::abort();
    }
  }
  chmod(path.c_str(), static_cast<mode_t>(mode));
}

int CountOf(const std::string& hay, const std::string& needle) {
  if (needle.empty()) return 0;
  int n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + needle.size())) ++n;
  return n;
}

// ---- the federation ---------------------------------------------------------------

Result<std::unique_ptr<Federation>> Federation::Up(int workers, int gpus_per_worker,
                                                   std::vector<std::string> extra_args) {
  SetUpProcessOnce();
  char tmpl[] = "/tmp/gmit.XXXXXX";
  if (!mkdtemp(tmpl)) return Status::IOError(std::string("mkdtemp: ") + strerror(errno));
  std::unique_ptr<Federation> f(new Federation());
  f->dir_ = tmpl;
  f->workers_ = workers;
  std::vector<std::string> args = {"local", "up", "--dir", f->dir_, "--workers", std::to_string(workers),
                                   "--gpus-per-worker", std::to_string(gpus_per_worker)};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  ProcResult r = f->Run(args, {}, "", "/tmp", Millis(90'000));
  if (r.exit_code != 0)
    return Status::Unavailable("gm local up failed: " + r.Describe() + "\n" + f->Logs());
  auto vars = ParseExports(r.out);
  f->url_ = vars["GM_CONTROLLER"];
  f->ca_ = vars["GM_CA"];
  f->user_token_ = vars["GM_TOKEN"];
  f->admin_token_ = Trim(ReadFileOr(f->dir_ + "/controller/admin.token"));
  if (f->url_.empty() || f->ca_.empty() || f->user_token_.empty() || f->admin_token_.empty())
    return Status::Internal("gm local up printed no complete export lines: " + r.Describe());
  std::error_code ec;
  fs::create_directories(f->submit_dir(), ec);
  if (ec) return Status::IOError("cannot create " + f->submit_dir() + ": " + ec.message());
  return f;
}

Federation::~Federation() { Stop(); }

void Federation::Stop() {
  if (dir_.empty()) return;
  std::vector<std::pair<pid_t, std::string>> daemons;
  if (pid_t p = ControllerPid()) daemons.emplace_back(p, "gmctld");
  for (int i = 1; i <= workers_ + 4; ++i)
    if (pid_t p = WorkerPid(i)) daemons.emplace_back(p, "gmd");
  ProcResult r = Run({"local", "down", "--dir", dir_, "--purge"}, {}, "", "/tmp", Millis(30'000));
  if (r.exit_code != 0) fprintf(stderr, "harness: gm local down: %s\n", r.Describe().c_str());
  std::vector<pid_t> killed;
  for (const auto& [pid, program] : daemons)
    if (Running(pid) && CmdlineHas(pid, program)) {
      kill(pid, SIGKILL);
      killed.push_back(pid);
    }
  // Anything else that still runs from the federation's directory: job
  // processes, strays of a crashed daemon.
  pid_t self = getpid();
  for (pid_t pid : AllPids()) {
    if (pid == self || !Running(pid)) continue;
    std::string cwd = ProcLink(pid, "cwd");
    if (cwd == dir_ || cwd.rfind(dir_ + "/", 0) == 0 || CmdlineHas(pid, dir_ + "/") ||
        cwd.rfind(JobsRoot() + "/", 0) == 0) {
      kill(pid, SIGKILL);
      killed.push_back(pid);
    }
  }
  WaitUntil(
      [&] {
        ReapZombies();
        for (pid_t p : killed)
          if (Running(p)) return false;
        return true;
      },
      Millis(5'000), Millis(10));
  ReapZombies();
  std::error_code ec;
  fs::remove_all(dir_, ec);
  dir_.clear();
}

std::map<std::string, std::string> Federation::ChildEnv(
    const std::map<std::string, std::string>& overrides) const {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    std::string k = kv.substr(0, eq);
    if (k.rfind("GM_", 0) == 0 || k.rfind("SLURM_", 0) == 0 || k.rfind("SBATCH_", 0) == 0) continue;
    env[k] = kv.substr(eq + 1);
  }
  env["USER"] = kUser;
  env["LOGNAME"] = kUser;
  if (!env.count("HOME")) env["HOME"] = "/root";
  env["GM_CONTROLLER"] = url_;
  env["GM_CA"] = ca_;
  env["GM_TOKEN"] = user_token_;
  for (const auto& [k, v] : overrides) env[k] = v;
  for (auto it = env.begin(); it != env.end();) it = it->second.empty() ? env.erase(it) : std::next(it);
  return env;
}

ProcResult Federation::Run(const std::vector<std::string>& args,
                           const std::map<std::string, std::string>& env_overrides,
                           const std::string& stdin_text, const std::string& cwd, Millis timeout) const {
  std::vector<std::string> argv = {BinDir() + "/gm"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcOptions o;
  o.env = ChildEnv(env_overrides);
  o.stdin_text = stdin_text;
  o.cwd = cwd.empty() ? submit_dir() : cwd;
  o.timeout = timeout;
  return RunProcess(argv, o);
}

ProcResult Federation::RunAdmin(const std::vector<std::string>& args) const {
  return Run(args, {{"GM_TOKEN", admin_token_}});
}

ProcResult Federation::RunBinary(const std::string& program, const std::vector<std::string>& args,
                                 Millis timeout) const {
  std::vector<std::string> argv = {BinDir() + "/" + program};
  argv.insert(argv.end(), args.begin(), args.end());
  ProcOptions o;
  o.env = ChildEnv();
  o.cwd = submit_dir();
  o.timeout = timeout;
  return RunProcess(argv, o);
}

std::string Federation::WriteScript(const std::string& name, const std::string& text) const {
  std::string path = submit_dir() + "/" + name;
  WriteFileOrDie(path, text, 0755);
  return path;
}

Result<int64_t> Federation::Submit(const std::string& script_path, const std::vector<std::string>& args,
                                   const std::map<std::string, std::string>& env_overrides) const {
  std::vector<std::string> argv = {"sbatch", "--parsable"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(script_path);
  ProcResult r = Run(argv, env_overrides);
  if (r.exit_code != 0) return Status::InvalidArgument("gm sbatch failed: " + r.Describe());
  std::string id = Trim(r.out);
  char* end = nullptr;
  long long v = std::strtoll(id.c_str(), &end, 10);
  if (id.empty() || *end || v <= 0) return Status::Internal("gm sbatch --parsable printed " + r.Describe());
  return static_cast<int64_t>(v);
}

// ---- the API ------------------------------------------------------------------------

Result<std::unique_ptr<ApiClient>> Federation::Client(const std::string& token) const {
  ApiClientOptions o;
  o.url = url_;
  o.ca_file = ca_;
  o.token = token;
  o.connect_timeout_s = 2;
  o.read_timeout_s = 20;
  return ApiClient::Create(o);
}

Result<json> Federation::Get(const std::string& path, const std::string& token) const {
  GM_ASSIGN_OR_RETURN(auto c, Client(token));
  return c->Get(path);
}

Result<json> Federation::Post(const std::string& path, const json& body, const std::string& token) const {
  GM_ASSIGN_OR_RETURN(auto c, Client(token));
  return c->Post(path, body);
}

namespace {

HttpAnswer Raw(const std::string& url, const std::string& ca, const std::string& token,
               const std::function<httplib::Result(httplib::Client&)>& call) {
  httplib::Client cli(url);
  cli.set_ca_cert_path(ca.c_str());
  cli.enable_server_certificate_verification(true);
  cli.set_connection_timeout(2, 0);
  cli.set_read_timeout(20, 0);
  if (!token.empty()) cli.set_bearer_token_auth(token.c_str());
  auto r = call(cli);
  HttpAnswer a;
  if (!r) {
    a.error = httplib::to_string(r.error());
    return a;
  }
  a.status = r->status;
  a.body = r->body;
  return a;
}

}  // namespace

HttpAnswer Federation::RawGet(const std::string& path, const std::string& token) const {
  return Raw(url_, ca_, token, [&](httplib::Client& c) { return c.Get(path.c_str()); });
}

HttpAnswer Federation::RawPost(const std::string& path, const std::string& body,
                               const std::string& token) const {
  return Raw(url_, ca_, token,
             [&](httplib::Client& c) { return c.Post(path.c_str(), body, "application/json"); });
}

Result<json> Federation::Wallet(const std::string& account) const {
  return AdminGet("/api/v1/wallet?account=" + UrlEncode(account));
}

Result<std::vector<json>> Federation::Jobs() const {
  GM_ASSIGN_OR_RETURN(json list, AdminGet("/api/v1/jobs"));
  std::vector<json> out;
  for (const auto& j : list.at("jobs")) out.push_back(j);
  return out;
}

Result<json> Federation::WaitForState(int64_t id, const std::set<std::string>& states,
                                      Millis timeout) const {
  json last;
  Status last_error;
  bool ok = WaitUntil(
      [&] {
        auto j = Job(id);
        if (!j.ok()) {
          last_error = j.status();
          return false;
        }
        last = *j;
        return states.count(last.value("state", "")) > 0;
      },
      timeout);
  if (ok) return last;
  std::string want;
  for (const auto& s : states) want += (want.empty() ? "" : "|") + s;
  if (last.is_object()) last.erase("spec");  // the script and the whole environment: noise here
  return Status::Unavailable("job " + std::to_string(id) + " did not reach " + want + " in " +
                             std::to_string(timeout.count()) + " ms; last answer: " +
                             (last.is_null() ? "none" : last.dump()) +
                             (last_error.ok() ? "" : "; last error: " + last_error.ToString()) + "\n" +
                             Logs());
}

// ---- processes of the federation ------------------------------------------------------

pid_t Federation::ControllerPid() const {
  std::string s = Trim(ReadFileOr(dir_ + "/pids/controller"));
  return s.empty() ? 0 : static_cast<pid_t>(std::atol(s.c_str()));
}

pid_t Federation::WorkerPid(int i) const {
  std::string s = Trim(ReadFileOr(dir_ + "/pids/worker" + std::to_string(i)));
  return s.empty() ? 0 : static_cast<pid_t>(std::atol(s.c_str()));
}

Status Federation::KillController9() {
  pid_t pid = ControllerPid();
  if (!Running(pid) || !CmdlineHas(pid, "gmctld"))
    return Status::FailedPrecondition("the controller (pid " + std::to_string(pid) + ") is not running");
  if (kill(pid, SIGKILL) != 0) return Status::IOError(std::string("kill: ") + strerror(errno));
  bool gone = WaitUntil(
      [&] {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) return true;
        return !Running(pid);
      },
      Millis(10'000), Millis(5));
  if (!gone) return Status::Unavailable("the controller survived SIGKILL");
  ReapZombies();
  return Status::OK();
}

Status Federation::RestartLocal() {
  ProcResult r = Run({"local", "up", "--dir", dir_}, {}, "", "/tmp", Millis(90'000));
  if (r.exit_code != 0) return Status::Unavailable("gm local up (restart) failed: " + r.Describe() + "\n" + Logs());
  auto vars = ParseExports(r.out);
  if (vars["GM_CONTROLLER"] != url_ || vars["GM_TOKEN"] != user_token_ || vars["GM_CA"] != ca_)
    return Status::Internal("the restarted federation answers elsewhere: " + r.out + " (was " + url_ + ")");
  return Status::OK();
}

// Where `gm local` keeps this federation's job directories (see cli/local.cc):
// outside the state directory, so the unprivileged job user can reach them.
std::string Federation::JobsRoot() const {
  return "/var/tmp/gridmint-jobs/" + Sha256Hex(std::filesystem::absolute(dir_).string()).substr(0, 12);
}

std::vector<pid_t> Federation::JobProcesses(const std::string& comm) const {
  std::vector<pid_t> out;
  for (pid_t pid : AllPids()) {
    std::string cwd = ProcLink(pid, "cwd");
    if (cwd.rfind(JobsRoot() + "/worker", 0) != 0) continue;
    if (!Running(pid)) continue;
    if (!comm.empty() && Trim(ProcText(pid, "comm")) != comm) continue;
    out.push_back(pid);
  }
  return out;
}

std::string Federation::Logs() const {
  std::string out;
  std::vector<std::string> names = {"controller.log"};
  for (int i = 1; i <= workers_; ++i) names.push_back("worker" + std::to_string(i) + ".log");
  for (const auto& n : names) {
    std::string text = ReadFileOr(dir_ + "/" + n);
    if (text.empty()) continue;
    out += "---- " + n + " (last lines)\n" + Tail(text, 25);
  }
  return out;
}

}  // namespace gm::itest
