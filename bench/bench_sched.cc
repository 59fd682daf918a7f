// bench_sched: drives the pure scheduler core (gm_sched_core) with a synthetic
// heterogeneous federation and prints placement throughput and per-decision
// latency. No I/O inside the measured calls; the simulated clock is passed in.
// What each figure means, and how it is measured, is in bench/README.md.
//
//   bench_sched [--nodes 100000] [--pending 10000] [--jobs 50000] [--seed 1]
//               [--policy score|cheapest|fifo-firstfit|random] [--gang-nodes 8]
//               [--probes 1000] [--gang-probes 1000] [--tick-ms 1000]
//               [--runtime-s 60] [--accounts 100] [--budget-s 600] [--multi-node-pct 3]
//
// The last line printed is one JSON object with the headline figures.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <queue>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "scheduler/core.h"

namespace {

using gm::Micros;
using gm::kMicrosPerToken;
using gm::sched::Job;
using gm::sched::JobState;
using gm::sched::Node;
using gm::sched::Scheduler;
using Clock = std::chrono::steady_clock;

struct Flags {
  int nodes = 100'000;
  int pending = 10'000;
  int jobs = 50'000;          // placements to measure in the steady state
  uint64_t seed = 1;
  std::string policy = "score";
  int gang_nodes = 8;
  int probes = 1'000;         // single-job decision-latency samples
  int gang_probes = 1'000;    // gang decision-latency samples
  int64_t tick_ms = 1'000;    // simulated time between steady-state passes (gmctld's tick)
  double runtime_s = 60;      // median job runtime (lognormal)
  int accounts = 100;
  int max_fill_passes = 400;
  double budget_s = 600;      // wall-clock cap on each measured phase (steady, probes, gangs)
  double multi_node_pct = 3;  // share of submissions that are 2-4-node gangs
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "bench_sched: %s\n"
               "usage: bench_sched [--nodes N] [--pending N] [--jobs N] [--seed S]\n"
               "                   [--policy score|cheapest|fifo-firstfit|random] [--gang-nodes N]\n"
               "                   [--probes N] [--gang-probes N] [--tick-ms MS] [--runtime-s S]\n"
               "                   [--accounts N] [--budget-s S] [--multi-node-pct P]\n",
               why);
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    auto eq = a.find('=');
    if (eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (a == "--help" || a == "-h") {
      Usage("help");
    } else if (i + 1 < argc) {
      v = argv[++i];
    } else {
      Usage(("option " + a + " needs a value").c_str());
    }
    auto num = [&](auto* out, double lo) {
      char* end = nullptr;
      double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || d < lo) Usage(("bad value for " + a + ": '" + v + "'").c_str());
      *out = static_cast<std::remove_pointer_t<decltype(out)>>(d);
    };
    if (a == "--nodes") num(&f.nodes, 1);
    else if (a == "--pending") num(&f.pending, 1);
    else if (a == "--jobs") num(&f.jobs, 1);
    else if (a == "--seed") num(&f.seed, 0);
    else if (a == "--policy") f.policy = v;
    else if (a == "--gang-nodes") num(&f.gang_nodes, 2);
    else if (a == "--probes") num(&f.probes, 1);
    else if (a == "--gang-probes") num(&f.gang_probes, 0);
    else if (a == "--tick-ms") num(&f.tick_ms, 1);
    else if (a == "--runtime-s") num(&f.runtime_s, 1);
    else if (a == "--accounts") num(&f.accounts, 1);
    else if (a == "--max-fill-passes") num(&f.max_fill_passes, 1);
    else if (a == "--budget-s") num(&f.budget_s, 1);
    else if (a == "--multi-node-pct") num(&f.multi_node_pct, 0);
    else Usage(("unknown option " + a).c_str());
  }
  return f;
}

// ---- the synthetic federation ------------------------------------------------

struct GpuModel {
  const char* name;
  int64_t mem_mb;
  double tflops;        // dense BF16/FP16, roughly
  double price_tokens;  // median ask per GPU-hour
  double weight;        // share of nodes
  int cc_major, cc_minor;
  bool datacenter;      // mostly 8-GPU boxes
};

constexpr GpuModel kModels[] = {
    {"H100", 81'559, 989, 3.0, 0.18, 9, 0, true},
    {"H200", 143'771, 989, 3.8, 0.06, 9, 0, true},
    {"A100", 81'920, 312, 1.8, 0.20, 8, 0, true},
    {"L40S", 46'068, 362, 1.2, 0.12, 8, 9, false},
    {"RTX4090", 24'564, 165, 0.6, 0.22, 8, 9, false},
    {"V100", 32'768, 125, 0.5, 0.08, 7, 0, true},
    {"MI300X", 196'608, 1307, 2.8, 0.04, 9, 4, true},  // gfx942; "cc" is not CUDA's here
    {"A10", 24'576, 125, 0.7, 0.10, 8, 6, false},
};
constexpr int kModelCount = sizeof(kModels) / sizeof(kModels[0]);
constexpr int kRegions = 50;
constexpr int kSites = 2'000;

std::string Region(int r) {
  char b[16];
  std::snprintf(b, sizeof b, "r%02d", r);
  return b;
}

double Beta(std::mt19937_64& rng, double a, double b) {
  std::gamma_distribution<double> ga(a, 1.0), gb(b, 1.0);
  double x = ga(rng), y = gb(rng);
  return x / (x + y);
}

int PickModel(std::mt19937_64& rng) {
  static std::discrete_distribution<int> d = [] {
    std::vector<double> w;
    for (const auto& m : kModels) w.push_back(m.weight);
    return std::discrete_distribution<int>(w.begin(), w.end());
  }();
  return d(rng);
}

Node MakeNode(std::mt19937_64& rng, int i) {
  Node n;
  n.id = "n" + std::to_string(i + 1);
  n.name = "node" + std::to_string(i + 1);
  n.provider = "prov" + std::to_string(i % 5'000);
  int m = PickModel(rng);
  const GpuModel& gm = kModels[m];
  n.gpu_model = gm.name;
  static const int kSizes[] = {1, 2, 3, 4, 6, 8};
  std::discrete_distribution<int> size_dc({5, 10, 0, 25, 0, 60}), size_cons({30, 30, 5, 25, 5, 5});
  n.gpus = kSizes[gm.datacenter ? size_dc(rng) : size_cons(rng)];
  n.gpu_mem_mb = gm.mem_mb;
  n.cc_major = gm.cc_major;
  n.cc_minor = gm.cc_minor;
  std::uniform_real_distribution<double> u(0, 1);
  n.tflops = u(rng) < 0.7 ? gm.tflops * (0.85 + 0.2 * u(rng)) : 0;  // 70 % verified by a benchmark
  n.cpus = n.gpus * (u(rng) < 0.5 ? 8 : 16);
  n.mem_mb = static_cast<int64_t>(n.gpus) * (u(rng) < 0.5 ? 65'536 : 131'072);
  if (n.gpus == 8 && u(rng) < 0.4) n.features.insert("nvlink");
  if (u(rng) < 0.2) n.features.insert("ib");
  std::lognormal_distribution<double> price(std::log(gm.price_tokens), 0.3);
  double p = std::clamp(price(rng), 0.1, 20.0);
  n.price = static_cast<Micros>(p * kMicrosPerToken) / 1000 * 1000;  // whole milli-tokens
  n.stake = static_cast<Micros>(1'000 + 10'000 * u(rng)) * kMicrosPerToken;
  n.reputation = Beta(rng, 8, 2);
  n.uptime = 1 - Beta(rng, 1, 40);
  std::lognormal_distribution<double> lat(std::log(40.0), 0.6);
  n.latency_ms = std::min(400.0, lat(rng));
  std::discrete_distribution<int> trust({50, 35, 13, 2});
  n.trust_level = 1 + trust(rng);
  // Sites are uneven (a few big data centres, many small ones); site s is in region s % 50.
  int site = std::min(kSites - 1, static_cast<int>(kSites * std::pow(u(rng), 1.4)));
  n.site = "s" + std::to_string(site);
  n.region = Region(site % kRegions);
  n.verification = gm::sched::NodeTrust::kVerified;
  n.up = true;
  n.last_heartbeat_ms = 0;
  return n;
}

// ---- the workload --------------------------------------------------------------

struct Workload {
  std::mt19937_64 rng;
  int64_t next_id = 1;
  int accounts;
  double runtime_s;
  double multi_node;  // share of gangs, 0..1
  std::unordered_map<int64_t, int64_t> runtime_ms;  // per job: how long it really runs

  Workload(uint64_t seed, int accounts, double runtime_s, double multi_node)
      : rng(seed * 7919 + 17), accounts(accounts), runtime_s(runtime_s), multi_node(multi_node) {}

  double U() { return std::uniform_real_distribution<double>(0, 1)(rng); }

  // One job, or the tasks of one array (1 % of submissions).
  std::vector<Job> Next() {
    Job j;
    j.id = next_id++;
    int acct = static_cast<int>(accounts * std::pow(U(), 2));  // a few heavy users
    j.user = j.payer = "user" + std::to_string(acct);
    auto& s = j.spec;
    s.job_name = "j" + std::to_string(j.id);
    double r = U();
    if (r < multi_node) {  // multi-node training
      s.nodes_min = s.nodes_max = 2 + static_cast<int>(U() * 3);
      s.gpus_per_node = U() < 0.5 ? 4 : 8;
    } else {
      static const int kG[] = {1, 2, 4, 8};
      std::discrete_distribution<int> g({45, 25, 18, 12});
      s.gpus_per_node = kG[g(rng)];
    }
    s.cpus_per_task = 1 + static_cast<int>(U() * 4);
    if (U() < 0.3) s.mem_per_node_mb = static_cast<int64_t>(*s.gpus_per_node) * 16'384;
    if (U() < 0.25) s.gpu_type = kModels[PickModel(rng)].name;
    if (U() < 0.20) s.gm_max_price = static_cast<Micros>((1.5 + 3.5 * U()) * kMicrosPerToken);
    if (U() < 0.08) s.gm_region = Region(static_cast<int>(U() * kRegions));
    if (U() < 0.05) s.gm_min_trust = 2;
    if (U() < 0.02) s.constraint = "nvlink";
    double q = U();
    if (q < 0.05) s.qos = "high";
    else if (q < 0.10) s.qos = "low";
    std::lognormal_distribution<double> rt(std::log(runtime_s), 1.0);
    int64_t run_ms = static_cast<int64_t>(std::clamp(rt(rng), 5.0, 86'400.0) * 1000);
    s.time_limit_s = static_cast<int64_t>(std::ceil(run_ms * (1.2 + 1.8 * U()) / 60'000.0)) * 60;
    std::vector<Job> out;
    if (U() < 0.01) {  // an array of 8 tasks, at most 2 at once
      s.array = "0-7%2";
      s.array_max_running = 2;
      for (int t = 0; t < 8; ++t) {
        s.array_tasks.push_back(t);
      }
      for (int t = 0; t < 8; ++t) {
        Job task = j;
        task.id = t == 0 ? j.id : next_id++;
        task.array_job_id = j.id;
        task.array_task_id = t;
        runtime_ms[task.id] = run_ms;
        out.push_back(std::move(task));
      }
      return out;
    }
    runtime_ms[j.id] = run_ms;
    out.push_back(std::move(j));
    return out;
  }

  // A probe: must be decided first in its pass (very negative nice beats every factor).
  Job Probe(int nodes, int gpus_per_node, int64_t limit_s) {
    Job j;
    j.id = next_id++;
    j.user = j.payer = "prober";
    j.spec.job_name = "probe";
    j.spec.nodes_min = j.spec.nodes_max = nodes;
    j.spec.gpus_per_node = gpus_per_node;
    j.spec.time_limit_s = limit_s;
    j.spec.nice = -1'000'000;
    runtime_ms[j.id] = limit_s * 500;
    return j;
  }
};

// ---- measurement ------------------------------------------------------------------

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// CPU time of this thread: on a shared machine, wall time also counts the
// time the benchmark waited for a core; both are reported.
double ThreadCpuUs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

std::string LoadAvg() {
  double l[3] = {0, 0, 0};
  if (getloadavg(l, 3) != 3) return "?";
  char b[64];
  std::snprintf(b, sizeof b, "%.2f %.2f %.2f", l[0], l[1], l[2]);
  return b;
}

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t k = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  return v[std::min(v.size() - 1, k == 0 ? 0 : k - 1)];
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

double PeakRssMb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

// Wall-clock budget of one phase: at 100,000 nodes a pass can take seconds,
// so a phase stops early (and says so) rather than run for hours.
class Budget {
 public:
  explicit Budget(double s) : end_(Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s))) {}
  bool Spent() {
    spent_ = spent_ || Clock::now() >= end_;
    return spent_;
  }
  bool spent() const { return spent_; }

 private:
  Clock::time_point end_;
  bool spent_ = false;
};

class Bench {
 public:
  explicit Bench(const Flags& f) : f_(f), wl_(f.seed, f.accounts, f.runtime_s, f.multi_node_pct / 100) {}

  int Run();

 private:
  struct Running {
    int64_t end_ms, id;
    bool operator>(const Running& o) const { return end_ms != o.end_ms ? end_ms > o.end_ms : id > o.id; }
  };

  void BuildFederation();
  // Submits (and checks, as gmctld does at submission) until `pending` jobs wait.
  void TopUp();
  // Ends every running job whose runtime elapsed by now_.
  void FinishDue();
  void Finish(int64_t id);
  // One timed Schedule(now_); records starts. Returns the decisions.
  std::vector<gm::sched::StartDecision> Pass(double* us, int64_t probe_id = 0, double* probe_decided_us = nullptr);
  void OnStarted(const std::vector<gm::sched::StartDecision>& d);
  void Fill();
  void Steady();
  void Probes();
  void GangProbes();
  int64_t PickRunningSingle();

  Flags f_;
  Workload wl_;
  std::unique_ptr<Scheduler> s_;
  int64_t now_ = 0;
  int64_t pending_ = 0;      // submitted, not started, not cancelled
  int64_t infeasible_ = 0;   // refused at submission (cancelled at once)
  std::priority_queue<Running, std::vector<Running>, std::greater<>> ends_;
  std::vector<int64_t> running_vec_;                // running 1-node jobs, for probes
  std::unordered_map<int64_t, size_t> running_pos_;
  double core_us_ = 0;       // time spent in core calls in the current phase
  // Figures.
  double build_s_ = 0, fill_pps_ = 0;
  int64_t fill_placements_ = 0, fill_passes_ = 0;
  int64_t steady_placements_ = 0, steady_passes_ = 0;
  double steady_core_us_ = 0, steady_sched_us_ = 0;
  std::vector<double> steady_pass_us_, steady_pass_n_;
  std::vector<double> probe_us_, probe_decided_us_;
  int64_t probe_placed_ = 0, probe_placements_ = 0;
  double probe_core_us_ = 0;
  std::vector<double> gang_us_, gang_placed_us_, gang_unplaced_us_;
  std::vector<double> tick_us_;
  double submit_us_total_ = 0;
  int64_t submits_ = 0;
  double last_pass_cpu_us_ = 0;  // CPU time of the last Pass
  std::vector<double> steady_pass_cpu_us_, probe_cpu_us_, gang_cpu_us_;
  std::string load_start_, load_end_;
  bool steady_cut_ = false, probes_cut_ = false, gangs_cut_ = false;
};

void Bench::BuildFederation() {
  gm::sched::Options o;
  o.policy = f_.policy;
  o.seed = f_.seed;
  o.heartbeat_timeout_ms = int64_t{1} << 60;  // nodes never time out here; Tick is timed separately
  if (auto st = Scheduler::ValidateOptions(o); !st.ok()) Usage(st.message().c_str());
  s_ = std::make_unique<Scheduler>(o);
  std::mt19937_64 rng(f_.seed);
  std::vector<Node> nodes;
  nodes.reserve(f_.nodes);
  for (int i = 0; i < f_.nodes; ++i) nodes.push_back(MakeNode(rng, i));
  auto t0 = Clock::now();
  for (const auto& n : nodes) s_->UpsertNode(n);
  build_s_ = std::chrono::duration<double>(Clock::now() - t0).count();
}

void Bench::TopUp() {
  while (pending_ < f_.pending) {
    auto t0 = Clock::now();
    for (Job& j : wl_.Next()) {
      int64_t id = j.id;
      if (!s_->Submit(std::move(j), now_).ok()) std::abort();
      ++pending_;
      ++submits_;
      if (!s_->CheckFeasible(*s_->FindJob(id)).ever) {  // gmctld warns; here it is withdrawn
        s_->Cancel(id, now_);
        --pending_;
        ++infeasible_;
      }
    }
    double us = Us(Clock::now() - t0);
    core_us_ += us;
    submit_us_total_ += us;
  }
}

void Bench::Finish(int64_t id) {
  auto t0 = Clock::now();
  s_->FinishJob(id, JobState::kCompleted, 0, 0, now_);
  core_us_ += Us(Clock::now() - t0);
  auto it = running_pos_.find(id);
  if (it != running_pos_.end()) {
    size_t k = it->second;
    running_pos_[running_vec_.back()] = k;
    running_vec_[k] = running_vec_.back();
    running_vec_.pop_back();
    running_pos_.erase(id);
  }
}

void Bench::FinishDue() {
  while (!ends_.empty() && ends_.top().end_ms <= now_) {
    int64_t id = ends_.top().id;
    ends_.pop();
    const Job* j = s_->FindJob(id);
    if (j && j->state == JobState::kRunning) Finish(id);
  }
}

void Bench::OnStarted(const std::vector<gm::sched::StartDecision>& d) {
  for (const auto& dec : d) {
    --pending_;
    const Job* j = s_->FindJob(dec.job_id);
    ends_.push({now_ + wl_.runtime_ms[dec.job_id], dec.job_id});
    if (j->spec.nodes_min == 1 && j->user != "prober") {
      running_pos_[dec.job_id] = running_vec_.size();
      running_vec_.push_back(dec.job_id);
    }
  }
}

std::vector<gm::sched::StartDecision> Bench::Pass(double* us, int64_t probe_id, double* probe_decided_us) {
  Clock::time_point t0;
  auto can_hold = [&](const Job& j, Micros) {
    if (probe_id && j.id == probe_id && probe_decided_us) *probe_decided_us = Us(Clock::now() - t0);
    return true;
  };
  double cpu0 = ThreadCpuUs();
  t0 = Clock::now();
  auto d = s_->Schedule(now_, can_hold);
  *us = Us(Clock::now() - t0);
  last_pass_cpu_us_ = ThreadCpuUs() - cpu0;
  core_us_ += *us;
  OnStarted(d);
  return d;
}

void Bench::Fill() {
  // Unsaturated: the federation has room, so a pass places most of the queue.
  // Ends once a pass leaves most of the queue waiting: the federation is full.
  auto t_phase = core_us_;
  for (int p = 0; p < f_.max_fill_passes; ++p) {
    now_ += f_.tick_ms;
    FinishDue();
    TopUp();
    double us;
    auto d = Pass(&us);
    fill_placements_ += static_cast<int64_t>(d.size());
    ++fill_passes_;
    std::fprintf(stderr, "  fill pass %3d: %6zu placed in %9.1f ms, %zu running\n", p, d.size(), us / 1000,
                 ends_.size());
    if (static_cast<int64_t>(d.size()) < f_.pending / 2) break;
  }
  fill_pps_ = fill_placements_ / ((core_us_ - t_phase) / 1e6);
}

void Bench::Steady() {
  double start = core_us_;
  Budget budget(f_.budget_s);
  while (steady_placements_ < f_.jobs && !budget.Spent()) {
    now_ += f_.tick_ms;
    FinishDue();
    TopUp();
    double us;
    auto d = Pass(&us);
    steady_placements_ += static_cast<int64_t>(d.size());
    steady_sched_us_ += us;
    steady_pass_us_.push_back(us);
    steady_pass_cpu_us_.push_back(last_pass_cpu_us_);
    steady_pass_n_.push_back(static_cast<double>(d.size()));
    ++steady_passes_;
    if (steady_passes_ % 50 == 0 || us > 1e6)
      std::fprintf(stderr, "  steady pass %5lld: %lld placed so far; last pass %zu in %.1f ms\n",
                   static_cast<long long>(steady_passes_), static_cast<long long>(steady_placements_),
                   d.size(), us / 1000);
  }
  steady_core_us_ = core_us_ - start;
  steady_cut_ = budget.spent();
}

int64_t Bench::PickRunningSingle() {
  while (!running_vec_.empty()) {
    size_t k = std::uniform_int_distribution<size_t>(0, running_vec_.size() - 1)(wl_.rng);
    int64_t id = running_vec_[k];
    const Job* j = s_->FindJob(id);
    if (j && j->state == JobState::kRunning) return id;
    Finish(id);  // stale entry: drop it
  }
  return 0;
}

// One completion and one new submission into the steady state, then one pass:
// the pass's duration is that submission's decision latency.
void Bench::Probes() {
  Budget budget(f_.budget_s);
  for (int k = 0; k < f_.probes && !budget.Spent(); ++k) {
    int64_t victim = PickRunningSingle();
    int gpus = 1;
    double event_start = core_us_;
    if (victim) {
      gpus = std::max(1, static_cast<int>(s_->FindJob(victim)->alloc[0].gpu_indices.size()));
      Finish(victim);
    }
    Job p = wl_.Probe(1, 1 + static_cast<int>(wl_.U() * gpus), 600);
    int64_t id = p.id;
    auto t0 = Clock::now();
    if (!s_->Submit(std::move(p), now_).ok()) std::abort();
    core_us_ += Us(Clock::now() - t0);
    ++pending_;
    double us, decided = -1;
    auto d = Pass(&us, id, &decided);
    probe_core_us_ += core_us_ - event_start;  // the completion, the submission and the pass
    probe_us_.push_back(us);
    probe_cpu_us_.push_back(last_pass_cpu_us_);
    if (decided >= 0) probe_decided_us_.push_back(decided);
    probe_placements_ += static_cast<int64_t>(d.size());
    bool placed = s_->FindJob(id)->state == JobState::kRunning;
    probe_placed_ += placed;
    // Keep the steady state: the probe leaves again (finished, or withdrawn).
    if (placed) Finish(id);
    else if (s_->Cancel(id, now_)) --pending_;
    if (k % 10 == 9) {  // time moves on between probes, as it does between real events
      now_ += f_.tick_ms;
      FinishDue();
      TopUp();
      OnStarted(s_->Schedule(now_, [](const Job&, Micros) { return true; }));
    }
  }
  probes_cut_ = budget.spent();
}

// An N-node gang submitted into the steady state at the top of the queue.
void Bench::GangProbes() {
  Budget budget(f_.budget_s);
  for (int k = 0; k < f_.gang_probes && !budget.Spent(); ++k) {
    int gpn = 1 << static_cast<int>(wl_.U() * 3);  // 1, 2 or 4 GPUs on each node
    Job p = wl_.Probe(f_.gang_nodes, gpn, 3600);
    int64_t id = p.id;
    auto t0 = Clock::now();
    if (!s_->Submit(std::move(p), now_).ok()) std::abort();
    core_us_ += Us(Clock::now() - t0);
    ++pending_;
    double us, decided = -1;
    Pass(&us, id, &decided);
    gang_us_.push_back(us);
    gang_cpu_us_.push_back(last_pass_cpu_us_);
    bool placed = s_->FindJob(id)->state == JobState::kRunning;
    (placed ? gang_placed_us_ : gang_unplaced_us_).push_back(us);
    if (placed) Finish(id);
    else if (s_->Cancel(id, now_)) --pending_;
    if (k % 10 == 9) {
      now_ += f_.tick_ms;
      FinishDue();
      TopUp();
      OnStarted(s_->Schedule(now_, [](const Job&, Micros) { return true; }));
    }
  }
  gangs_cut_ = budget.spent();
}

int Bench::Run() {
  std::fprintf(stderr, "bench_sched: %d nodes, %d pending, policy %s, seed %llu\n", f_.nodes, f_.pending,
               f_.policy.c_str(), static_cast<unsigned long long>(f_.seed));
  load_start_ = LoadAvg();
  BuildFederation();
  std::fprintf(stderr, "  federation built: %d nodes registered in %.2f s\n", f_.nodes, build_s_);
  Fill();
  std::fprintf(stderr, "  fill done: %lld placements in %lld passes\n", static_cast<long long>(fill_placements_),
               static_cast<long long>(fill_passes_));
  Steady();
  for (int k = 0; k < 20; ++k) {
    auto t0 = Clock::now();
    s_->Tick(now_);
    tick_us_.push_back(Us(Clock::now() - t0));
  }
  Probes();
  std::fprintf(stderr, "  %zu single-job probes done\n", probe_us_.size());
  GangProbes();
  std::fprintf(stderr, "  %zu gang probes done\n", gang_us_.size());

  load_end_ = LoadAvg();
  int64_t total_jobs = static_cast<int64_t>(s_->jobs().size());
  double pass_cpu_sum = 0;
  for (double x : steady_pass_cpu_us_) pass_cpu_sum += x;
  double pps_cpu = pass_cpu_sum > 0 ? steady_placements_ / (pass_cpu_sum / 1e6) : 0;
  double pps = steady_placements_ / (steady_core_us_ / 1e6);
  double event_pps = probe_placements_ / (probe_core_us_ / 1e6);
  double dec_p50 = Pct(probe_us_, 50), dec_p99 = Pct(probe_us_, 99);
  double gang_p99 = Pct(gang_us_, 99);
  double rss = PeakRssMb();
  std::size_t running = 0, pending_single = 0, pending_gang = 0;
  for (const auto& [id, j] : s_->jobs()) {
    running += j.state == JobState::kRunning;
    if (j.state == JobState::kPending) ++(j.spec.nodes_min > 1 ? pending_gang : pending_single);
  }

  std::printf("\nbench_sched — pure scheduler core, policy %s, seed %llu\n", f_.policy.c_str(),
              static_cast<unsigned long long>(f_.seed));
  std::printf("  federation         %d nodes, %d GPU models, %d regions, %d sites; registered in %.2f s\n",
              f_.nodes, kModelCount, kRegions, kSites, build_s_);
  std::printf("  queue              %d pending kept (%.0f %% of submissions are 2-4-node gangs); at the end\n"
              "                     %lld jobs known to the core, %zu running, pending %zu single-node + %zu multi-node\n",
              f_.pending, f_.multi_node_pct, static_cast<long long>(total_jobs), running, pending_single, pending_gang);
  std::printf("  submissions        %lld (%lld refused as never feasible), %.1f us each incl. CheckFeasible\n",
              static_cast<long long>(submits_), static_cast<long long>(infeasible_),
              submits_ ? submit_us_total_ / submits_ : 0.0);
  std::printf("  fill (unsaturated) %lld placements in %lld passes: %.0f placements/s\n",
              static_cast<long long>(fill_placements_), static_cast<long long>(fill_passes_), fill_pps_);
  const char* kCut = " (cut short by --budget-s)";
  std::printf("  steady, 1 pass per %lld ms tick%s:\n", static_cast<long long>(f_.tick_ms), steady_cut_ ? kCut : "");
  std::printf("    placements       %lld in %lld passes (%.1f per pass; median runtime %.0f s)\n",
              static_cast<long long>(steady_placements_), static_cast<long long>(steady_passes_),
              Mean(steady_pass_n_), f_.runtime_s);
  std::printf("    pass time        p50 %.0f us, p99 %.0f us, max %.0f us\n", Pct(steady_pass_us_, 50),
              Pct(steady_pass_us_, 99), Pct(steady_pass_us_, 100));
  std::printf("    throughput       %.0f placements/s of core time (Schedule %.0f%%, Submit+FinishJob the rest)\n",
              pps, 100 * steady_sched_us_ / steady_core_us_);
  std::printf("  single-job decision (1 completion + 1 submission, then Schedule), %zu samples%s:\n",
              probe_us_.size(), probes_cut_ ? kCut : "");
  std::printf("    Schedule latency p50 %.0f us, p99 %.0f us, max %.0f us; probe placed %lld/%zu\n", dec_p50,
              dec_p99, Pct(probe_us_, 100), static_cast<long long>(probe_placed_), probe_us_.size());
  std::printf("    inside the pass  decided after p50 %.0f us, p99 %.0f us (time from pass start to the\n"
              "                     probe's can_hold call; the decision is returned only when the pass ends)\n",
              Pct(probe_decided_us_, 50), Pct(probe_decided_us_, 99));
  std::printf("    event-driven     %.0f placements/s (one pass per event, as gmctld runs it)\n", event_pps);
  std::printf("  %d-node gang decision, %zu samples%s: p50 %.0f us, p99 %.0f us (placed %zu: p99 %.0f us;"
              " not placed %zu: p99 %.0f us)\n",
              f_.gang_nodes, gang_us_.size(), gangs_cut_ ? kCut : "", Pct(gang_us_, 50), gang_p99, gang_placed_us_.size(),
              Pct(gang_placed_us_, 99), gang_unplaced_us_.size(), Pct(gang_unplaced_us_, 99));
  std::printf("  same in CPU time of the thread (the machine may be shared: load average %s at the start,\n"
              "                     %s at the end): steady pass p50 %.0f us (%.0f placements/s of Schedule CPU time);\n"
              "                     decision p50 %.0f us, p99 %.0f us; gang p99 %.0f us\n",
              load_start_.c_str(), load_end_.c_str(), Pct(steady_pass_cpu_us_, 50), pps_cpu, Pct(probe_cpu_us_, 50),
              Pct(probe_cpu_us_, 99), Pct(gang_cpu_us_, 99));
  std::printf("  Tick (heartbeat/limit scan) p50 %.0f us\n", Pct(tick_us_, 50));
  std::printf("  peak RSS           %.0f MB\n", rss);
  std::printf("  targets (100k nodes, 10k pending): >= 20000 placements/s %s; decision p99 < 1000 us %s;"
              " gang8 p99 < 10000 us %s\n",
              pps >= 20'000 ? "MET" : "MISSED", dec_p99 < 1'000 ? "MET" : "MISSED",
              gang_p99 < 10'000 ? "MET" : "MISSED");

  nlohmann::json j{{"placements_per_s", std::round(pps)},
                   {"decision_p50_us", std::round(dec_p50)},
                   {"decision_p99_us", std::round(dec_p99)},
                   {"gang8_p99_us", std::round(gang_p99)},
                   {"peak_rss_mb", std::round(rss)},
                   {"nodes", f_.nodes},
                   {"pending", f_.pending},
                   {"policy", f_.policy},
                   {"placements_per_s_event", std::round(event_pps)},
                   {"placements_per_s_fill", std::round(fill_pps_)},
                   {"steady_pass_p99_us", std::round(Pct(steady_pass_us_, 99))},
                   {"gang_nodes", f_.gang_nodes},
                   {"steady_placements", steady_placements_},
                   {"decision_p99_cpu_us", std::round(Pct(probe_cpu_us_, 99))},
                   {"gang8_p99_cpu_us", std::round(Pct(gang_cpu_us_, 99))},
                   {"sched_cpu_placements_per_s", std::round(pps_cpu)},
                   {"decision_samples", probe_us_.size()},
                   {"gang_samples", gang_us_.size()},
                   {"seed", f_.seed}};
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f = ParseFlags(argc, argv);
  Bench b(f);
  return b.Run();
}
