// Scheduler core: job state machine, feasibility and placement.
#include "scheduler/core.h"

#include <algorithm>
#include <sstream>

namespace gm::sched {

namespace {

struct StateNames {
  JobState state;
  const char* name;
  const char* code;
};
constexpr StateNames kStates[] = {
    {JobState::kPending, "PENDING", "PD"},     {JobState::kRunning, "RUNNING", "R"},
    {JobState::kCompleting, "COMPLETING", "CG"}, {JobState::kCompleted, "COMPLETED", "CD"},
    {JobState::kFailed, "FAILED", "F"},        {JobState::kCancelled, "CANCELLED", "CA"},
    {JobState::kTimeout, "TIMEOUT", "TO"},     {JobState::kNodeFail, "NODE_FAIL", "NF"},
};

std::vector<std::string> Split(const std::string& s, const std::string& seps) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (seps.find(c) != std::string::npos) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

}  // namespace

const char* JobStateName(JobState s) {
  for (const auto& e : kStates)
    if (e.state == s) return e.name;
  return "UNKNOWN";
}
const char* JobStateCode(JobState s) {
  for (const auto& e : kStates)
    if (e.state == s) return e.code;
  return "?";
}
std::optional<JobState> JobStateFromName(const std::string& name) {
  for (const auto& e : kStates)
    if (name == e.name || name == e.code) return e.state;
  return std::nullopt;
}
bool IsTerminal(JobState s) {
  return s != JobState::kPending && s != JobState::kRunning && s != JobState::kCompleting;
}

int Node::GpusFree() const {
  return static_cast<int>(std::count(gpu_busy.begin(), gpu_busy.end(), false));
}

std::string Node::DisplayState() const {
  if (!up) return drain ? "down*" : "down";
  bool busy = !jobs.empty();
  if (drain) return busy ? "drng" : "drain";
  if (!busy) return "idle";
  bool full = (gpus > 0 && GpusFree() == 0) || cpus_used >= cpus;
  return full ? "alloc" : "mix";
}

void Scheduler::UpsertNode(const Node& node) {
  auto it = nodes_.find(node.id);
  if (it == nodes_.end()) {
    Node n = node;
    n.gpu_busy.assign(n.gpus, false);
    n.jobs.clear();
    n.cpus_used = 0;
    n.mem_used_mb = 0;
    nodes_.emplace(n.id, std::move(n));
    return;
  }
  Node& n = it->second;
  auto busy = n.gpu_busy;
  auto jobs = n.jobs;
  int cpus_used = n.cpus_used;
  int64_t mem_used = n.mem_used_mb;
  n = node;
  busy.resize(n.gpus, false);
  n.gpu_busy = busy;
  n.jobs = jobs;
  n.cpus_used = cpus_used;
  n.mem_used_mb = mem_used;
}

Node* Scheduler::FindNode(const std::string& id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

Job* Scheduler::FindJob(int64_t id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

int Scheduler::CpusPerNode(const Job& job) const {
  const JobSpec& s = job.spec;
  int nodes = std::max(1, s.nodes_min);
  int tasks_per_node = s.ntasks_per_node.value_or((s.EffectiveNtasks() + nodes - 1) / nodes);
  return std::max(1, tasks_per_node) * std::max(1, s.cpus_per_task);
}

int64_t Scheduler::MemPerNode(const Job& job) const {
  if (job.spec.mem_per_node_mb) return *job.spec.mem_per_node_mb;
  if (job.spec.mem_per_cpu_mb) return *job.spec.mem_per_cpu_mb * CpusPerNode(job);
  return 0;  // memory not requested: not tracked, as Slurm without a memory limit
}

bool Scheduler::NodeFits(const Node& n, const Job& job, bool ignore_usage) const {
  if (!n.up || n.drain) return false;
  const JobSpec& s = job.spec;
  int gpn = s.GpusPerNode();
  if (!s.gpu_type.empty() && gpn > 0 && n.gpu_model != s.gpu_type) return false;
  if (!s.gm_region.empty() && n.region != s.gm_region) return false;
  if (s.gm_max_price && n.price > *s.gm_max_price) return false;
  int cpus = CpusPerNode(job);
  int64_t mem = MemPerNode(job);
  if (gpn > n.gpus || cpus > n.cpus || mem > n.mem_mb) return false;
  if (ignore_usage) return true;
  if (s.exclusive) return n.jobs.empty();
  for (int64_t other : n.jobs) {
    auto it = jobs_.find(other);
    if (it != jobs_.end() && it->second.spec.exclusive) return false;
  }
  return n.GpusFree() >= gpn && n.cpus - n.cpus_used >= cpus && n.mem_mb - n.mem_used_mb >= mem;
}

bool Scheduler::EverFeasible(const Job& job) const {
  std::map<std::string, int> per_site;
  for (const auto& [id, n] : nodes_)
    if (NodeFits(n, job, /*ignore_usage=*/true)) ++per_site[n.site];
  for (const auto& [site, count] : per_site)
    if (count >= job.spec.nodes_min) return true;
  return false;
}

std::optional<std::vector<std::string>> Scheduler::Place(const Job& job) const {
  // site -> feasible nodes as (price, name, id)
  std::map<std::string, std::vector<std::tuple<Micros, std::string, std::string>>> by_site;
  for (const auto& [id, n] : nodes_)
    if (NodeFits(n, job, false)) by_site[n.site].emplace_back(n.price, n.name, n.id);
  size_t need = static_cast<size_t>(std::max(1, job.spec.nodes_min));
  std::optional<std::vector<std::string>> best;
  Micros best_cost = 0;
  for (auto& [site, cands] : by_site) {
    if (cands.size() < need) continue;
    std::sort(cands.begin(), cands.end());
    Micros cost = 0;
    std::vector<std::string> ids;
    for (size_t i = 0; i < need; ++i) {
      cost += std::get<0>(cands[i]);
      ids.push_back(std::get<2>(cands[i]));
    }
    if (!best || cost < best_cost) {  // sites iterate in name order: ties keep the first
      best = ids;
      best_cost = cost;
    }
  }
  return best;
}

bool Scheduler::DependencySatisfied(const Job& job, std::string* reason) const {
  const std::string& dep = job.spec.dependency;
  if (dep.empty()) return true;
  bool any_mode = dep.find('?') != std::string::npos;
  bool any_ok = false, all_ok = true;
  for (const std::string& clause : Split(dep, any_mode ? "?" : ",")) {
    auto parts = Split(clause, ":");
    const std::string& kind = parts[0];
    bool ok = true, never = false;
    if (kind == "singleton") {
      for (const auto& [id, other] : jobs_)
        if (id != job.id && other.user == job.user && other.spec.job_name == job.spec.job_name &&
            (other.state == JobState::kRunning || other.state == JobState::kCompleting ||
             (other.state == JobState::kPending && id < job.id)))
          ok = false;
    } else {
      for (size_t i = 1; i < parts.size(); ++i) {
        auto it = jobs_.find(std::strtoll(parts[i].c_str(), nullptr, 10));
        if (it == jobs_.end()) continue;  // unknown or purged jobs count as done (Slurm does too)
        const Job& o = it->second;
        bool done = IsTerminal(o.state);
        bool success = o.state == JobState::kCompleted;
        if (kind == "after") ok &= o.state != JobState::kPending;
        else if (kind == "afterany") ok &= done;
        else if (kind == "afterok") { ok &= done && success; never |= done && !success; }
        else if (kind == "afternotok") { ok &= done && !success; never |= done && success; }
      }
    }
    if (never) ok = false;
    any_ok |= ok;
    all_ok &= ok;
    if (never && !any_mode) {
      *reason = "DependencyNeverSatisfied";
      return false;
    }
  }
  bool satisfied = any_mode ? any_ok : all_ok;
  if (!satisfied) *reason = "Dependency";
  return satisfied;
}

Status Scheduler::Submit(Job job, int64_t now_ms) {
  if (jobs_.count(job.id)) return Status::AlreadyExists("job " + std::to_string(job.id) + " exists");
  const JobSpec& s = job.spec;
  if (s.nodes_min < 1) return Status::InvalidArgument("a job needs at least one node");
  if (s.time_unlimited) job.time_limit_s = opts_.max_time_limit_s;
  else job.time_limit_s = s.time_limit_s.value_or(opts_.default_time_limit_s);
  job.state = JobState::kPending;
  job.submit_ms = now_ms;
  job.eligible_ms = now_ms;
  job.reason = "None";
  jobs_.emplace(job.id, std::move(job));
  return Status::OK();
}

void Scheduler::Restore(Job job) {
  int64_t id = job.id;
  auto& j = jobs_[id] = std::move(job);
  if (j.state != JobState::kRunning && j.state != JobState::kCompleting) return;
  for (const auto& a : j.alloc) {
    Node* n = FindNode(a.node_id);
    if (!n) continue;
    for (int g : a.gpu_indices)
      if (g >= 0 && g < static_cast<int>(n->gpu_busy.size())) n->gpu_busy[g] = true;
    n->cpus_used += a.cpus;
    n->mem_used_mb += a.mem_mb;
    n->jobs.insert(id);
  }
}

void Scheduler::Allocate(Job& job, const std::vector<std::string>& node_ids) {
  job.alloc.clear();
  int gpn = job.spec.GpusPerNode();
  int cpus = CpusPerNode(job);
  int64_t mem = MemPerNode(job);
  for (const auto& id : node_ids) {
    Node& n = nodes_.at(id);
    NodeAlloc a{id, {}, job.spec.exclusive ? n.cpus - n.cpus_used : cpus, mem, n.price};
    int want = job.spec.exclusive ? n.GpusFree() : gpn;
    for (int g = 0; g < n.gpus && static_cast<int>(a.gpu_indices.size()) < want; ++g)
      if (!n.gpu_busy[g]) {
        n.gpu_busy[g] = true;
        a.gpu_indices.push_back(g);
      }
    n.cpus_used += a.cpus;
    n.mem_used_mb += a.mem_mb;
    n.jobs.insert(job.id);
    job.alloc.push_back(std::move(a));
  }
}

void Scheduler::Release(Job& job) {
  for (const auto& a : job.alloc) {
    Node* n = FindNode(a.node_id);
    if (!n || !n->jobs.count(job.id)) continue;
    for (int g : a.gpu_indices)
      if (g >= 0 && g < static_cast<int>(n->gpu_busy.size())) n->gpu_busy[g] = false;
    n->cpus_used -= a.cpus;
    n->mem_used_mb -= a.mem_mb;
    n->jobs.erase(job.id);
  }
}

std::vector<StartDecision> Scheduler::Schedule(int64_t now_ms, const CanHoldFn& can_hold) {
  std::vector<StartDecision> out;
  for (auto& [id, job] : jobs_) {
    if (job.state != JobState::kPending) continue;
    if (job.spec.hold) { job.reason = "JobHeldUser"; continue; }
    if (job.eligible_ms > now_ms) { job.reason = "BeginTime"; continue; }
    if (job.time_limit_s > opts_.max_time_limit_s) { job.reason = "PartitionTimeLimit"; continue; }
    std::string dep_reason;
    if (!DependencySatisfied(job, &dep_reason)) { job.reason = dep_reason; continue; }
    auto placement = Place(job);
    if (!placement) {
      job.reason = EverFeasible(job) ? "Resources" : "BadConstraints";
      continue;
    }
    std::vector<std::pair<Micros, int>> price_gpus;
    int gpn = job.spec.GpusPerNode();
    for (const auto& nid : *placement) {
      const Node& n = nodes_.at(nid);
      Micros price = job.spec.gm_max_price ? *job.spec.gm_max_price : n.price;
      price_gpus.emplace_back(price, job.spec.exclusive ? n.GpusFree() : gpn);
    }
    Micros hold = 0;
    for (const auto& [price, gpus] : price_gpus) {
      __int128 c = static_cast<__int128>(price) * gpus * job.time_limit_s * 1000 / 3'600'000;
      hold += static_cast<Micros>(c);
    }
    if (!can_hold(job, hold)) { job.reason = "InsufficientFunds"; continue; }
    Allocate(job, *placement);
    job.state = JobState::kRunning;
    job.reason = "None";
    job.start_ms = now_ms;
    job.end_ms = 0;
    job.held = hold;
    out.push_back({id, hold});
  }
  return out;
}

void Scheduler::FinishJob(int64_t id, JobState final_state, int exit_code, int exit_signal,
                          int64_t now_ms) {
  Job* job = FindJob(id);
  if (!job || IsTerminal(job->state)) return;
  if (job->state == JobState::kCompleting) final_state = job->completing_to;
  Release(*job);
  job->state = final_state;
  job->exit_code = exit_code;
  job->exit_signal = exit_signal;
  job->end_ms = now_ms;
}

bool Scheduler::Cancel(int64_t id, int64_t now_ms) {
  Job* job = FindJob(id);
  if (!job || IsTerminal(job->state)) return false;
  job->cancel_requested = true;
  if (job->state == JobState::kPending) {
    job->state = JobState::kCancelled;
    job->end_ms = now_ms;
    job->reason = "None";
    return true;
  }
  if (job->state == JobState::kRunning) {
    job->state = JobState::kCompleting;
    job->completing_to = JobState::kCancelled;
  }
  return false;
}

void Scheduler::Requeue(int64_t id, int64_t now_ms, const std::string& reason) {
  Job* job = FindJob(id);
  if (!job || (job->state != JobState::kRunning && job->state != JobState::kCompleting)) return;
  Release(*job);
  job->state = JobState::kPending;
  job->reason = reason;
  job->attempt += 1;
  job->held = 0;
  job->alloc.clear();
  job->start_ms = 0;
  job->cancel_requested = false;
  job->completing_to = JobState::kCompleted;
}

void Scheduler::Heartbeat(const std::string& node_id, int64_t now_ms) {
  if (Node* n = FindNode(node_id)) n->last_heartbeat_ms = now_ms;
}

Scheduler::TickResult Scheduler::Tick(int64_t now_ms) {
  TickResult r;
  for (auto& [id, n] : nodes_) {
    if (n.up && now_ms - n.last_heartbeat_ms > opts_.heartbeat_timeout_ms) {
      n.up = false;
      r.nodes_lost.push_back(id);
      for (int64_t j : n.jobs) r.jobs_on_lost.push_back(j);
    }
  }
  std::sort(r.jobs_on_lost.begin(), r.jobs_on_lost.end());
  r.jobs_on_lost.erase(std::unique(r.jobs_on_lost.begin(), r.jobs_on_lost.end()),
                       r.jobs_on_lost.end());
  for (auto& [id, job] : jobs_) {
    if (job.state != JobState::kRunning && job.state != JobState::kCompleting) continue;
    int64_t limit_ms = job.start_ms + job.time_limit_s * 1000;
    if (job.state == JobState::kRunning && now_ms >= limit_ms) {
      job.state = JobState::kCompleting;
      job.completing_to = JobState::kTimeout;
      r.jobs_hit_limit.push_back(id);
    }
    // The worker enforces the limit; if it never reports, stop waiting.
    if (now_ms >= limit_ms + (opts_.kill_grace_s + 60) * 1000 &&
        std::find(r.jobs_on_lost.begin(), r.jobs_on_lost.end(), id) == r.jobs_on_lost.end())
      r.jobs_timed_out.push_back(id);
  }
  return r;
}

}  // namespace gm::sched
