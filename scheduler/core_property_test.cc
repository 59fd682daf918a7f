// Property tests of the scheduler core (rapidcheck): over random sequences of
// events — nodes joining, re-registering, draining and falling silent; jobs
// (gangs, exclusive, arrays with % limits) submitted, scheduled, finished,
// cancelled and requeued; time moving on with heartbeats and Tick — the
// core's invariants hold after every step:
//   * no node is over-allocated, and its usage equals what its jobs hold;
//   * no GPU index is held by two running jobs;
//   * a running job holds exactly nodes_min distinct nodes of one locality
//     group, each satisfying its request, and an exclusive job is alone;
//   * running array tasks never exceed the array's % limit;
//   * no job runs on a DOWN node once its loss was handled (requeue);
//   * a job that can never fit never starts;
//   * EASY backfill never delays the top job's reservation.
// The controller's reactions to Tick (requeue on NODE_FAIL, timeouts) are
// played by the test as gmctld plays them.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "scheduler/core.h"

namespace gm::sched {
namespace {

// rapidcheck's default of 100 runs per property is over in well under a
// second here; ask for more unless RC_PARAMS says otherwise (rapidcheck
// reads it on first use, after static initialisation).
const bool kMoreRuns = setenv("RC_PARAMS", "max_success=1000", /*overwrite=*/0) == 0;

constexpr Micros T = kMicrosPerToken;
constexpr int64_t kHeartbeatTimeoutMs = 10'000;
const char* const kModels[] = {"H100", "A100", "L40S"};
const char* const kSites[] = {"s0", "s1", "s2", "s3"};
const char* const kRegions[] = {"eu", "us"};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A value in [lo, hi) drawn at full size: rapidcheck scales inRange with the
// run's size, which would make the first half of the runs trivial federations.
template <typename I>
I In(I lo, I hi) {
  return *rc::gen::resize(100, rc::gen::inRange<I>(lo, hi));
}

bool Active(const Job& j) { return j.state == JobState::kRunning || j.state == JobState::kCompleting; }

// What one node must offer the job, worked out here from the spec (not with
// the core's DemandFor), for the jobs this test submits.
struct Need {
  int gpus, cpus;
  int64_t mem;
};
Need NeedOf(const Job& j) {
  return Need{j.spec.gpus_per_node.value_or(0), std::max(1, j.spec.cpus_per_task),
              j.spec.mem_per_node_mb.value_or(0)};
}

// Whether node `n`, empty, could ever run one node's share of `j`.
bool StaticallyFits(const Node& n, const Job& j) {
  Need need = NeedOf(j);
  const JobSpec& s = j.spec;
  if (need.gpus > n.gpus || need.cpus > n.cpus || need.mem > n.mem_mb) return false;
  if (need.gpus > 0 && !s.gpu_type.empty() && Lower(s.gpu_type) != Lower(n.gpu_model)) return false;
  if (need.gpus > 0 && s.gm_max_price && *s.gm_max_price > 0 && n.price > *s.gm_max_price) return false;
  if (s.gm_min_trust && n.trust_level < *s.gm_min_trust) return false;
  if (!s.gm_region.empty() && n.region != s.gm_region) return false;
  return true;
}

// How much a run exercised, so that a weak generator shows in the output.
struct Coverage {
  int starts = 0, gangs = 0, node_fail_requeues = 0, reservations_compared = 0, backfilled = 0;
};
Coverage g_cov;

class World {
 public:
  explicit World(Options o) : opts(o), s(std::make_unique<Scheduler>(std::move(o))) {}

  Options opts;
  std::unique_ptr<Scheduler> s;
  bool close_sites = false;        // s0 and s1 form one locality group
  std::set<int64_t> cancelled;     // cancel requested, and not requeued by the user since
  std::set<int64_t> hit_limit;     // reached the time limit, and not requeued by the user since
  int64_t now = 0;
  int64_t next_job = 1;
  std::vector<Node> desc;          // each node as it registers
  std::set<std::string> silent;    // nodes that stopped sending heartbeats
  std::vector<std::string> log;    // the events so far, for the failure message
  // The reservation seen by the last pass, to check that backfill never delays it.
  struct Seen {
    int64_t job = 0, start_ms = 0;
  } reservation;
  bool reservation_comparable = false;  // nothing since then may legitimately move it later

  std::string Trace() const {
    std::string t;
    size_t from = log.size() > 60 ? log.size() - 60 : 0;
    for (size_t i = from; i < log.size(); ++i) t += "  " + log[i] + "\n";
    return t;
  }
};

// ---- the invariants --------------------------------------------------------------

std::string CheckInvariants(World& w) {
  std::ostringstream err;
  const Scheduler& s = *w.s;
  struct Use {
    int cpus = 0, gpus = 0;
    int64_t mem = 0;
    std::set<int64_t> jobs;
    std::map<int, int64_t> gpu_owner;
  };
  std::map<std::string, Use> use;
  std::map<int64_t, int> array_active;
  for (const auto& [id, j] : s.jobs()) {
    if (!Active(j)) {
      if (j.state == JobState::kPending && !j.alloc.empty())
        err << "pending job " << id << " still holds an allocation\n";
      continue;
    }
    if (j.array_job_id) ++array_active[j.array_job_id];
    if (static_cast<int>(j.alloc.size()) != j.spec.nodes_min)
      err << "job " << id << " holds " << j.alloc.size() << " nodes, asked for " << j.spec.nodes_min << "\n";
    std::set<std::string> nodes, groups;
    for (const auto& a : j.alloc) {
      const Node* n = s.FindNode(a.node_id);
      if (!n) {
        err << "job " << id << " holds unknown node " << a.node_id << "\n";
        continue;
      }
      if (!nodes.insert(a.node_id).second) err << "job " << id << " holds node " << a.node_id << " twice\n";
      groups.insert(s.GroupOf(*n));
      if (!n->up) err << "job " << id << " is " << JobStateName(j.state) << " on DOWN node " << n->id << "\n";
      if (!n->jobs.count(id)) err << "node " << n->id << " does not list its job " << id << "\n";
      if (!StaticallyFits(*n, j)) err << "job " << id << " runs on node " << n->id << " that cannot fit it\n";
      Need need = NeedOf(j);
      if (!j.spec.exclusive && static_cast<int>(a.gpu_indices.size()) != need.gpus)
        err << "job " << id << " got " << a.gpu_indices.size() << " GPUs on " << n->id << ", asked " << need.gpus << "\n";
      if (!j.spec.exclusive && a.cpus < need.cpus) err << "job " << id << " got too few CPUs\n";
      Use& u = use[a.node_id];
      u.cpus += a.cpus;
      u.mem += a.mem_mb;
      u.gpus += static_cast<int>(a.gpu_indices.size());
      u.jobs.insert(id);
      for (int g : a.gpu_indices) {
        if (g < 0 || g >= n->gpus) err << "job " << id << " holds GPU index " << g << " of " << n->id << " (" << n->gpus << " GPUs)\n";
        auto [it, fresh] = u.gpu_owner.emplace(g, id);
        if (!fresh) err << "GPU " << g << " of " << n->id << " given to jobs " << it->second << " and " << id << "\n";
      }
    }
    if (groups.size() > 1) err << "job " << id << " spans " << groups.size() << " locality groups\n";
  }
  for (const auto& n : s.nodes()) {
    Use& u = use[n.id];
    int busy = static_cast<int>(std::count(n.gpu_busy.begin(), n.gpu_busy.end(), true));
    if (u.cpus > n.cpus || u.gpus > n.gpus || u.mem > n.mem_mb)
      err << "node " << n.id << " over-allocated: cpus " << u.cpus << "/" << n.cpus << ", gpus " << u.gpus << "/"
          << n.gpus << ", mem " << u.mem << "/" << n.mem_mb << "\n";
    if (busy != u.gpus) err << "node " << n.id << ": gpu_busy counts " << busy << ", its jobs hold " << u.gpus << "\n";
    for (auto [g, owner] : u.gpu_owner)
      if (g >= 0 && g < static_cast<int>(n.gpu_busy.size()) && !n.gpu_busy[g])
        err << "node " << n.id << ": GPU " << g << " held by job " << owner << " is marked free\n";
    if (n.cpus_used != u.cpus || n.mem_used_mb != u.mem)
      err << "node " << n.id << ": usage says cpus " << n.cpus_used << " mem " << n.mem_used_mb << ", jobs hold "
          << u.cpus << " / " << u.mem << "\n";
    if (n.jobs != u.jobs) err << "node " << n.id << " lists " << n.jobs.size() << " jobs, " << u.jobs.size() << " hold it\n";
    int exclusive = 0;
    for (int64_t id : u.jobs) {
      const Job& j = s.jobs().at(id);
      exclusive += j.spec.exclusive;
      if (j.spec.exclusive && u.jobs.size() > 1) err << "exclusive job " << id << " shares node " << n.id << "\n";
    }
    if (n.exclusive_jobs != exclusive)
      err << "node " << n.id << " counts " << n.exclusive_jobs << " exclusive jobs, " << exclusive << " run there\n";
  }
  for (const auto& [array, active] : array_active) {
    int limit = 0;
    for (const auto& [id, j] : s.jobs())
      if (j.array_job_id == array && j.spec.array_max_running) limit = *j.spec.array_max_running;
    if (limit > 0 && active > limit) err << "array " << array << " runs " << active << " tasks, limit " << limit << "\n";
  }
  return err.str();
}

// ---- the events ---------------------------------------------------------------------

Node GenNode(int index) {
  Node n;
  n.id = "n" + std::to_string(index);
  n.name = "host" + std::to_string(index);
  n.provider = "p" + std::to_string(index % 3);
  n.gpu_model = *rc::gen::element<std::string>(kModels[0], kModels[1], kModels[2]);
  n.gpus = In(0, 9);
  n.cpus = In(1, 17);
  n.mem_mb = *rc::gen::element<int64_t>(8'000, 32'000, 128'000);
  n.price = In<int>(1, 6) * T;
  n.trust_level = In(1, 4);
  n.site = *rc::gen::element<std::string>(kSites[0], kSites[1], kSites[2], kSites[3]);
  n.region = n.site == "s3" ? kRegions[1] : kRegions[0];
  n.reputation = In(0, 11) / 10.0;
  n.verification = *rc::gen::weightedElement<NodeTrust>({{9, NodeTrust::kVerified}, {1, NodeTrust::kPending}});
  return n;
}

void AddNode(World& w) {
  Node n = GenNode(static_cast<int>(w.desc.size()) + 1);
  n.last_heartbeat_ms = w.now;
  w.desc.push_back(n);
  w.s->UpsertNode(n);
  w.log.push_back("add " + n.id + " " + std::to_string(n.gpus) + "x" + n.gpu_model + " cpus " +
                  std::to_string(n.cpus) + " site " + n.site + (n.verification == NodeTrust::kPending ? " (unverified)" : ""));
  w.reservation_comparable = false;
}

void Submit(World& w) {
  Job j;
  j.user = j.payer = *rc::gen::element<std::string>("alice", "bob", "carol");
  JobSpec& s = j.spec;
  s.nodes_min = s.nodes_max = *rc::gen::weightedElement<int>({{6, 1}, {2, 2}, {1, 3}});
  s.gpus_per_node = In(0, 5);
  s.cpus_per_task = In(1, 5);
  if (In(0, 4) == 0) s.mem_per_node_mb = *rc::gen::element<int64_t>(4'000, 16'000, 64'000);
  if (In(0, 4) == 0) s.gpu_type = Lower(*rc::gen::element<std::string>(kModels[0], kModels[1], kModels[2]));
  if (In(0, 5) == 0) s.gm_max_price = In<int>(1, 5) * T;
  if (In(0, 8) == 0) s.gm_min_trust = In(2, 4);
  if (In(0, 8) == 0) s.gm_region = *rc::gen::element<std::string>(kRegions[0], kRegions[1]);
  if (In(0, 8) == 0) s.exclusive = true;
  if (In(0, 6) == 0) s.requeue = false;
  s.time_limit_s = *rc::gen::element<int64_t>(60, 300, 600, 3600);
  int tasks = In(0, 5) == 0 ? In(2, 6) : 1;
  if (tasks > 1) s.array_max_running = In(1, 3);
  int64_t first = w.next_job;
  for (int t = 0; t < tasks; ++t) {
    Job task = j;
    task.id = w.next_job++;
    task.spec.job_name = "j" + std::to_string(task.id);
    if (tasks > 1) {
      task.array_job_id = first;
      task.array_task_id = t;
    }
    Status st = w.s->Submit(task, w.now);
    RC_ASSERT(st.ok());
  }
  std::ostringstream l;
  l << "submit " << first << (tasks > 1 ? " array x" + std::to_string(tasks) + "%" + std::to_string(*s.array_max_running) : "")
    << ": " << s.nodes_min << "N x " << *s.gpus_per_node << "G " << s.gpu_type << " c" << s.cpus_per_task
    << (s.exclusive ? " excl" : "") << (s.gm_max_price ? " cap" : "") << (s.gm_min_trust ? " trust" : "")
    << (!s.gm_region.empty() ? " region " + s.gm_region : "") << " limit " << *s.time_limit_s;
  w.log.push_back(l.str());
  w.reservation_comparable = false;  // a job of higher priority may have arrived
}

std::vector<int64_t> JobsIn(const World& w, bool (*pred)(const Job&)) {
  std::vector<int64_t> out;
  for (const auto& [id, j] : w.s->jobs())
    if (pred(j)) out.push_back(id);
  return out;
}

// Whether `j` could start now on nodes outside `avoid`, worked out from the
// nodes' usage as the core reports it (not with the core's index).
bool CouldStart(const World& w, const Job& j, const std::set<std::string>& avoid) {
  Need need = NeedOf(j);
  std::map<std::string, int> per_group;
  for (const auto& n : w.s->nodes()) {
    if (!n.Schedulable() || avoid.count(n.id) || !StaticallyFits(n, j)) continue;
    if (n.exclusive_jobs > 0) continue;
    if (j.spec.exclusive) {
      if (!n.jobs.empty()) continue;
    } else {
      int free = static_cast<int>(std::count(n.gpu_busy.begin(), n.gpu_busy.end(), false));
      if (free < need.gpus || n.cpus - n.cpus_used < need.cpus || n.mem_mb - n.mem_used_mb < need.mem) continue;
    }
    if (++per_group[w.s->GroupOf(n)] >= std::max(1, j.spec.nodes_min)) return true;
  }
  return false;
}

// One Schedule pass; checks each start and the reservation rule.
void Schedule(World& w) {
  std::map<int64_t, JobState> before;
  for (const auto& [id, j] : w.s->jobs()) before[id] = j.state;
  auto decisions = w.s->Schedule(w.now, [](const Job&, Micros) { return true; });
  std::ostringstream l;
  l << "schedule t=" << w.now << ":";
  for (const auto& d : decisions) {
    const Job& j = w.s->jobs().at(d.job_id);
    RC_ASSERT(before[d.job_id] == JobState::kPending);
    if (w.cancelled.count(d.job_id))
      RC_FAIL("job " + std::to_string(d.job_id) + " started again after its cancel\n" + w.Trace());
    if (w.hit_limit.count(d.job_id))
      RC_FAIL("job " + std::to_string(d.job_id) + " started again after reaching its time limit\n" + w.Trace());
    ++g_cov.starts;
    if (j.spec.nodes_min > 1) ++g_cov.gangs;
    l << " " << d.job_id << "->";
    for (const auto& a : j.alloc) {
      const Node* n = w.s->FindNode(a.node_id);
      l << a.node_id << "[" << a.gpu_indices.size() << "]";
      // Never on a node that may not get work, never on one that cannot fit it.
      if (!n->Schedulable()) RC_FAIL("job " + std::to_string(d.job_id) + " placed on unschedulable node " + n->id + "\n" + w.Trace());
      if (!StaticallyFits(*n, j)) RC_FAIL("job " + std::to_string(d.job_id) + " placed on node " + n->id + " that cannot fit it\n" + w.Trace());
    }
  }
  // Nothing was missed: a job the pass left waiting for resources could not
  // have started (the first one anywhere, the others off the reservation's
  // nodes when they would run past its start). The core's passes between
  // full ones look only at nodes that gained room; this is what makes that safe.
  auto res = w.s->reservation();
  for (const auto& [id, j] : w.s->jobs()) {
    if (j.state != JobState::kPending || (j.reason != "Resources" && j.reason != "Priority")) continue;
    if (j.reason == "Priority" && !w.opts.backfill) continue;  // not looked at behind the first
    std::set<std::string> avoid;
    if (res && res->job_id != id && w.now + j.time_limit_s * 1000 > res->start_ms)
      avoid.insert(res->node_ids.begin(), res->node_ids.end());
    if (CouldStart(w, j, avoid))
      RC_FAIL("job " + std::to_string(id) + " (" + j.reason + ") could have started at t=" + std::to_string(w.now) +
              "\n" + w.Trace());
  }
  // The top blocked job: the first job in this pass's order that waits for resources.
  const Job* top = nullptr;
  for (const auto& [id, j] : w.s->jobs()) {
    if (j.state != JobState::kPending || j.reason != "Resources" || j.expected_start_ms == 0) continue;
    if (!top || j.priority > top->priority || (j.priority == top->priority && j.id < top->id)) top = &j;
  }
  if (top) l << " reservation " << top->id << "@" << top->expected_start_ms;
  w.log.push_back(l.str());
  if (top) {
    for (const auto& d : decisions) {
      const Job& j = w.s->jobs().at(d.job_id);
      if (j.priority < top->priority || (j.priority == top->priority && j.id > top->id)) ++g_cov.backfilled;
    }
  }
  if (top && w.reservation_comparable && top->id == w.reservation.job) {
    ++g_cov.reservations_compared;
    // Started in this pass ahead of the top job in priority order: they may take its nodes.
    bool overtaken = false;
    for (const auto& d : decisions) {
      const Job& j = w.s->jobs().at(d.job_id);
      if (j.priority > top->priority || (j.priority == top->priority && j.id < top->id)) overtaken = true;
    }
    int64_t allowed = std::max(w.reservation.start_ms, w.now);
    if (!overtaken && top->expected_start_ms > allowed)
      RC_FAIL("backfill delayed the reservation of job " + std::to_string(top->id) + " from " +
              std::to_string(w.reservation.start_ms) + " to " + std::to_string(top->expected_start_ms) + "\n" + w.Trace());
  }
  w.reservation = top ? World::Seen{top->id, top->expected_start_ms} : World::Seen{};
  w.reservation_comparable = top != nullptr;
}

// What gmctld does when a job's node is lost (Controller::RequeueJob): the
// attempt ends NODE_FAIL and the job is requeued, unless --no-requeue.
void NodeFailRequeue(World& w, int64_t id) {
  const Job& j = w.s->jobs().at(id);
  if (j.spec.requeue == false) w.s->FinishJob(id, JobState::kNodeFail, 0, 0, w.now);
  else w.s->Requeue(id, w.now, "NodeFail", /*provider_fault=*/true);
}

void FinishOne(World& w) {
  auto ids = JobsIn(w, [](const Job& j) { return Active(j); });
  if (ids.empty()) return;
  int64_t id = *rc::gen::elementOf(ids);
  JobState st = *rc::gen::element(JobState::kCompleted, JobState::kFailed);
  w.s->FinishJob(id, st, st == JobState::kCompleted ? 0 : 1, 0, w.now);
  w.log.push_back("finish " + std::to_string(id) + " " + JobStateName(w.s->jobs().at(id).state));
}

void CancelOne(World& w) {
  auto ids = JobsIn(w, [](const Job& j) { return !IsTerminal(j.state); });
  if (ids.empty()) return;
  int64_t id = *rc::gen::elementOf(ids);
  bool ended = w.s->Cancel(id, w.now);
  w.cancelled.insert(id);
  w.log.push_back("cancel " + std::to_string(id) + (ended ? " (ended)" : " (completing)"));
}

void RequeueOne(World& w) {
  auto ids = JobsIn(w, [](const Job& j) { return Active(j); });
  if (ids.empty()) return;
  int64_t id = *rc::gen::elementOf(ids);
  // Either the node reported the job lost (gmctld requeues it as a node
  // failure) or the user ran scontrol requeue.
  bool lost = *rc::gen::arbitrary<bool>();
  if (lost) {
    NodeFailRequeue(w, id);
  } else {
    w.s->Requeue(id, w.now, "requeued by user", /*provider_fault=*/false);
    w.cancelled.erase(id);  // the user asked for another run
    w.hit_limit.erase(id);
  }
  w.log.push_back(std::string(lost ? "lost " : "requeue ") + std::to_string(id));
  w.reservation_comparable = false;  // a job of higher priority is back in the queue
}

// Time moves on: every node that is not silent heartbeats, then Tick, and the
// test reacts to what Tick reports as gmctld does.
void Advance(World& w) {
  int64_t dt = *rc::gen::element<int64_t>(0, 1'000, 5'000, 15'000, 60'000, 400'000);
  w.now += dt;
  // A DOWN node that is not silent heartbeats too (it came back), but it gets
  // no work until it registers again.
  for (const auto& n : w.s->nodes())
    if (!w.silent.count(n.id)) w.s->Heartbeat(n.id, w.now);
  auto r = w.s->Tick(w.now);
  std::ostringstream l;
  l << "advance +" << dt << " to " << w.now;
  if (!r.nodes_lost.empty()) {
    l << " lost";
    for (const auto& n : r.nodes_lost) l << " " << n;
    w.reservation_comparable = false;
  }
  for (int64_t id : r.jobs_on_lost) {
    NodeFailRequeue(w, id);
    ++g_cov.node_fail_requeues;
    l << " requeue " << id;
  }
  for (int64_t id : r.jobs_hit_limit) w.hit_limit.insert(id);
  for (int64_t id : r.jobs_timed_out) {
    w.s->FinishJob(id, JobState::kTimeout, 0, 9, w.now);
    l << " timeout " << id;
  }
  w.log.push_back(l.str());
}

void Silence(World& w) {
  if (w.desc.empty()) return;
  const Node& n = *rc::gen::elementOf(w.desc);
  w.silent.insert(n.id);
  w.log.push_back("silence " + n.id);
}

void Reregister(World& w) {
  if (w.desc.empty()) return;
  size_t i = In<size_t>(0, w.desc.size());
  // Mostly the same machine; sometimes it comes back with a GPU or CPUs fewer
  // or more (a card died, the provider changed the box).
  bool changed = In(0, 5) == 0;
  if (changed) {
    w.desc[i].gpus = std::max(0, w.desc[i].gpus + *rc::gen::element(-2, -1, 1));
    w.desc[i].cpus = std::max(1, w.desc[i].cpus + *rc::gen::element(-2, 0, 2));
  }
  Node n = w.desc[i];
  const Node* cur = w.s->FindNode(n.id);
  n.drain = cur->drain;
  n.verification = cur->verification;
  n.up = true;
  n.last_heartbeat_ms = w.now;
  w.silent.erase(n.id);
  w.s->UpsertNode(n);
  w.log.push_back("re-register " + n.id + (changed ? " as " + std::to_string(n.gpus) + " GPUs, " +
                                                        std::to_string(n.cpus) + " CPUs" : ""));
  w.reservation_comparable = false;
}

void ToggleDrainOrVerify(World& w) {
  if (w.desc.empty()) return;
  std::string id = (*rc::gen::elementOf(w.desc)).id;
  bool verify = *rc::gen::arbitrary<bool>();
  w.s->MutateNode(id, [&](Node& n) {
    if (verify) n.verification = NodeTrust::kVerified;
    else n.drain = !n.drain;
  });
  const Node* n = w.s->FindNode(id);
  w.log.push_back(std::string(verify ? "verify " : "drain=") + (verify ? "" : (n->drain ? "1 " : "0 ")) + id);
  w.reservation_comparable = false;  // draining a node can push the reservation back
}

// A silent node starts answering again without registering anew.
void Revive(World& w) {
  if (w.silent.empty()) return;
  std::string id = *rc::gen::elementOf(w.silent);
  w.silent.erase(id);
  w.log.push_back("revive " + id);
}

// The controller restarts: a fresh core gets every node and job back from
// the store (as Controller::Open does), and must see the same usage.
void Restart(World& w) {
  auto fresh = std::make_unique<Scheduler>(w.opts);
  if (w.close_sites) fresh->SetSiteRtts({{"s0", "s1", 1.0}, {"s1", "s2", 50.0}});
  for (Node n : w.s->nodes()) {
    n.last_heartbeat_ms = w.now;
    n.gpu_busy.clear();
    n.jobs.clear();
    n.cpus_used = 0;
    n.mem_used_mb = 0;
    n.exclusive_jobs = 0;  // derived, not stored: the store gives none
    fresh->UpsertNode(n);
  }
  for (const auto& [id, j] : w.s->jobs()) fresh->Restore(j);
  for (const auto& n : w.s->nodes()) {
    const Node* m = fresh->FindNode(n.id);
    if (m->gpu_busy != n.gpu_busy || m->cpus_used != n.cpus_used || m->mem_used_mb != n.mem_used_mb || m->jobs != n.jobs ||
        m->exclusive_jobs != n.exclusive_jobs || m->up != n.up)
      RC_FAIL("after a restart node " + n.id + " differs from before\n" + w.Trace());
  }
  w.s = std::move(fresh);
  w.log.push_back("restart");
  w.reservation_comparable = false;  // fair-share usage is not carried over here
}

Options MakeOptions() {
  Options o;
  o.heartbeat_timeout_ms = kHeartbeatTimeoutMs;
  o.kill_grace_s = 5;
  o.backfill = *rc::gen::weightedElement<bool>({{4, true}, {1, false}});
  o.policy = *rc::gen::element<std::string>("score", "cheapest", "fifo-firstfit", "random");
  // Every pass full, the default, or full passes only when something asks
  // for one: the incremental passes between must decide as a full one would.
  o.full_pass_interval_ms = *rc::gen::element<int64_t>(0, 10'000, int64_t{1} << 50);
  return o;
}

// Relative weights of the events in a scenario.
struct Mix {
  int add_node = 2, submit = 10, schedule = 10, finish = 5, cancel = 2, requeue = 2, advance = 6,
      silence = 1, revive = 1, reregister = 2, drain_or_verify = 2, restart = 1;
  int initial_nodes_max = 7;  // exclusive bound
};

void RunScenario(const Mix& m, int steps) {
  World w(MakeOptions());
  // Sites s0 and s1 are close enough to be one locality group in some runs.
  w.close_sites = *rc::gen::arbitrary<bool>();
  if (w.close_sites) w.s->SetSiteRtts({{"s0", "s1", 1.0}, {"s1", "s2", 50.0}});
  int initial = In(1, m.initial_nodes_max);
  for (int i = 0; i < initial; ++i) AddNode(w);
  using Step = void (*)(World&);
  const Step kSteps[] = {AddNode, Submit,  Schedule, FinishOne,  Reregister,          CancelOne,
                         RequeueOne, Advance, Silence,  Revive, ToggleDrainOrVerify, Restart};
  // Picked by index: rapidcheck prints what it picked, and it cannot print a function.
  const std::initializer_list<std::pair<std::size_t, int>> by_weight = {
      {m.add_node, 0}, {m.submit, 1},  {m.schedule, 2}, {m.finish, 3},  {m.reregister, 4},
      {m.cancel, 5},   {m.requeue, 6}, {m.advance, 7},  {m.silence, 8}, {m.revive, 9},
      {m.drain_or_verify, 10},         {m.restart, 11}};
  for (int step = 0; step < steps; ++step) {
    kSteps[*rc::gen::weightedElement<int>(by_weight)](w);
    std::string err = CheckInvariants(w);
    if (!err.empty()) RC_FAIL("after step " + std::to_string(step) + ":\n" + err + "events:\n" + w.Trace());
  }
}

void Classify() {
  const Coverage& cov = g_cov;
  RC_CLASSIFY(cov.starts >= 10, "10+ starts");
  RC_CLASSIFY(cov.gangs > 0, "gang started");
  RC_CLASSIFY(cov.node_fail_requeues > 0, "node-fail requeue");
  RC_CLASSIFY(cov.reservations_compared > 0, "reservation compared");
  RC_CLASSIFY(cov.backfilled > 0, "backfill under a reservation");
}

RC_GTEST_PROP(core_property, InvariantsHoldOverRandomEventSequences, ()) {
  g_cov = Coverage{};
  RunScenario(Mix{}, In(20, 200));
  Classify();
}

// Nodes fall silent, time out, come back and re-register while jobs run.
RC_GTEST_PROP(core_property, InvariantsHoldUnderNodeFailures, ()) {
  g_cov = Coverage{};
  Mix m;
  m.silence = 4;
  m.advance = 10;
  m.reregister = 4;
  m.requeue = 1;
  RunScenario(m, In(20, 200));
  Classify();
}

// Bigger federations with more finishing work: a deep queue, reservations
// and backfill around them.
RC_GTEST_PROP(core_property, InvariantsHoldWithDeepQueuesAndBackfill, ()) {
  g_cov = Coverage{};
  Mix m;
  m.initial_nodes_max = 13;
  m.submit = 14;
  m.schedule = 14;
  m.finish = 8;
  m.silence = 0;
  m.drain_or_verify = 1;
  RunScenario(m, In(50, 250));
  Classify();
}

// ---- the smallest cases of what the properties found ---------------------------------

Node SmallNode(const std::string& id, int gpus) {
  Node n;
  n.id = id;
  n.name = "host-" + id;
  n.gpu_model = "H100";
  n.gpus = gpus;
  n.cpus = 4;
  n.mem_mb = 64'000;
  n.price = T;
  n.site = "a";
  n.region = "eu";
  return n;
}

Job SmallJob(int64_t id, int gpus, int64_t limit_s) {
  Job j;
  j.id = id;
  j.user = j.payer = "alice";
  j.spec.job_name = "j";
  j.spec.gpus_per_node = gpus;
  j.spec.time_limit_s = limit_s;
  return j;
}

// scancel, then the node dies while the job is being killed: gmctld's NODE_FAIL
// path (Controller::RequeueJob -> Scheduler::Requeue) puts the job back in the
// queue and the next pass runs the cancelled job again.
TEST(core_property_findings, CancelledJobIsNotRequeuedWhenItsNodeIsLost) {
  Options o;
  o.heartbeat_timeout_ms = kHeartbeatTimeoutMs;
  Scheduler s(o);
  s.UpsertNode(SmallNode("n1", 1));
  s.UpsertNode(SmallNode("n2", 1));
  ASSERT_TRUE(s.Submit(SmallJob(1, 1, 600), 0).ok());
  auto kRich = [](const Job&, Micros) { return true; };
  ASSERT_EQ(s.Schedule(0, kRich).size(), 1u);
  const std::string first = s.FindJob(1)->alloc[0].node_id;
  const std::string other = first == "n1" ? "n2" : "n1";
  EXPECT_FALSE(s.Cancel(1, 1'000));  // running: COMPLETING until the node reports
  s.Heartbeat(other, 15'000);
  auto r = s.Tick(15'000);  // the job's node stayed silent
  ASSERT_EQ(r.jobs_on_lost, std::vector<int64_t>{1});
  s.Requeue(1, 15'000, "NodeFail", /*provider_fault=*/true);  // as Controller::RequeueJob does
  auto again = s.Schedule(15'000, kRich);
  EXPECT_TRUE(again.empty()) << "the cancelled job started again on " << s.FindJob(1)->alloc[0].node_id;
  EXPECT_STREQ(JobStateName(s.FindJob(1)->state), "CANCELLED");
}

// The same for a job that reached its time limit: it is not run a second time.
TEST(core_property_findings, TimedOutJobIsNotRequeuedWhenItsNodeIsLost) {
  Options o;
  o.heartbeat_timeout_ms = kHeartbeatTimeoutMs;
  Scheduler s(o);
  s.UpsertNode(SmallNode("n1", 1));
  s.UpsertNode(SmallNode("n2", 1));
  ASSERT_TRUE(s.Submit(SmallJob(1, 1, 60), 0).ok());
  auto kRich = [](const Job&, Micros) { return true; };
  ASSERT_EQ(s.Schedule(0, kRich).size(), 1u);
  const std::string first = s.FindJob(1)->alloc[0].node_id;
  const std::string other = first == "n1" ? "n2" : "n1";
  s.Heartbeat(first, 60'000);
  s.Heartbeat(other, 60'000);
  ASSERT_EQ(s.Tick(60'000).jobs_hit_limit, std::vector<int64_t>{1});  // COMPLETING, to TIMEOUT
  s.Heartbeat(other, 75'000);
  auto r = s.Tick(75'000);
  ASSERT_EQ(r.jobs_on_lost, std::vector<int64_t>{1});
  s.Requeue(1, 75'000, "NodeFail", /*provider_fault=*/true);
  EXPECT_TRUE(s.Schedule(75'000, kRich).empty()) << "the timed-out job started again";
  EXPECT_STREQ(JobStateName(s.FindJob(1)->state), "TIMEOUT");
}

// A node re-registers (gmd restarted within the heartbeat timeout) with fewer
// GPUs than its running jobs hold: Scheduler::UpsertNode keeps the usage and
// truncates gpu_busy, so the node is over-allocated and a job holds GPU
// indices the node no longer has.
TEST(core_property_findings, ReregistrationWithFewerGpusDoesNotOverAllocate) {
  Scheduler s(Options{});
  s.UpsertNode(SmallNode("n1", 4));
  ASSERT_TRUE(s.Submit(SmallJob(1, 4, 600), 0).ok());
  ASSERT_EQ(s.Schedule(0, [](const Job&, Micros) { return true; }).size(), 1u);
  s.UpsertNode(SmallNode("n1", 2));  // one re-registration later, two cards are gone
  const Node& n = *s.FindNode("n1");
  const Job& j = *s.FindJob(1);
  int held = 0;
  for (const auto& a : j.alloc)
    for (int g : a.gpu_indices) held += g < n.gpus ? 1 : 100;  // an index past the end counts heavily
  EXPECT_LE(held, n.gpus) << "job 1 (" << JobStateName(j.state) << ") holds " << j.alloc[0].gpu_indices.size()
                          << " GPU indices on a node that now has " << n.gpus;
}

// The reservation of a job that asks for memory, on a node whose running job
// is --exclusive: the backfill simulation (Scheduler::Reserve) once started
// from NodeIndex::FreeOf, which counts nothing free on a node with an
// exclusive job (memory included), and added back only what that job holds,
// so the node's memory never came back and the reservation landed later than
// it should, or nowhere. It must land when the exclusive job ends.
TEST(core_property_findings, ReservationSeesMemoryFreedByAnExclusiveJob) {
  Scheduler s(Options{});
  Node a = SmallNode("n1", 0), b = SmallNode("n2", 0);
  s.UpsertNode(a);
  s.UpsertNode(b);
  auto kRich = [](const Job&, Micros) { return true; };
  Job excl = SmallJob(1, 0, 100);
  excl.spec.exclusive = true;
  Job plain = SmallJob(2, 0, 600);
  ASSERT_TRUE(s.Submit(excl, 0).ok());
  ASSERT_TRUE(s.Submit(plain, 0).ok());
  ASSERT_EQ(s.Schedule(0, kRich).size(), 2u);  // one on each node
  Job gang = SmallJob(3, 0, 60);
  gang.spec.nodes_min = gang.spec.nodes_max = 2;
  gang.spec.mem_per_node_mb = 16'000;
  ASSERT_TRUE(s.Submit(gang, 1'000).ok());
  EXPECT_TRUE(s.Schedule(1'000, kRich).empty());
  // Job 1's node comes free at its limit (t = 100 s), memory included, and
  // job 2 leaves room beside it on the other node.
  EXPECT_EQ(s.FindJob(3)->reason, "Resources");
  EXPECT_EQ(s.FindJob(3)->expected_start_ms, 100'000);
}

// A job no node can ever satisfy stays pending with a reason, whatever else happens.
RC_GTEST_PROP(core_property, NeverFeasibleJobNeverStarts, ()) {
  World w(MakeOptions());
  int initial = In(1, 5);
  for (int i = 0; i < initial; ++i) AddNode(w);
  Job big;
  big.id = w.next_job++;
  big.user = big.payer = "alice";
  big.spec.job_name = "huge";
  big.spec.gpus_per_node = 9;  // no node has more than 8
  big.spec.time_limit_s = 60;
  RC_ASSERT(w.s->Submit(big, 0).ok());
  RC_ASSERT(!w.s->CheckFeasible(*w.s->FindJob(big.id)).ever);
  for (int step = 0; step < 40; ++step) {
    int kind = In(0, 5);
    if (kind == 0) AddNode(w);
    else if (kind == 1) Submit(w);
    else if (kind == 2) Advance(w);
    else if (kind == 3) FinishOne(w);
    Schedule(w);
    const Job& j = w.s->jobs().at(big.id);
    RC_ASSERT(j.state == JobState::kPending);
    RC_ASSERT(j.reason == "BadConstraints" || j.reason == "NoVerifiedNodes");
  }
}

}  // namespace
}  // namespace gm::sched
