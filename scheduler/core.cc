// Scheduler core: job state machine, priority order, placement and backfill.
#include "scheduler/core.h"

#include "accounting/ledger.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <numeric>

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
    {JobState::kRequeued, "REQUEUED", "RQ"},
};

constexpr std::pair<NodeTrust, const char*> kTrustNames[] = {
    {NodeTrust::kPending, "PENDING"}, {NodeTrust::kVerified, "VERIFIED"},
    {NodeTrust::kRejected, "REJECTED"}, {NodeTrust::kBanned, "BANNED"}};

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

Partition DefaultPartition() {
  Partition p;
  p.name = "main";
  p.is_default = true;
  return p;
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
const char* NodeTrustName(NodeTrust t) {
  for (const auto& [v, name] : kTrustNames)
    if (v == t) return name;
  return "PENDING";
}
std::optional<NodeTrust> NodeTrustFromName(const std::string& name) {
  for (const auto& [v, n] : kTrustNames)
    if (name == n) return v;
  return std::nullopt;
}

int Node::GpusFree() const {
  return static_cast<int>(std::count(gpu_busy.begin(), gpu_busy.end(), false));
}

std::string Node::DisplayState() const {
  if (verification == NodeTrust::kBanned) return "ban";
  if (verification == NodeTrust::kRejected) return "rej";
  if (!up) return drain ? "down*" : "down";
  if (verification == NodeTrust::kPending) return "pend";
  bool busy = !jobs.empty();
  if (drain) return busy ? "drng" : "drain";
  if (!busy) return "idle";
  bool full = (gpus > 0 && GpusFree() == 0) || cpus_used >= cpus;
  return full ? "alloc" : "mix";
}

bool Partition::Contains(const Node& n) const {
  if (!gpu_models.empty() && !gpu_models.count(n.gpu_model)) return false;
  if (!regions.empty() && !regions.count(n.region)) return false;
  if (!node_names.empty() && !node_names.count(n.name)) return false;
  if (n.trust_level < min_trust) return false;
  for (const auto& f : features)
    if (!n.features.count(f)) return false;
  return true;
}

// ---- construction and nodes ------------------------------------------------------

Status Scheduler::ValidateOptions(const Options& opts) {
  GM_RETURN_IF_ERROR(MakeKeyFn(opts.policy, opts.score, opts.seed).status());
  int defaults = 0;
  std::set<std::string> names;
  for (const auto& p : opts.partitions) {
    if (p.name.empty()) return Status::InvalidArgument("a partition needs a name");
    if (!names.insert(p.name).second) return Status::InvalidArgument("partition '" + p.name + "' defined twice");
    if (p.default_time_s > p.max_time_s)
      return Status::InvalidArgument("partition '" + p.name + "': default time exceeds its maximum");
    defaults += p.is_default;
  }
  if (!opts.partitions.empty() && defaults != 1)
    return Status::InvalidArgument("exactly one partition must be the default (Default=YES)");
  return Status::OK();
}

Scheduler::Scheduler(Options opts) : opts_(std::move(opts)), fairshare_(opts_.priority.usage_half_life_s) {
  if (opts_.partitions.empty()) opts_.partitions.push_back(DefaultPartition());
  auto key = MakeKeyFn(opts_.policy, opts_.score, opts_.seed);
  if (!key.ok()) std::abort();  // ValidateOptions was not called: a programming error
  index_ = std::make_unique<NodeIndex>(&nodes_, *key, &opts_.partitions);
}

std::optional<size_t> Scheduler::IndexOf(const std::string& id) const {
  auto it = node_index_.find(id);
  if (it == node_index_.end()) return std::nullopt;
  return it->second;
}

const Node* Scheduler::FindNode(const std::string& id) const {
  auto i = IndexOf(id);
  return i ? &nodes_[*i] : nullptr;
}

void Scheduler::UpsertNode(const Node& node) {
  auto i = IndexOf(node.id);
  if (!i) {
    Node n = node;
    n.gpu_busy.assign(n.gpus, false);
    n.jobs.clear();
    n.exclusive_jobs = 0;
    n.cpus_used = 0;
    n.mem_used_mb = 0;
    node_index_[n.id] = nodes_.size();
    nodes_.push_back(std::move(n));
    index_->Update(nodes_.size() - 1);
    TopologyChanged();
    return;
  }
  Node& n = nodes_[*i];
  auto busy = n.gpu_busy;
  auto jobs = n.jobs;
  int cpus_used = n.cpus_used;
  int64_t mem_used = n.mem_used_mb;
  int exclusive = n.exclusive_jobs;
  int extent = 0;  // GPU indices still held by running jobs
  for (int g = 0; g < static_cast<int>(busy.size()); ++g)
    if (busy[g]) extent = g + 1;
  n = node;
  if (n.gpus < extent || n.cpus < cpus_used || n.mem_mb < mem_used) {
    // Less than its jobs hold: keep what they hold counted until they end,
    // and take the node out of service for its provider to explain.
    n.drain = true;
    n.drain_reason = "re-registered with " + std::to_string(n.gpus) + " GPU(s), " + std::to_string(n.cpus) +
                     " CPU(s), " + std::to_string(n.mem_mb) + " MB while its jobs hold more";
    n.gpus = std::max(n.gpus, extent);
    n.cpus = std::max(n.cpus, cpus_used);
    n.mem_mb = std::max(n.mem_mb, mem_used);
  }
  busy.resize(n.gpus, false);
  n.gpu_busy = busy;
  n.jobs = jobs;
  n.cpus_used = cpus_used;
  n.mem_used_mb = mem_used;
  n.exclusive_jobs = exclusive;
  index_->Update(*i);
  TopologyChanged();
}

bool Scheduler::MutateNode(const std::string& id, const std::function<void(Node&)>& fn) {
  auto i = IndexOf(id);
  if (!i) return false;
  fn(nodes_[*i]);
  index_->Update(*i);
  TopologyChanged();
  return true;
}

void Scheduler::SetSiteRtts(const std::vector<std::tuple<std::string, std::string, double>>& rtts) {
  // Union-find over sites joined by a close enough pair; a group is named by
  // its smallest site name, so the name does not depend on input order.
  std::map<std::string, std::string> parent;
  std::function<std::string(const std::string&)> find = [&](const std::string& s) {
    auto it = parent.find(s);
    if (it == parent.end() || it->second == s) return s;
    return it->second = find(it->second);
  };
  for (const auto& [a, b, rtt] : rtts) {
    if (rtt > opts_.max_group_rtt_ms) continue;
    parent.emplace(a, a);
    parent.emplace(b, b);
    std::string ra = find(a), rb = find(b);
    if (ra != rb) parent[std::max(ra, rb)] = std::min(ra, rb);
  }
  site_group_.clear();
  for (const auto& [s, p] : parent) site_group_[s] = find(s);
  index_->SetSiteGroups(site_group_);
  TopologyChanged();
}

std::string Scheduler::GroupOf(const Node& n) const {
  auto it = site_group_.find(n.site);
  return it == site_group_.end() ? n.site : it->second;
}

const Partition* Scheduler::FindPartition(const std::string& name) const {
  for (const auto& p : opts_.partitions)
    if (name.empty() ? p.is_default : p.name == name) return &p;
  return nullptr;
}

int Scheduler::PartitionNodeCount(const Partition& p) const {
  int n = 0;
  for (const auto& node : nodes_) n += p.Contains(node) ? 1 : 0;
  return n;
}

// ---- jobs ---------------------------------------------------------------------------

Job* Scheduler::FindJob(int64_t id) {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : &it->second;
}

Demand Scheduler::DemandFor(const Job& job) const {
  const JobSpec& s = job.spec;
  Demand d;
  d.nodes = std::max(1, s.nodes_min);
  d.gpus_per_node = s.GpusPerNode();
  int tasks_per_node = s.ntasks_per_node.value_or((s.EffectiveNtasks() + d.nodes - 1) / d.nodes);
  d.cpus_per_node = std::max(1, tasks_per_node) * std::max(1, s.cpus_per_task);
  if (s.mem_per_node_mb) d.mem_per_node_mb = *s.mem_per_node_mb;
  else if (s.mem_per_cpu_mb) d.mem_per_node_mb = *s.mem_per_cpu_mb * d.cpus_per_node;
  d.gpu_type = s.gpu_type;
  d.max_price = s.gm_max_price.value_or(0);
  d.partition = FindPartition(s.partition);
  d.min_trust = std::max(s.gm_min_trust.value_or(1), d.partition ? d.partition->min_trust : 1);
  d.region = s.gm_region;
  d.constraint = s.constraint;
  d.exclusive = s.exclusive;
  return d;
}

Status Scheduler::Submit(Job job, int64_t now_ms) {
  if (jobs_.count(job.id)) return Status::AlreadyExists("job " + std::to_string(job.id) + " exists");
  JobSpec& s = job.spec;
  if (s.nodes_min < 1) return Status::InvalidArgument("a job needs at least one node");
  const Partition* p = FindPartition(s.partition);
  if (!p) return Status::InvalidArgument("invalid partition name specified: '" + s.partition + "'");
  s.partition = p->name;
  if (!s.qos.empty() && !opts_.qos_priority.count(s.qos))
    return Status::InvalidArgument("invalid qos specification: '" + s.qos + "'");
  if (s.time_unlimited) job.time_limit_s = p->max_time_s;
  else job.time_limit_s = s.time_limit_s.value_or(p->default_time_s);
  job.state = JobState::kPending;
  job.submit_ms = now_ms;
  if (job.eligible_ms < now_ms) job.eligible_ms = now_ms;
  job.reason = "None";
  incoming_.push_back(job.id);
  jobs_.emplace(job.id, std::move(job));
  return Status::OK();
}

void Scheduler::Restore(Job job) {
  int64_t id = job.id;
  auto& j = jobs_[id] = std::move(job);
  full_needed_ = true;
  if (j.state == JobState::kPending) {
    incoming_.push_back(id);
    return;
  }
  if (j.state != JobState::kRunning && j.state != JobState::kCompleting) return;
  if (j.array_job_id) ++array_running_[j.array_job_id];
  if (j.state == JobState::kRunning) running_ends_.insert(EndKey(j));
  else completing_.insert(id);
  for (const auto& a : j.alloc) {
    auto i = IndexOf(a.node_id);
    if (!i) continue;
    Node& n = nodes_[*i];
    for (int g : a.gpu_indices)
      if (g >= 0 && g < static_cast<int>(n.gpu_busy.size())) n.gpu_busy[g] = true;
    n.cpus_used += a.cpus;
    n.mem_used_mb += a.mem_mb;
    n.jobs.insert(id);
    if (j.spec.exclusive) ++n.exclusive_jobs;
    index_->Update(*i);
  }
}

void Scheduler::Forget(int64_t id) {
  auto it = jobs_.find(id);
  if (it != jobs_.end() && it->second.state == JobState::kPending) {
    Unqueue(id);
    jobs_.erase(it);
  }
  feasible_cache_.erase(id);
}

void Scheduler::Unqueue(int64_t id) {
  auto in = std::find(incoming_.begin(), incoming_.end(), id);
  if (in != incoming_.end()) incoming_.erase(in);
  else removed_.insert(id);
}

Feasibility Scheduler::CheckFeasible(const Job& job) {
  auto& cached = feasible_cache_[job.id];
  if (cached.first == topology_gen_) return cached.second;
  cached = {topology_gen_, Feasible(DemandFor(job))};
  return cached.second;
}

Feasibility Scheduler::Feasible(const Demand& d) {
  Feasibility f;
  if (index_->EverFits(index_->Compile(d))) return f;
  f.ever = false;
  bool any_schedulable = std::any_of(nodes_.begin(), nodes_.end(), [](const Node& n) { return n.Schedulable(); });
  bool any_pending = std::any_of(nodes_.begin(), nodes_.end(),
                                 [](const Node& n) { return n.verification == NodeTrust::kPending; });
  Demand no_cap = d;
  no_cap.max_price = 0;
  Demand no_trust = d;
  no_trust.min_trust = 1;
  if (!any_schedulable) f.reason = any_pending || nodes_.empty() ? "NoVerifiedNodes" : "ReqNodeNotAvail";
  else if (d.max_price > 0 && index_->EverFits(index_->Compile(no_cap))) f.reason = "PriceCapTooLow";
  else if (d.min_trust > 1 && index_->EverFits(index_->Compile(no_trust))) f.reason = "TrustLevel";
  else f.reason = "BadConstraints";
  return f;
}

PriorityFactors Scheduler::Priority(const Job& job, int64_t now_ms) const {
  std::map<std::string, int> accounts;
  for (const auto* q : {&queue_, &fresh_})
    for (const auto& e : *q)
      if (!e.dead && e.job->state == JobState::kPending) ++accounts[e.job->payer];
  for (int64_t id : incoming_) {
    auto it = jobs_.find(id);
    if (it != jobs_.end()) ++accounts[it->second.payer];
  }
  int total_nodes = static_cast<int>(nodes_.size());
  return ComputePriority(job, opts_.priority, opts_.qos_priority,
                         fairshare_.Factor(job.payer, accounts, now_ms), total_nodes, now_ms);
}

bool Scheduler::DependencySatisfied(const Job& job, const char** reason) const {
  const std::string& dep = job.spec.dependency;
  if (dep.empty()) return true;
  bool any_mode = dep.find('?') != std::string::npos;
  bool any_ok = false, all_ok = true;
  for (const std::string& clause : Split(dep, any_mode ? '?' : ',')) {
    auto parts = Split(clause, ':');
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
        if (it == jobs_.end()) continue;  // unknown or purged jobs count as done, as in Slurm
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

bool Scheduler::ArrayLimitReached(const Job& job) const {
  if (!job.array_job_id || !job.spec.array_max_running) return false;
  auto it = array_running_.find(job.array_job_id);
  return it != array_running_.end() && it->second >= *job.spec.array_max_running;
}

const char* Scheduler::Eligibility(const Job& job, int64_t now_ms) const {
  if (job.held_by_admin) return "JobHeldAdmin";
  if (job.spec.hold) return "JobHeldUser";
  if (job.eligible_ms > now_ms) return "BeginTime";
  const Partition* p = FindPartition(job.spec.partition);
  if (p && job.time_limit_s > p->max_time_s) return "PartitionTimeLimit";
  const char* dep = nullptr;
  if (!DependencySatisfied(job, &dep)) return dep;
  if (ArrayLimitReached(job)) return "JobArrayTaskLimit";
  return nullptr;
}

Micros Scheduler::HoldFor(const Job& job, const std::vector<size_t>& placement) const {
  int gpn = job.spec.GpusPerNode();
  Micros hold = 0;
  for (size_t i : placement) {
    const Node& n = nodes_[i];
    Micros price = job.spec.gm_max_price ? *job.spec.gm_max_price : n.price;
    int gpus = job.spec.exclusive ? n.GpusFree() : gpn;
    hold += acct::ChargeFor(price, gpus, job.time_limit_s * 1000);
  }
  return hold;
}

std::optional<Scheduler::Reservation> Scheduler::Reserve(const Job& job, const Compiled& c,
                                                         int64_t now_ms) const {
  // Release running jobs in the order their time limits end (COMPLETING ones
  // now), on a copy of the free counters, until the job fits. Raw counters,
  // not FreeOf: a node under an exclusive job offers nothing now, but what
  // that job holds comes back when it ends.
  std::unordered_map<size_t, Free> sim;
  std::unordered_map<size_t, int> jobs_left, exclusive_left;
  auto free_of = [&](size_t i) {
    auto ex = exclusive_left.find(i);
    int exclusive = ex != exclusive_left.end() ? ex->second : nodes_[i].exclusive_jobs;
    if (exclusive > 0) return Free{0, 0, 0, false};
    auto it = sim.find(i);
    return it != sim.end() ? it->second : index_->RawFree(i);
  };
  // For gangs: per locality group, how many of its nodes fit under `sim`
  // (counted when the group is first touched, then kept up to date).
  std::unordered_map<size_t, int> group_fit;
  std::unordered_map<size_t, bool> node_fit;
  const int want = std::max(1, c.d.nodes);
  auto cit = completing_.begin();
  auto rit = running_ends_.begin();
  while (cit != completing_.end() || rit != running_ends_.end()) {
    int64_t end, id;
    if (cit != completing_.end() && (rit == running_ends_.end() || std::make_pair(now_ms, *cit) < *rit)) {
      end = now_ms;
      id = *cit++;
    } else {
      end = rit->first;
      id = rit->second;
      ++rit;
    }
    const Job& r = jobs_.at(id);
    if (r.id == job.id) continue;
    std::vector<size_t> touched;
    for (const auto& a : r.alloc) {
      auto i = IndexOf(a.node_id);
      if (!i) continue;
      auto prev = sim.find(*i);
      Free f = prev != sim.end() ? prev->second : index_->RawFree(*i);
      if (r.spec.exclusive) {
        auto ex = exclusive_left.emplace(*i, nodes_[*i].exclusive_jobs).first;
        if (ex->second > 0) --ex->second;
      }
      f.gpus += static_cast<int>(a.gpu_indices.size());
      f.cpus += a.cpus;
      f.mem_mb += a.mem_mb;
      auto left = jobs_left.emplace(*i, static_cast<int>(nodes_[*i].jobs.size())).first;
      f.empty = --left->second <= 0;
      sim[*i] = f;
      touched.push_back(*i);
    }
    int64_t start = std::max(end, now_ms);
    if (want <= 1) {
      for (size_t i : touched)
        if (index_->Fits(i, free_of(i), c)) return Reservation{job.id, start, {i}};
      continue;
    }
    std::set<size_t> groups;
    for (size_t i : touched) {
      size_t g = index_->GroupOf(i);
      groups.insert(g);
      auto gf = group_fit.find(g);
      if (gf == group_fit.end()) {
        int count = 0;
        for (size_t m : index_->GroupMembers(g)) {
          bool fits = index_->Fits(m, free_of(m), c);
          node_fit[m] = fits;
          count += fits;
        }
        group_fit[g] = count;
        continue;
      }
      bool fits = index_->Fits(i, free_of(i), c);
      bool& was = node_fit[i];
      if (fits != was) gf->second += fits ? 1 : -1;
      was = fits;
    }
    for (size_t g : groups) {
      if (group_fit[g] < want) continue;
      if (auto pick = index_->PlaceInGroup(g, c, free_of))
        return Reservation{job.id, start, std::set<size_t>(pick->begin(), pick->end())};
    }
  }
  return std::nullopt;
}

void Scheduler::Allocate(Job& job, const std::vector<size_t>& placement) {
  job.alloc.clear();
  Demand d = DemandFor(job);
  for (size_t i : placement) {
    Node& n = nodes_[i];
    NodeAlloc a{n.id, {}, job.spec.exclusive ? n.cpus - n.cpus_used : d.cpus_per_node, d.mem_per_node_mb, n.price};
    int want = job.spec.exclusive ? n.GpusFree() : d.gpus_per_node;
    for (int g = 0; g < n.gpus && static_cast<int>(a.gpu_indices.size()) < want; ++g)
      if (!n.gpu_busy[g]) {
        n.gpu_busy[g] = true;
        a.gpu_indices.push_back(g);
      }
    n.cpus_used += a.cpus;
    n.mem_used_mb += a.mem_mb;
    n.jobs.insert(job.id);
    if (job.spec.exclusive) ++n.exclusive_jobs;
    index_->Update(i);
    job.alloc.push_back(std::move(a));
  }
  if (job.array_job_id) ++array_running_[job.array_job_id];
}

void Scheduler::Release(Job& job, int64_t now_ms, bool count_usage) {
  if (job.state == JobState::kRunning) running_ends_.erase(EndKey(job));
  completing_.erase(job.id);
  double units = 0;
  double secs = job.start_ms > 0 ? std::max<int64_t>(0, now_ms - job.start_ms) / 1000.0 : 0;
  for (const auto& a : job.alloc) {
    units += secs * (a.gpu_indices.empty() ? a.cpus : static_cast<double>(a.gpu_indices.size()));
    auto i = IndexOf(a.node_id);
    if (!i) continue;
    Node& n = nodes_[*i];
    if (!n.jobs.count(job.id)) continue;
    for (int g : a.gpu_indices)
      if (g >= 0 && g < static_cast<int>(n.gpu_busy.size())) n.gpu_busy[g] = false;
    n.cpus_used -= a.cpus;
    n.mem_used_mb -= a.mem_mb;
    n.jobs.erase(job.id);
    if (job.spec.exclusive && n.exclusive_jobs > 0) --n.exclusive_jobs;
    index_->Update(*i);
    changed_.push_back(*i);
  }
  if (job.array_job_id && array_running_[job.array_job_id] > 0) --array_running_[job.array_job_id];
  if (count_usage && units > 0) fairshare_.AddUsage(job.payer, units, now_ms);
}

// ---- the queue --------------------------------------------------------------------

void Scheduler::Refresh(Entry& e) {
  const Job& j = *e.job;
  Demand d = DemandFor(j);
  if (!e.data) e.data = std::make_unique<EntryData>();
  e.data->demand = index_->Compile(d);
  e.feasible_gen = 0;
  e.gpus = d.exclusive ? 0 : d.gpus_per_node;
  e.cpus = d.exclusive ? 0 : d.cpus_per_node;
  e.mem_mb = d.exclusive ? 0 : d.mem_per_node_mb;
  e.eligible_ms = j.eligible_ms;
  e.limit_ms = j.time_limit_s * 1000;
  e.noted = nullptr;
  e.noted_start = -1;
  e.array_running = nullptr;
  e.array_max = 0;
  if (j.array_job_id && j.spec.array_max_running) {
    e.array_running = &array_running_[j.array_job_id];
    e.array_max = *j.spec.array_max_running;
  }
  const Partition* p = FindPartition(j.spec.partition);
  e.check = j.held_by_admin || j.spec.hold || !j.spec.dependency.empty() || (p && j.time_limit_s > p->max_time_s);
  e.retry = true;
}

double Scheduler::FairShareOf(const std::string& payer, int64_t now_ms) {
  auto it = fs_factor_.find(payer);
  if (it != fs_factor_.end()) return it->second;
  return fs_factor_[payer] = fairshare_.Factor(payer, pending_accounts_, now_ms);
}

namespace {
template <typename E>
bool Before(const E& a, const E& b) {
  return a.prio != b.prio ? a.prio > b.prio : a.id < b.id;
}

// Within one pass free room only shrinks, so a demand that found no place
// stays placeless, and so does every demand at least as large and as
// strict (Slurm skips jobs whose request equals one that failed; this also
// skips those that ask for more). Keyed by what must be equal; the rest
// (GPUs, CPUs, memory, price cap, trust) compared for dominance.
struct FailKey {
  int nodes, model, region, partition;
  uint64_t features_all, features_any;
  bool exclusive, avoid;
  bool operator==(const FailKey&) const = default;
};
struct FailKeyHash {
  size_t operator()(const FailKey& k) const {
    uint64_t h = static_cast<uint64_t>(k.nodes) * 0x9e3779b97f4a7c15ULL;
    for (uint64_t v : {static_cast<uint64_t>(k.model), static_cast<uint64_t>(k.region),
                       static_cast<uint64_t>(k.partition), k.features_all, k.features_any,
                       static_cast<uint64_t>(k.exclusive) * 2 + k.avoid})
      h = (h ^ v) * 0xbf58476d1ce4e5b9ULL + 0x94d049bb133111ebULL;
    return static_cast<size_t>(h ^ (h >> 31));
  }
};
struct FailVec {
  int gpus, cpus, trust;
  int64_t mem;
  Micros cap;  // no cap: the largest
};
class FailMemo {
 public:
  void Clear() { memo_.clear(); }
  bool Covers(const Compiled& c, bool avoid) const {
    if (c.slow_features || memo_.empty()) return false;
    auto it = memo_.find(KeyOf(c, avoid));
    if (it == memo_.end()) return false;
    FailVec v = VecOf(c);
    for (const FailVec& f : it->second)
      if (v.gpus >= f.gpus && v.cpus >= f.cpus && v.mem >= f.mem && v.trust >= f.trust && v.cap <= f.cap) return true;
    return false;
  }
  void Add(const Compiled& c, bool avoid) {
    if (c.slow_features) return;
    auto& list = memo_[KeyOf(c, avoid)];
    if (list.size() < 16) list.push_back(VecOf(c));
  }

 private:
  static FailKey KeyOf(const Compiled& c, bool avoid) {
    return FailKey{c.d.nodes, c.model, c.region, c.partition, c.features_all, c.features_any, c.d.exclusive, avoid};
  }
  static FailVec VecOf(const Compiled& c) {
    const Demand& d = c.d;
    return FailVec{d.gpus_per_node, d.cpus_per_node, d.min_trust, d.mem_per_node_mb,
                   d.max_price > 0 ? d.max_price : std::numeric_limits<Micros>::max()};
  }
  std::unordered_map<FailKey, std::vector<FailVec>, FailKeyHash> memo_;
};
}  // namespace

std::optional<Scheduler::Entry> Scheduler::NewEntry(int64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.state != JobState::kPending) return std::nullopt;
  Entry e;
  e.id = id;
  e.job = &it->second;
  return e;
}

void Scheduler::RebuildQueue(int64_t now_ms) {
  std::vector<Entry> q;
  q.reserve(queue_.size() + fresh_.size() + incoming_.size());
  for (auto* from : {&queue_, &fresh_})
    for (auto& e : *from)
      if (!e.dead && !removed_.count(e.id) && e.job->state == JobState::kPending) q.push_back(std::move(e));
  fresh_.clear();
  for (int64_t id : incoming_)
    if (auto e = NewEntry(id)) q.push_back(std::move(*e));
  // Requeued twice between passes, or restored over a queued job: keep one.
  std::sort(q.begin(), q.end(), [](const Entry& a, const Entry& b) { return a.id < b.id; });
  q.erase(std::unique(q.begin(), q.end(), [](const Entry& a, const Entry& b) { return a.id == b.id; }), q.end());
  incoming_.clear();
  removed_.clear();
  pending_accounts_.clear();
  for (const auto& e : q) ++pending_accounts_[e.job->payer];
  fs_factor_.clear();
  if (!pending_accounts_.empty()) {
    auto factors = fairshare_.Factors(pending_accounts_, now_ms);
    fs_factor_.insert(factors.begin(), factors.end());
  }
  int total_nodes = static_cast<int>(nodes_.size());
  for (auto& e : q) {
    Refresh(e);
    e.prio = e.job->priority =
        ComputePriority(*e.job, opts_.priority, opts_.qos_priority, FairShareOf(e.job->payer, now_ms), total_nodes, now_ms)
            .total;
  }
  std::sort(q.begin(), q.end(), Before<Entry>);
  queue_ = std::move(q);
  reservation_.reset();
  blocker_ = 0;
  changed_.clear();
  full_needed_ = false;
  last_full_ms_ = now_ms;
}

void Scheduler::MergeIncoming(int64_t now_ms) {
  if (!removed_.empty()) {
    if (blocker_ && removed_.count(blocker_)) {
      if (reservation_) changed_.insert(changed_.end(), reservation_->nodes.begin(), reservation_->nodes.end());
      reservation_.reset();
      blocker_ = 0;
    }
    for (auto* q : {&queue_, &fresh_})
      for (auto& e : *q)
        if (removed_.count(e.id)) e.dead = true;
    removed_.clear();
  }
  if (incoming_.empty()) return;
  int total_nodes = static_cast<int>(nodes_.size());
  std::sort(incoming_.begin(), incoming_.end());
  incoming_.erase(std::unique(incoming_.begin(), incoming_.end()), incoming_.end());
  std::vector<Entry> add;
  add.reserve(incoming_.size());
  for (int64_t id : incoming_) {
    auto found = NewEntry(id);
    if (!found) continue;
    Entry& e = *found;
    Refresh(e);
    e.prio = e.job->priority =
        ComputePriority(*e.job, opts_.priority, opts_.qos_priority, FairShareOf(e.job->payer, now_ms), total_nodes, now_ms)
            .total;
    add.push_back(std::move(e));
  }
  incoming_.clear();
  std::sort(add.begin(), add.end(), Before<Entry>);
  std::vector<Entry> merged;
  merged.reserve(fresh_.size() + add.size());
  std::merge(std::make_move_iterator(fresh_.begin()), std::make_move_iterator(fresh_.end()),
             std::make_move_iterator(add.begin()), std::make_move_iterator(add.end()), std::back_inserter(merged),
             Before<Entry>);
  fresh_ = std::move(merged);
  if (fresh_.size() > 256) Compact();
}

void Scheduler::Compact() {
  std::vector<Entry> q;
  q.reserve(queue_.size() + fresh_.size());
  auto a = queue_.begin();
  auto b = fresh_.begin();
  while (a != queue_.end() || b != fresh_.end()) {
    Entry& e = (b == fresh_.end() || (a != queue_.end() && Before(*a, *b))) ? *a++ : *b++;
    if (!e.dead) q.push_back(std::move(e));
  }
  queue_ = std::move(q);
  fresh_.clear();
}

std::vector<StartDecision> Scheduler::Schedule(int64_t now_ms, const CanHoldFn& can_hold) {
  bool full = full_needed_ || now_ms - last_full_ms_ >= opts_.full_pass_interval_ms || now_ms < last_full_ms_;
  if (full) RebuildQueue(now_ms);
  else MergeIncoming(now_ms);
  std::vector<StartDecision> out;
  if (queue_.empty() && fresh_.empty()) {
    changed_.clear();
    reservation_.reset();
    blocker_ = 0;
    return out;
  }
  for (auto* q : {&queue_, &fresh_})  // new names seen: compile again (rare: node changes ask for a full pass)
    for (auto& e : *q)
      if (e.data->demand.gen != index_->generation()) Refresh(e);

  // The nodes that gained room, and the most any of them offers: a job that
  // fitted nowhere and asks for more than that cannot fit now.
  std::vector<size_t> changed = std::move(changed_);
  changed_.clear();
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  Free most{0, 0, 0, false};
  auto widen = [&](size_t i) {
    Free f = index_->FreeOf(i);
    most.gpus = std::max(most.gpus, f.gpus);
    most.cpus = std::max(most.cpus, f.cpus);
    most.mem_mb = std::max(most.mem_mb, f.mem_mb);
  };
  for (size_t i : changed) widen(i);
  std::vector<size_t> changed_groups;
  auto regroup = [&]() {
    changed_groups.clear();
    for (size_t i : changed) changed_groups.push_back(index_->GroupOf(i));
    std::sort(changed_groups.begin(), changed_groups.end());
    changed_groups.erase(std::unique(changed_groups.begin(), changed_groups.end()), changed_groups.end());
  };
  regroup();
  FailMemo failed;
  // The reservation of the last pass stands while its job stays the first to
  // wait; when another job takes that place, the old one's nodes are open
  // to everyone again.
  auto drop_reservation = [&]() {
    if (!reservation_) return;
    for (size_t i : reservation_->nodes) {
      changed.push_back(i);
      widen(i);
    }
    regroup();
    failed.Clear();  // the reserved nodes are open again
    reservation_.reset();  // its job is told so when the walk reaches it
  };

  auto note = [](Entry& e, const char* reason, int64_t expected_start) {
    if (e.noted == reason && e.noted_start == expected_start) return;
    e.job->reason = reason;
    e.job->expected_start_ms = expected_start;
    e.noted = reason;
    e.noted_start = expected_start;
  };
  bool blocked = false;  // a higher-priority job is waiting for resources
  size_t dead = 0;
  auto step = [&](Entry& e) {
    if (e.dead) {
      ++dead;
      return;
    }
    const char* why = nullptr;
    if (e.eligible_ms > now_ms) why = "BeginTime";
    else if (e.array_running && *e.array_running >= e.array_max) why = "JobArrayTaskLimit";
    else if (e.check) why = Eligibility(*e.job, now_ms);
    if (why) {
      note(e, why, 0);
      e.retry = true;
      if (blocker_ == e.id) {
        drop_reservation();
        blocker_ = 0;
      }
      return;
    }
    if (e.feasible_gen != topology_gen_) {
      Feasibility f = Feasible(e.data->demand.d);
      e.feasible = f.ever;
      e.data->infeasible_reason = f.reason;
      e.feasible_gen = topology_gen_;
    }
    if (!e.feasible) {
      note(e, e.data->infeasible_reason.c_str(), 0);
      e.retry = true;
      return;
    }
    if (blocked && !opts_.backfill) {
      note(e, "Priority", 0);
      e.retry = true;
      return;
    }
    const std::set<size_t>* avoid = nullptr;
    // Only jobs behind the first waiting one keep off its reservation (the
    // reservation of the last pass applies once its job is reached and still waits).
    if (blocked && reservation_ && now_ms + e.limit_ms > reservation_->start_ms) avoid = &reservation_->nodes;
    std::optional<std::vector<size_t>> placement;
    if (!e.retry && (changed.empty() || e.gpus > most.gpus || e.cpus > most.cpus || e.mem_mb > most.mem_mb)) {
      // fitted nowhere before, and asks for more than any node that gained room offers
    } else if (failed.Covers(e.data->demand, avoid != nullptr)) {
      // as large and as strict as a demand that found no place in this pass
    } else {
      placement = e.retry ? index_->Place(e.data->demand, avoid)
                          : index_->PlaceAmong(e.data->demand, avoid, changed, changed_groups);
      if (!placement) failed.Add(e.data->demand, avoid != nullptr);
    }
    e.retry = false;
    if (!placement) {
      if (!blocked) {
        blocked = true;
        if (blocker_ != e.id) {
          drop_reservation();
          if (opts_.backfill) reservation_ = Reserve(*e.job, e.data->demand, now_ms);
          blocker_ = e.id;
          failed.Clear();  // jobs behind it now keep off its nodes: failures so far were measured without that
        }
        note(e, "Resources", reservation_ ? reservation_->start_ms : 0);
      } else {
        note(e, "Priority", 0);
      }
      return;
    }
    Job* job = e.job;
    Micros hold = HoldFor(*job, *placement);
    if (!can_hold(*job, hold)) {
      note(e, "InsufficientFunds", 0);
      e.retry = true;
      return;
    }
    bool takes_reserved = false;
    if (!blocked && reservation_)  // a job ahead of the waiting one may take its nodes: reserve anew
      for (size_t i : *placement) takes_reserved |= reservation_->nodes.count(i) > 0;
    if (blocker_ == e.id || takes_reserved) {
      drop_reservation();
      blocker_ = 0;
    }
    Allocate(*job, *placement);
    job->state = JobState::kRunning;
    job->reason = "None";
    job->start_ms = now_ms;
    job->end_ms = 0;
    job->held = hold;
    job->expected_start_ms = 0;
    running_ends_.insert(EndKey(*job));
    feasible_cache_.erase(job->id);
    e.dead = true;
    ++dead;
    out.push_back({job->id, hold});
  };
  for (size_t a = 0, b = 0; a < queue_.size() || b < fresh_.size();)
    step((b >= fresh_.size() || (a < queue_.size() && Before(queue_[a], fresh_[b]))) ? queue_[a++] : fresh_[b++]);
  if (!blocked) {
    drop_reservation();
    blocker_ = 0;
  }
  changed_.clear();  // this pass looked at all of them
  if (dead > (queue_.size() + fresh_.size()) / 4) Compact();
  return out;
}

std::optional<Scheduler::ReservationView> Scheduler::reservation() const {
  if (!reservation_) return std::nullopt;
  ReservationView v{reservation_->job, reservation_->start_ms, {}};
  for (size_t i : reservation_->nodes) v.node_ids.push_back(nodes_[i].id);
  return v;
}

void Scheduler::FinishJob(int64_t id, JobState final_state, int exit_code, int exit_signal, int64_t now_ms) {
  Job* job = FindJob(id);
  if (!job || IsTerminal(job->state)) return;
  if (job->state == JobState::kCompleting) final_state = job->completing_to;
  if (job->state == JobState::kRunning || job->state == JobState::kCompleting)
    Release(*job, now_ms, /*count_usage=*/true);
  else if (job->state == JobState::kPending)
    Unqueue(id);
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
    Unqueue(id);
    feasible_cache_.erase(id);
    job->state = JobState::kCancelled;
    job->end_ms = now_ms;
    job->reason = "None";
    return true;
  }
  if (job->state == JobState::kRunning) {
    running_ends_.erase(EndKey(*job));
    completing_.insert(id);
    job->state = JobState::kCompleting;
    job->completing_to = JobState::kCancelled;
  }
  return false;
}

void Scheduler::Requeue(int64_t id, int64_t now_ms, const std::string& reason, bool provider_fault) {
  Job* job = FindJob(id);
  if (!job || (job->state != JobState::kRunning && job->state != JobState::kCompleting)) return;
  if (job->state == JobState::kCompleting) {
    // It was ending anyway (cancelled, or past its limit): it ends as meant
    // instead of running again. The lost node's time counts for nobody.
    Release(*job, now_ms, /*count_usage=*/false);
    job->state = job->completing_to;
    job->end_ms = now_ms;
    return;
  }
  Attempt a;
  a.attempt = job->attempt;
  a.start_ms = job->start_ms;
  a.end_ms = now_ms;
  for (const auto& al : job->alloc) a.node_ids.push_back(al.node_id);
  a.state = provider_fault ? JobState::kNodeFail : JobState::kRequeued;
  a.reason = reason;
  a.provider_fault = provider_fault;
  job->history.push_back(a);
  Release(*job, now_ms, /*count_usage=*/!provider_fault);
  job->state = JobState::kPending;
  job->reason = provider_fault ? "NodeFail" : "None";
  job->attempt += 1;
  job->held = 0;
  job->alloc.clear();
  job->start_ms = 0;
  job->cancel_requested = false;
  job->completing_to = JobState::kCompleted;
  incoming_.push_back(id);
}

Status Scheduler::Hold(int64_t id, bool by_admin) {
  Job* job = FindJob(id);
  if (!job) return Status::NotFound("Invalid job id specified");
  if (job->state != JobState::kPending) return Status::FailedPrecondition("Job is no longer pending execution");
  if (by_admin) job->held_by_admin = true;
  else job->spec.hold = true;
  full_needed_ = true;
  return Status::OK();
}

Status Scheduler::Release(int64_t id, bool by_admin) {
  Job* job = FindJob(id);
  if (!job) return Status::NotFound("Invalid job id specified");
  if (job->state != JobState::kPending) return Status::FailedPrecondition("Job is no longer pending execution");
  if (job->held_by_admin && !by_admin)
    return Status::PermissionDenied("job was held by an administrator; only one may release it");
  job->held_by_admin = false;
  job->spec.hold = false;
  full_needed_ = true;
  return Status::OK();
}

Status Scheduler::Update(int64_t id, const JobUpdate& u) {
  Job* job = FindJob(id);
  if (!job) return Status::NotFound("Invalid job id specified");
  if (job->state != JobState::kPending) return Status::FailedPrecondition("Job is no longer pending execution");
  if (u.partition && !FindPartition(*u.partition))
    return Status::InvalidArgument("invalid partition name specified: '" + *u.partition + "'");
  if (u.qos && !opts_.qos_priority.count(*u.qos))
    return Status::InvalidArgument("invalid qos specification: '" + *u.qos + "'");
  if (u.time_limit_s && *u.time_limit_s <= 0) return Status::InvalidArgument("invalid time limit");
  if (u.time_limit_s) job->time_limit_s = *u.time_limit_s;
  if (u.nice) job->spec.nice = *u.nice;
  if (u.qos) job->spec.qos = *u.qos;
  if (u.partition) job->spec.partition = *u.partition;
  if (u.max_price) job->spec.gm_max_price = *u.max_price;
  feasible_cache_.erase(id);
  full_needed_ = true;
  return Status::OK();
}

void Scheduler::Heartbeat(const std::string& node_id, int64_t now_ms) {
  auto i = IndexOf(node_id);
  if (i) nodes_[*i].last_heartbeat_ms = now_ms;
}

Scheduler::TickResult Scheduler::Tick(int64_t now_ms) {
  TickResult r;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    if (n.up && now_ms - n.last_heartbeat_ms > opts_.heartbeat_timeout_ms) {
      n.up = false;
      index_->Update(i);
      TopologyChanged();
      r.nodes_lost.push_back(n.id);
      for (int64_t j : n.jobs) r.jobs_on_lost.push_back(j);
    }
  }
  std::sort(r.jobs_on_lost.begin(), r.jobs_on_lost.end());
  r.jobs_on_lost.erase(std::unique(r.jobs_on_lost.begin(), r.jobs_on_lost.end()), r.jobs_on_lost.end());
  // Running jobs whose limit is reached become COMPLETING (heading for TIMEOUT).
  while (!running_ends_.empty() && running_ends_.begin()->first <= now_ms) {
    int64_t id = running_ends_.begin()->second;
    running_ends_.erase(running_ends_.begin());
    Job& job = jobs_.at(id);
    job.state = JobState::kCompleting;
    job.completing_to = JobState::kTimeout;
    completing_.insert(id);
    r.jobs_hit_limit.push_back(id);
  }
  std::sort(r.jobs_hit_limit.begin(), r.jobs_hit_limit.end());
  // The worker enforces the limit; if it never reports, stop waiting.
  for (int64_t id : completing_) {
    const Job& job = jobs_.at(id);
    int64_t limit_ms = job.start_ms + job.time_limit_s * 1000;
    if (now_ms >= limit_ms + (opts_.kill_grace_s + 60) * 1000 &&
        !std::binary_search(r.jobs_on_lost.begin(), r.jobs_on_lost.end(), id))
      r.jobs_timed_out.push_back(id);
  }
  return r;
}

}  // namespace gm::sched
