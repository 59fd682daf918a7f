// gm local up/down/status/env: a controller and N workers on loopback, the
// embedded federation that new users, the demo and the integration tests use.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>

#include "cli/cli.h"
#include "common/crypto.h"
#include "common/money.h"

namespace gm::cli {

namespace fs = std::filesystem;

namespace {

constexpr const char* kLocalUsage = R"USAGE(Usage:
  gm local up [--workers N] [--gpus-per-worker G] [--dir DIR] [--price TOKENS] [--fund TOKENS]
              [--kill-grace S] [--heartbeat-timeout S] [--max-bundle-bytes B]
  gm local down [--dir DIR] [--purge]
  gm local status [--dir DIR]
  gm local env [--dir DIR]

'up' starts a controller (gmctld) and N workers (gmd) on loopback in the
background, with state under DIR (default ~/.gridmint/local) and free ports
chosen automatically, then prints the export lines for GM_CONTROLLER, GM_CA
and GM_TOKEN (use: eval "$(gm local up)"). Workers declare G GPUs each
(default 0: discover them through the CUDA runtime). Worker i asks
TOKENS + 0.5·(i-1) tokens per GPU-hour (default 1.0). Your account (named
after $USER) is funded with --fund tokens (default 1000) on first start.
--max-bundle-bytes caps a job's stage-in files (gmctld's option).
Running 'up' again on an existing DIR restarts whatever is not running and
keeps all state. gmctld also reads DIR/controller.conf (key = value lines,
gmctld's option names) when it exists. 'down' stops everything (state kept unless --purge).
)USAGE";

std::string ReadText(const fs::path& p) {
  std::ifstream in(p);
  std::string s((std::istreambuf_iterator<char>(in)), {});
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void WriteText(const fs::path& p, const std::string& text, mode_t mode) {
  std::string tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  chmod(tmp.c_str(), mode);
  fs::rename(tmp, p);
}

pid_t ReadPid(const fs::path& dir, const std::string& name) {
  std::string s = ReadText(dir / "pids" / name);
  return s.empty() ? 0 : static_cast<pid_t>(std::atol(s.c_str()));
}

// Alive and still the program we started (pids are reused).
bool Alive(pid_t pid, const char* program) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::string cmdline = ReadText("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline.find(program) != std::string::npos;
}

// Whether a child we spawned has exited (reaps it if so).
bool ChildExited(pid_t pid) {
  int status = 0;
  return waitpid(pid, &status, WNOHANG) == pid;
}

pid_t Spawn(const std::vector<std::string>& argv, const fs::path& log) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  setsid();
  int in = open("/dev/null", O_RDONLY);
  int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  dup2(in, 0);
  dup2(out, 1);
  dup2(out, 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

std::string Tail(const fs::path& log, int lines) {
  std::ifstream in(log);
  std::vector<std::string> all;
  for (std::string l; std::getline(in, l);) all.push_back(l);
  std::string out;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size(); ++i)
    out += "  " + all[i] + "\n";
  return out;
}

std::string AccountName() {
  std::string u = Env("USER", Env("LOGNAME", "user"));
  std::string out;
  for (char c : u) {
    c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    out += (isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.') ? c : '_';
  }
  if (out.empty() || !(isalpha(static_cast<unsigned char>(out[0])) || out[0] == '_')) out = "u" + out;
  if (out == "admin") out = "admin_user";
  return out.substr(0, 32);
}

struct LocalOpts {
  fs::path dir;
  int workers = 2;
  int gpus_per_worker = 0;
  std::string price = "1.0";
  std::string fund = "1000";
  int kill_grace = 5;
  int heartbeat_timeout = 10;
  int max_bundle_bytes = 0;  // 0: the controller's default
  bool purge = false;
};

Status WaitFor(const std::function<bool()>& ready, int timeout_ms, const std::string& what) {
  for (int waited = 0; waited < timeout_ms; waited += 50) {
    if (ready()) return Status::OK();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Unavailable("timed out waiting for " + what);
}

std::string Exports(const json& st) {
  return "export GM_CONTROLLER=" + st["url"].get<std::string>() + "\nexport GM_CA=" +
         st["ca"].get<std::string>() + "\nexport GM_TOKEN=" + st["user_token"].get<std::string>() + "\n";
}

Status StartController(const LocalOpts& o, json& st) {
  fs::path cdir = o.dir / "controller";
  if (Alive(ReadPid(o.dir, "controller"), "gmctld")) return Status::OK();
  int port = st.value("port", 0);
  fs::remove(cdir / "url");
  std::vector<std::string> argv = {ExeDir() + "/gmctld", "--state-dir", cdir.string(), "--listen",
                     "127.0.0.1:" + std::to_string(port), "--kill-grace", std::to_string(o.kill_grace),
                     "--heartbeat-timeout", std::to_string(o.heartbeat_timeout),
                     // Small challenges: a local federation is verified within seconds.
                     "--challenge-matmul-n", "128", "--challenge-memory-mb", "8", "--challenge-pow-bits", "12"};
  if (o.max_bundle_bytes > 0) argv.insert(argv.end(), {"--max-bundle-bytes", std::to_string(o.max_bundle_bytes)});
  // More controller options (fees, epochs, …) as `key = value` lines.
  if (fs::exists(o.dir / "controller.conf")) argv.insert(argv.end(), {"--config", (o.dir / "controller.conf").string()});
  pid_t pid = Spawn(argv, o.dir / "controller.log");
  WriteText(o.dir / "pids" / "controller", std::to_string(pid) + "\n", 0644);
  bool exited = false;
  Status s = WaitFor([&] { return fs::exists(cdir / "url") || (exited = ChildExited(pid)); }, 20'000,
                     "the controller to listen");
  if (!s.ok() || !fs::exists(cdir / "url"))
    return Status::Unavailable("the controller did not start; the end of " +
                               (o.dir / "controller.log").string() + ":\n" + Tail(o.dir / "controller.log", 15));
  std::string url = ReadText(cdir / "url");
  st["url"] = url;
  st["port"] = std::stoi(url.substr(url.rfind(':') + 1));
  st["ca"] = (cdir / "tls.crt").string();
  return Status::OK();
}

Result<std::unique_ptr<ApiClient>> AdminClient(const LocalOpts& o, const json& st) {
  ApiClientOptions a;
  a.url = st["url"];
  a.ca_file = st["ca"];
  a.token = ReadText(o.dir / "controller" / "admin.token");
  return ApiClient::Create(a);
}

// First start only: the accounts of the local federation, and the user's funds.
Status Provision(const LocalOpts& o, json& st, ApiClient& admin) {
  if (st.contains("user_token")) return Status::OK();
  std::string user = AccountName();
  GM_ASSIGN_OR_RETURN(json u, admin.Post("/api/v1/admin/accounts", json{{"name", user}, {"role", "user"}}));
  GM_ASSIGN_OR_RETURN(Micros fund, ParseTokens(o.fund, "--fund"));
  if (fund > 0)
    GM_RETURN_IF_ERROR(
        admin.Post("/api/v1/admin/mint", json{{"account", user}, {"amount", fund}, {"ref", "local-fund"}}).status());
  json providers = json::array();
  for (int i = 1; i <= o.workers; ++i) {
    std::string name = "provider" + std::to_string(i);
    GM_RETURN_IF_ERROR(admin.Post("/api/v1/admin/accounts", json{{"name", name}, {"role", "provider"}}).status());
    GM_ASSIGN_OR_RETURN(json e, admin.Post("/api/v1/admin/enroll-tokens", json{{"account", name}}));
    providers.push_back({{"account", name}, {"enroll_token", e["enroll_token"]}});
  }
  st["user"] = user;
  st["user_token"] = u["token"];
  st["providers"] = providers;
  return Status::OK();
}

// Job directories must be reachable by the unprivileged job user, which a
// home directory (mode 0700) is not: they live under /var/tmp, one folder per
// local federation.
std::string JobsDir(const LocalOpts& o, int worker) {
  return "/var/tmp/gridmint-jobs/" + Sha256Hex(fs::absolute(o.dir).string()).substr(0, 12) + "/worker" +
         std::to_string(worker);
}

Status StartWorkers(const LocalOpts& o, const json& st) {
  GM_ASSIGN_OR_RETURN(Micros base, ParseTokens(o.price, "--price"));
  int n = st["providers"].size();
  for (int i = 1; i <= n; ++i) {
    std::string name = "worker" + std::to_string(i);
    if (Alive(ReadPid(o.dir, name), "gmd")) continue;
    fs::path wdir = o.dir / name;
    std::vector<std::string> argv = {ExeDir() + "/gmd"};
    if (fs::exists(wdir / "node.json")) {
      argv.insert(argv.end(), {"run", "--state-dir", wdir.string(), "--foreground"});
    } else {
      Micros price = base + (i - 1) * kMicrosPerToken / 2;
      argv.insert(argv.end(),
                  {"attach", "--foreground", "--state-dir", wdir.string(), "--controller", st["url"],
                   "--ca", st["ca"], "--enroll-token", st["providers"][i - 1]["enroll_token"],
                   "--price", FormatTokens(price), "--region", "local", "--site", "local",
                   "--name", "node" + std::to_string(i), "--heartbeat", "2",
                   "--jobs-dir", JobsDir(o, i)});
      if (o.gpus_per_worker > 0)
        argv.insert(argv.end(), {"--gpus", std::to_string(o.gpus_per_worker), "--gpu-model", "localgpu",
                                 "--gpu-mem-mb", "16384"});
    }
    pid_t pid = Spawn(argv, o.dir / (name + ".log"));
    WriteText(o.dir / "pids" / name, std::to_string(pid) + "\n", 0644);
  }
  return Status::OK();
}

Status WaitForNodes(const LocalOpts& o, const json& st, ApiClient& admin) {
  size_t want = st["providers"].size();
  std::string last;
  Status s = WaitFor(
      [&] {
        // Give up at once when every worker we started has already exited.
        bool any_alive = false;
        for (size_t i = 1; i <= want; ++i) {
          pid_t pid = ReadPid(o.dir, "worker" + std::to_string(i));
          any_alive |= pid > 0 && !ChildExited(pid) && kill(pid, 0) == 0;
        }
        if (!any_alive) return true;
        auto r = admin.Get("/api/v1/nodes");
        if (!r.ok()) return false;
        size_t up = 0;
        for (const auto& n : (*r)["nodes"])
          up += n["up"].get<bool>() && n.value("verification", "") == "VERIFIED" ? 1 : 0;
        last = std::to_string(up) + " of " + std::to_string(want);
        return up >= want;
      },
      30'000, "workers to register and pass verification");
  if (s.ok() && last != std::to_string(want) + " of " + std::to_string(want)) s = Status::Unavailable("the workers exited");
  if (!s.ok()) {
    std::string logs;
    for (size_t i = 1; i <= want; ++i) logs += Tail(o.dir / ("worker" + std::to_string(i) + ".log"), 5);
    return Status::Unavailable(s.message() + " (" + last + " up); worker logs:\n" + logs);
  }
  return Status::OK();
}

int Up(LocalOpts& o) {
  std::error_code ec;
  fs::create_directories(o.dir / "pids", ec);
  if (ec) return Fail("local", "cannot create " + o.dir.string() + ": " + ec.message());
  chmod(o.dir.c_str(), 0700);
  fs::path state_file = o.dir / "local.json";
  json st = fs::exists(state_file) ? json::parse(ReadText(state_file), nullptr, false) : json::object();
  if (st.is_discarded()) return Fail("local", state_file.string() + " is corrupt");
  if (st.contains("providers")) o.workers = static_cast<int>(st["providers"].size());
  std::cerr << "gm local: starting controller in " << (o.dir / "controller").string() << "\n";
  Status s = StartController(o, st);
  if (!s.ok()) return Fail("local", s.message());
  auto admin = AdminClient(o, st);
  if (!admin.ok()) return Fail("local", admin.status().message());
  s = WaitFor([&] { return (*admin)->Get("/api/v1/whoami").ok(); }, 10'000, "the controller to answer");
  if (!s.ok()) return Fail("local", s.message());
  s = Provision(o, st, **admin);
  if (!s.ok()) return Fail("local", "provisioning accounts: " + s.message());
  WriteText(state_file, st.dump(2), 0600);
  std::cerr << "gm local: starting " << o.workers << " worker(s)\n";
  s = StartWorkers(o, st);
  if (s.ok()) s = WaitForNodes(o, st, **admin);
  if (!s.ok()) return Fail("local", s.message());
  WriteText(o.dir / "env.sh", Exports(st), 0600);
  std::cerr << "gm local: up; " << o.workers << " node(s) ready. Logs and state in " << o.dir.string()
            << "\n";
  std::cout << Exports(st);
  return 0;
}

int Down(const LocalOpts& o) {
  std::vector<std::pair<std::string, pid_t>> procs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(o.dir / "pids", ec)) {
    std::string name = e.path().filename().string();
    pid_t pid = ReadPid(o.dir, name);
    if (Alive(pid, name == "controller" ? "gmctld" : "gmd")) procs.emplace_back(name, pid);
  }
  // Workers first, so they stop their jobs while the controller still listens.
  std::sort(procs.begin(), procs.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (const auto& [name, pid] : procs) kill(pid, SIGTERM);
  for (int waited = 0; waited < 10'000; waited += 50) {
    bool any = false;
    for (const auto& [name, pid] : procs) any |= kill(pid, 0) == 0 && Alive(pid, name == "controller" ? "gmctld" : "gmd");
    if (!any) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const auto& [name, pid] : procs)
    if (Alive(pid, name == "controller" ? "gmctld" : "gmd")) kill(pid, SIGKILL);
  for (const auto& [name, pid] : procs) fs::remove(o.dir / "pids" / name, ec);
  std::cerr << "gm local: stopped " << procs.size() << " process(es)\n";
  if (o.purge) {
    fs::remove_all(fs::path(JobsDir(o, 1)).parent_path(), ec);
    fs::remove_all(o.dir, ec);
    std::cerr << "gm local: removed " << o.dir.string() << "\n";
  }
  return 0;
}

int StatusCmd(const LocalOpts& o) {
  std::error_code ec;
  int running = 0, total = 0;
  for (const auto& e : fs::directory_iterator(o.dir / "pids", ec)) {
    std::string name = e.path().filename().string();
    pid_t pid = ReadPid(o.dir, name);
    bool alive = Alive(pid, name == "controller" ? "gmctld" : "gmd");
    std::cout << Column(name, 12) << " " << (alive ? "running" : "stopped") << "  pid " << pid << "\n";
    running += alive;
    ++total;
  }
  if (total == 0) std::cout << "no local federation in " << o.dir.string() << "\n";
  return running == total && total > 0 ? 0 : 1;
}

}  // namespace

int CmdLocal(std::vector<std::string> args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kLocalUsage;
    return args.empty() ? 2 : 0;
  }
  LocalOpts o;
  o.dir = fs::path(Env("HOME", "/root")) / ".gridmint" / "local";
  std::string sub = args[0];
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string v;
    auto value = [&](const char* flag) {
      std::string f = flag;
      if (a == f && i + 1 < args.size()) { v = args[++i]; return true; }
      if (a.rfind(f + "=", 0) == 0) { v = a.substr(f.size() + 1); return true; }
      return false;
    };
    auto number = [&](int* out, int lo) {
      char* end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < lo) return false;
      *out = static_cast<int>(n);
      return true;
    };
    if (value("--dir")) o.dir = fs::absolute(v);
    else if (value("--workers")) { if (!number(&o.workers, 1)) return Fail("local", "--workers needs a count >= 1"); }
    else if (value("--gpus-per-worker")) { if (!number(&o.gpus_per_worker, 0)) return Fail("local", "--gpus-per-worker needs a count >= 0"); }
    else if (value("--kill-grace")) { if (!number(&o.kill_grace, 0)) return Fail("local", "--kill-grace needs seconds >= 0"); }
    else if (value("--heartbeat-timeout")) { if (!number(&o.heartbeat_timeout, 1)) return Fail("local", "--heartbeat-timeout needs seconds >= 1"); }
    else if (value("--max-bundle-bytes")) { if (!number(&o.max_bundle_bytes, 1)) return Fail("local", "--max-bundle-bytes needs a count of bytes >= 1"); }
    else if (value("--price")) o.price = v;
    else if (value("--fund")) o.fund = v;
    else if (a == "--purge") o.purge = true;
    else if (a == "--help") { std::cout << kLocalUsage; return 0; }
    else return Fail("local", "unrecognized option '" + a + "' (see gm local --help)");
  }
  if (sub == "up") {
    if (auto p = ParseTokens(o.price, "--price"); !p.ok()) return Fail("local", p.status().message());
    if (auto f = ParseTokens(o.fund, "--fund"); !f.ok()) return Fail("local", f.status().message());
    return Up(o);
  }
  if (sub == "down") return Down(o);
  if (sub == "status") return StatusCmd(o);
  if (sub == "env") {
    json st = json::parse(ReadText(o.dir / "local.json"), nullptr, false);
    if (st.is_discarded() || !st.contains("user_token"))
      return Fail("local", "no local federation in " + o.dir.string() + " (run gm local up)");
    std::cout << Exports(st);
    return 0;
  }
  return Fail("local", "unknown command '" + sub + "' (up, down, status, env)", 2);
}

}  // namespace gm::cli
