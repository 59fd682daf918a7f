// bench_e2e: the whole controller, end to end. Starts a local federation
// (`gm local up --workers 4 --gpus-per-worker 0` in a fresh temporary
// directory), submits trivial batch jobs through the real HTTPS/JSON API from
// a few client threads (the request `gm sbatch --wrap true` sends), and
// prints submitted/s, started/s, completed/s and submit-to-running latency;
// then, on the idle federation, the submit-to-running latency of single jobs
// submitted one after another. Stops and removes the federation at the end.
//
//   bench_e2e [--jobs 10000] [--clients 4] [--workers 4] [--idle-jobs 50]
//             [--timeout-s 1800] [--keep]
//
// The last line printed is one JSON object. See bench/README.md.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/http.h"
#include "common/job_spec.h"
#include "common/sbatch_options.h"

namespace {

namespace fs = std::filesystem;
using gm::json;
using Clock = std::chrono::steady_clock;

struct Flags {
  int jobs = 10'000;
  int clients = 4;
  int workers = 4;
  int idle_jobs = 50;
  int timeout_s = 1'800;
  bool keep = false;
};

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "bench_e2e: %s\nusage: bench_e2e [--jobs N] [--clients N] [--workers N] [--idle-jobs N]"
               " [--timeout-s S] [--keep]\n",
               why.c_str());
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--keep") { f.keep = true; continue; }
    if (a == "--help" || a == "-h") Usage("help");
    std::string v;
    if (auto eq = a.find('='); eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      Usage("option " + a + " needs a value");
    }
    char* end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end || n < 0) Usage("bad value for " + a + ": '" + v + "'");
    if (a == "--jobs") f.jobs = static_cast<int>(n);
    else if (a == "--clients") f.clients = std::max(1, static_cast<int>(n));
    else if (a == "--workers") f.workers = std::max(1, static_cast<int>(n));
    else if (a == "--idle-jobs") f.idle_jobs = static_cast<int>(n);
    else if (a == "--timeout-s") f.timeout_s = static_cast<int>(n);
    else Usage("unknown option " + a);
  }
  return f;
}

// gm, gmctld and gmd sit beside this program (build/bin).
std::string BinDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && fs::exists(self.parent_path() / "gm")) return self.parent_path().string();
#ifdef GM_BIN_DIR
  return GM_BIN_DIR;
#else
  return ".";
#endif
}

// Runs `argv` with `env` added, stdout captured, stderr appended to `log`.
int RunCapture(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
               const std::string& log, std::string* out) {
  // Close-on-exec: the daemons `gm local up` leaves running must not inherit
  // the pipe, or reading it would wait for them to end.
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    dup2(pipefd[1], 1);
    int err = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (err >= 0) dup2(err, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  char buf[4096];
  for (ssize_t n; (n = read(pipefd[0], buf, sizeof buf)) > 0;) out->append(buf, n);
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::map<std::string, std::string> ParseExports(const std::string& text) {
  std::map<std::string, std::string> vars;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.rfind("export ", 0) != 0) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    vars[line.substr(7, eq - 7)] = line.substr(eq + 1);
  }
  return vars;
}

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t k = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  return v[std::min(v.size() - 1, k == 0 ? 0 : k - 1)];
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

bool Terminal(const std::string& state) {
  return state != "PENDING" && state != "RUNNING" && state != "COMPLETING";
}

class Bench {
 public:
  explicit Bench(Flags f) : f_(f) {}
  int Run();

 private:
  bool Up();
  void Down();
  std::unique_ptr<gm::ApiClient> Client() const;
  json Spec(const std::string& name) const;
  bool Throughput();
  bool Idle(std::vector<double>* to_running, std::vector<double>* rtt, std::vector<double>* turnaround);

  Flags f_;
  std::string dir_, url_, ca_, token_, log_;
  std::map<std::string, std::string> env_;
  // Figures.
  double up_s_ = 0, submit_wall_s_ = 0;
  int submitted_ = 0, submit_errors_ = 0, completed_ = 0, not_completed_ = 0;
  double submitted_per_s_ = 0, started_per_s_ = 0, completed_per_s_ = 0;
  std::vector<double> submit_rtt_ms_, to_running_ms_;
  std::vector<double> idle_to_running_ms_, idle_rtt_ms_, idle_turnaround_ms_;
  std::vector<double> after_to_running_ms_, after_rtt_ms_, after_turnaround_ms_;  // idle again, after the load
  std::vector<double> whoami_rtt_ms_;  // GET /api/v1/whoami: TLS + HTTP + auth, no work, no database
};

bool Bench::Up() {
  char tmpl[] = "/tmp/gm-bench-e2e.XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::perror("bench_e2e: mkdtemp");
    return false;
  }
  dir_ = tmpl;
  log_ = dir_ + "-gm.log";
  fs::create_directories(dir_ + "/submit");
  env_ = {{"USER", "bench"}, {"LOGNAME", "bench"}};
  std::string out;
  auto t0 = Clock::now();
  int rc = RunCapture({BinDir() + "/gm", "local", "up", "--dir", dir_ + "/fed", "--workers", std::to_string(f_.workers),
                       "--gpus-per-worker", "0", "--fund", "1000000"},
                      env_, log_, &out);
  up_s_ = std::chrono::duration<double>(Clock::now() - t0).count();
  auto vars = ParseExports(out);
  url_ = vars["GM_CONTROLLER"];
  ca_ = vars["GM_CA"];
  token_ = vars["GM_TOKEN"];
  if (rc != 0 || url_.empty() || token_.empty()) {
    std::fprintf(stderr, "bench_e2e: gm local up failed (exit %d); see %s\n", rc, log_.c_str());
    return false;
  }
  std::fprintf(stderr, "bench_e2e: federation of %d workers up in %.1f s at %s (%s)\n", f_.workers, up_s_,
               url_.c_str(), dir_.c_str());
  return true;
}

void Bench::Down() {
  if (dir_.empty()) return;
  if (f_.keep) {
    std::fprintf(stderr, "bench_e2e: --keep: the federation still runs in %s/fed\n", dir_.c_str());
    return;
  }
  std::string out;
  RunCapture({BinDir() + "/gm", "local", "down", "--dir", dir_ + "/fed", "--purge"}, env_, log_, &out);
  std::error_code ec;
  fs::remove_all(dir_, ec);
  fs::remove(log_, ec);
}

std::unique_ptr<gm::ApiClient> Bench::Client() const {
  gm::ApiClientOptions o;
  o.url = url_;
  o.ca_file = ca_;
  o.token = token_;
  o.read_timeout_s = 120;
  auto c = gm::ApiClient::Create(o);
  if (!c.ok()) {
    std::fprintf(stderr, "bench_e2e: %s\n", c.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(c).value();
}

// What `gm sbatch --wrap true` would send: parsed by the same parser.
json Bench::Spec(const std::string& name) const {
  gm::SbatchInput in;
  in.argv = {"-J", name, "-t", "1", "-n", "1", "-c", "1", "-o", "/dev/null", "--wrap", "true"};
  in.env = env_;
  in.cwd = dir_ + "/submit";
  in.read_file = [](const std::string& p) -> gm::Result<std::string> {
    return gm::Status::NotFound("no file " + p);
  };
  auto r = gm::ParseSbatch(in);
  if (!r.ok()) {
    std::fprintf(stderr, "bench_e2e: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  return json{{"spec", r->spec}};
}

// N jobs from `clients` threads as fast as the API takes them; rates from the
// controller's own timestamps once every job has ended.
bool Bench::Throughput() {
  std::atomic<int> next{0};
  std::mutex mu;
  std::vector<int64_t> ids;
  json body = Spec("bench");
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < f_.clients; ++c) {
    threads.emplace_back([&] {
      auto api = Client();
      std::vector<int64_t> mine;
      std::vector<double> rtt;
      int errors = 0;
      while (next.fetch_add(1) < f_.jobs) {
        auto s = Clock::now();
        auto r = api->Post("/api/v1/jobs", body);
        rtt.push_back(Ms(Clock::now() - s));
        if (r.ok()) mine.push_back((*r)["job_id"].get<int64_t>());
        else if (++errors <= 3) std::fprintf(stderr, "bench_e2e: submit: %s\n", r.status().ToString().c_str());
      }
      std::lock_guard<std::mutex> lock(mu);
      ids.insert(ids.end(), mine.begin(), mine.end());
      submit_rtt_ms_.insert(submit_rtt_ms_.end(), rtt.begin(), rtt.end());
      submit_errors_ += errors;
    });
  }
  for (auto& t : threads) t.join();
  submit_wall_s_ = std::chrono::duration<double>(Clock::now() - t0).count();
  submitted_ = static_cast<int>(ids.size());
  std::fprintf(stderr, "bench_e2e: %d jobs submitted in %.1f s (%d errors); waiting for them to end\n", submitted_,
               submit_wall_s_, submit_errors_);

  std::set<int64_t> want(ids.begin(), ids.end());
  auto api = Client();
  auto deadline = Clock::now() + std::chrono::seconds(f_.timeout_s);
  json jobs;
  for (;;) {
    auto r = api->Get("/api/v1/jobs");
    if (r.ok()) {
      jobs = (*r)["jobs"];
      int done = 0;
      for (const auto& j : jobs)
        if (want.count(j["id"].get<int64_t>()) && Terminal(j["state"])) ++done;
      std::fprintf(stderr, "  %d of %d ended\n", done, submitted_);
      if (done == submitted_) break;
    }
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "bench_e2e: --timeout-s reached before every job ended\n");
      break;
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  int64_t first_submit = INT64_MAX, last_submit = 0, last_start = 0, last_end = 0;
  for (const auto& j : jobs) {
    if (!want.count(j["id"].get<int64_t>())) continue;
    int64_t sub = j["submit_ms"], start = j["start_ms"], end = j["end_ms"];
    first_submit = std::min(first_submit, sub);
    last_submit = std::max(last_submit, sub);
    if (start > 0) {
      last_start = std::max(last_start, start);
      to_running_ms_.push_back(static_cast<double>(start - sub));
    }
    if (j["state"] == "COMPLETED") {
      ++completed_;
      last_end = std::max(last_end, end);
    } else {
      ++not_completed_;
    }
  }
  auto rate = [&](size_t n, int64_t until) {
    return until > first_submit ? 1000.0 * static_cast<double>(n) / static_cast<double>(until - first_submit) : 0.0;
  };
  submitted_per_s_ = rate(submitted_, last_submit);
  started_per_s_ = rate(to_running_ms_.size(), last_start);
  completed_per_s_ = rate(completed_, last_end);
  return true;
}

// One job at a time on an idle federation: the next is submitted once the
// previous one ended.
bool Bench::Idle(std::vector<double>* to_running, std::vector<double>* rtt, std::vector<double>* turnaround) {
  auto api = Client();
  for (int k = 0; k < 20 && whoami_rtt_ms_.size() < 20; ++k) {
    auto s = Clock::now();
    if (api->Get("/api/v1/whoami").ok()) whoami_rtt_ms_.push_back(Ms(Clock::now() - s));
  }
  json body = Spec("idle");
  for (int k = 0; k < f_.idle_jobs; ++k) {
    auto s = Clock::now();
    auto r = api->Post("/api/v1/jobs", body);
    rtt->push_back(Ms(Clock::now() - s));
    if (!r.ok()) {
      std::fprintf(stderr, "bench_e2e: idle submit: %s\n", r.status().ToString().c_str());
      return false;
    }
    std::string path = "/api/v1/jobs/" + std::to_string((*r)["job_id"].get<int64_t>());
    json j;
    auto deadline = Clock::now() + std::chrono::seconds(60);
    for (;;) {
      auto g = api->Get(path);
      if (g.ok()) {
        j = *g;
        if (Terminal(j["state"])) break;
      }
      if (Clock::now() > deadline) {
        std::fprintf(stderr, "bench_e2e: idle job %s did not end in 60 s\n", path.c_str());
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    turnaround->push_back(Ms(Clock::now() - s));
    if (j["start_ms"].get<int64_t>() > 0)
      to_running->push_back(static_cast<double>(j["start_ms"].get<int64_t>() - j["submit_ms"].get<int64_t>()));
  }
  return true;
}

int Bench::Run() {
  if (!Up()) {
    Down();
    return 1;
  }
  bool ok = Idle(&idle_to_running_ms_, &idle_rtt_ms_, &idle_turnaround_ms_);
  ok = ok && Throughput();
  // Idle again, but the controller now knows every finished job of the load.
  ok = ok && Idle(&after_to_running_ms_, &after_rtt_ms_, &after_turnaround_ms_);
  Down();
  if (!ok) return 1;

  std::printf("\nbench_e2e — gmctld + %d gmd over HTTPS on one machine (%u cores)\n", f_.workers,
              std::thread::hardware_concurrency());
  std::printf("  federation up          %.1f s\n", up_s_);
  std::printf("  idle, %zu jobs one at a time:\n", idle_to_running_ms_.size());
  std::printf("    submit-to-running    p50 %.1f ms, p99 %.1f ms (start_ms - submit_ms, the controller's clock)\n",
              Pct(idle_to_running_ms_, 50), Pct(idle_to_running_ms_, 99));
  std::printf("    submit round trip    p50 %.1f ms, p99 %.1f ms (POST /api/v1/jobs as the client sees it)\n",
              Pct(idle_rtt_ms_, 50), Pct(idle_rtt_ms_, 99));
  std::printf("    turnaround           p50 %.1f ms (POST until the client sees COMPLETED, polling every 5 ms)\n",
              Pct(idle_turnaround_ms_, 50));
  std::printf("    for comparison       GET /api/v1/whoami p50 %.1f ms (connection, TLS, auth; no work)\n",
              Pct(whoami_rtt_ms_, 50));
  std::printf("  idle again after the load (%zu jobs): submit-to-running p50 %.1f ms, p99 %.1f ms; POST p50 %.1f ms;"
              " turnaround p50 %.1f ms\n",
              after_to_running_ms_.size(), Pct(after_to_running_ms_, 50), Pct(after_to_running_ms_, 99),
              Pct(after_rtt_ms_, 50), Pct(after_turnaround_ms_, 50));
  std::printf("  load, %d jobs from %d client threads:\n", f_.jobs, f_.clients);
  std::printf("    submitted            %d in %.1f s: %.1f/s (%d errors); POST p50 %.1f ms, p99 %.1f ms\n", submitted_,
              submit_wall_s_, submitted_per_s_, submit_errors_, Pct(submit_rtt_ms_, 50), Pct(submit_rtt_ms_, 99));
  std::printf("    started              %zu: %.1f/s\n", to_running_ms_.size(), started_per_s_);
  std::printf("    completed            %d: %.1f/s (%d ended otherwise or not at all)\n", completed_,
              completed_per_s_, not_completed_);
  std::printf("    submit-to-running    p50 %.0f ms, p99 %.0f ms (queueing behind %d one-CPU slots included)\n",
              Pct(to_running_ms_, 50), Pct(to_running_ms_, 99), 2 * f_.workers);
  std::printf("  target: idle submit-to-running p50 < 50 ms %s\n",
              Pct(idle_to_running_ms_, 50) < 50 ? "MET" : "MISSED");
  json j{{"jobs", f_.jobs},
         {"workers", f_.workers},
         {"clients", f_.clients},
         {"submitted_per_s", std::round(submitted_per_s_ * 10) / 10},
         {"started_per_s", std::round(started_per_s_ * 10) / 10},
         {"completed_per_s", std::round(completed_per_s_ * 10) / 10},
         {"submit_to_running_p50_ms", std::round(Pct(to_running_ms_, 50))},
         {"submit_to_running_p99_ms", std::round(Pct(to_running_ms_, 99))},
         {"idle_submit_to_running_p50_ms", std::round(Pct(idle_to_running_ms_, 50) * 10) / 10},
         {"idle_submit_to_running_p99_ms", std::round(Pct(idle_to_running_ms_, 99) * 10) / 10},
         {"idle_turnaround_p50_ms", std::round(Pct(idle_turnaround_ms_, 50) * 10) / 10},
         {"idle_after_load_submit_to_running_p50_ms", std::round(Pct(after_to_running_ms_, 50) * 10) / 10},
         {"idle_after_load_turnaround_p50_ms", std::round(Pct(after_turnaround_ms_, 50) * 10) / 10},
         {"submit_rtt_p50_ms", std::round(Pct(submit_rtt_ms_, 50) * 10) / 10},
         {"idle_submit_rtt_p50_ms", std::round(Pct(idle_rtt_ms_, 50) * 10) / 10},
         {"whoami_rtt_p50_ms", std::round(Pct(whoami_rtt_ms_, 50) * 10) / 10},
         {"completed", completed_},
         {"submit_errors", submit_errors_}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  Bench b(ParseFlags(argc, argv));
  return b.Run();
}
