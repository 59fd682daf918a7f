// The pure scheduler core: node registry, job state machine and matching.
// No I/O, no threads, no clock: the controller feeds it events with the time
// and applies the decisions it returns (persisting them first).
//
// Algorithm (first cut): pending jobs are considered in priority order (FIFO
// by id here); for each, the feasible nodes are grouped by site (the locality
// group), and the job takes the N cheapest feasible nodes of the site whose N
// cheapest cost least in total, all at once or not at all. Ties break by
// node name, so the same inputs always give the same placement.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"

namespace gm::sched {

// Frozen: stored in the database by name.
enum class JobState { kPending, kRunning, kCompleting, kCompleted, kFailed, kCancelled, kTimeout,
                      kNodeFail };
const char* JobStateName(JobState s);  // "PENDING", as Slurm prints it
const char* JobStateCode(JobState s);  // "PD", Slurm's short code
std::optional<JobState> JobStateFromName(const std::string& name);
bool IsTerminal(JobState s);

struct Node {
  std::string id;            // assigned by the controller: "n1", "n2", …
  std::string name;          // host name shown to users; unique
  std::string provider;      // the provider account that owns it
  std::string gpu_model;
  int gpus = 0;
  int64_t gpu_mem_mb = 0;
  bool declared = false;     // hardware declared by the provider, not discovered
  int cpus = 1;
  int64_t mem_mb = 0;
  Micros price = 0;          // asking price per GPU-hour
  std::string region, site;
  bool up = true;            // false once heartbeats stopped
  bool drain = false;
  int64_t last_heartbeat_ms = 0;
  // Usage, derived from the jobs placed on it.
  std::vector<bool> gpu_busy;
  int cpus_used = 0;
  int64_t mem_used_mb = 0;
  std::set<int64_t> jobs;

  int GpusFree() const;
  // Slurm's words for sinfo: idle, mix, alloc, drng, drain, down.
  std::string DisplayState() const;
};

struct NodeAlloc {
  std::string node_id;
  std::vector<int> gpu_indices;  // node-local GPU indices (CUDA_VISIBLE_DEVICES)
  int cpus = 0;
  int64_t mem_mb = 0;
  Micros price = 0;              // the node's ask when the job started
};

struct Job {
  int64_t id = 0;
  JobSpec spec;
  std::string user;              // who submitted
  std::string payer;             // whose wallet pays (the user's account)
  JobState state = JobState::kPending;
  std::string reason;            // why pending, in Slurm's words ("Resources", …)
  int attempt = 0;               // number of requeues so far
  int64_t submit_ms = 0, eligible_ms = 0, start_ms = 0, end_ms = 0;
  int64_t time_limit_s = 0;      // resolved at submission
  std::vector<NodeAlloc> alloc;  // while RUNNING/COMPLETING; kept after the end for records
  Micros held = 0;               // escrow of the current attempt
  int exit_code = 0, exit_signal = 0;
  bool cancel_requested = false;
  JobState completing_to = JobState::kCompleted;  // final state once COMPLETING ends
};

struct Options {
  int64_t default_time_limit_s = 3600;       // when the job gives none
  int64_t max_time_limit_s = 7 * 86400;      // UNLIMITED resolves to this (escrow needs a bound)
  int64_t heartbeat_timeout_ms = 30'000;     // a node silent this long is DOWN
  int64_t kill_grace_s = 30;                 // after the time limit, before the controller gives up
};

struct StartDecision {
  int64_t job_id;
  Micros hold;                   // the escrow to take before the job runs
};

// Whether the payer can cover `amount` now; the controller answers from its ledger.
using CanHoldFn = std::function<bool(const Job& job, Micros amount)>;

class Scheduler {
 public:
  explicit Scheduler(Options opts) : opts_(opts) {}

  const Options& options() const { return opts_; }

  // Adds a node, or replaces the description of a known one (keeping its usage).
  void UpsertNode(const Node& node);
  Node* FindNode(const std::string& id);
  const std::map<std::string, Node>& nodes() const { return nodes_; }

  // Validates and queues a job (state PENDING). The id is given by the caller.
  // A request no node could satisfy is accepted but its reason says so.
  Status Submit(Job job, int64_t now_ms);
  // Restores a job loaded from the store, re-taking its allocation if it runs.
  void Restore(Job job);
  Job* FindJob(int64_t id);
  const std::map<int64_t, Job>& jobs() const { return jobs_; }

  // Places every pending job that fits now. Chosen jobs become RUNNING with
  // their allocation; the caller takes each decision's hold.
  std::vector<StartDecision> Schedule(int64_t now_ms, const CanHoldFn& can_hold);

  // A running job's batch step ended on its node: the job reaches its final
  // state (or the state that a cancel or timeout chose) and frees its nodes.
  void FinishJob(int64_t id, JobState final_state, int exit_code, int exit_signal, int64_t now_ms);
  // Ask to stop a job: a pending one is CANCELLED at once (returns true);
  // a running one becomes COMPLETING until its node reports the end.
  bool Cancel(int64_t id, int64_t now_ms);
  // Puts a running job back in the queue (node failure): its attempt counter grows.
  void Requeue(int64_t id, int64_t now_ms, const std::string& reason);

  void Heartbeat(const std::string& node_id, int64_t now_ms);

  struct TickResult {
    std::vector<std::string> nodes_lost;   // went DOWN now
    std::vector<int64_t> jobs_on_lost;     // running jobs on those nodes
    std::vector<int64_t> jobs_timed_out;   // past limit + grace, node never reported
    std::vector<int64_t> jobs_hit_limit;   // reached their time limit now (COMPLETING)
  };
  TickResult Tick(int64_t now_ms);

  // Whether some up node could ever run the job (ignoring current usage).
  bool EverFeasible(const Job& job) const;

 private:
  int CpusPerNode(const Job& job) const;
  int64_t MemPerNode(const Job& job) const;
  bool NodeFits(const Node& n, const Job& job, bool ignore_usage) const;
  std::optional<std::vector<std::string>> Place(const Job& job) const;
  bool DependencySatisfied(const Job& job, std::string* reason) const;
  void Allocate(Job& job, const std::vector<std::string>& node_ids);
  void Release(Job& job);

  Options opts_;
  std::map<std::string, Node> nodes_;
  std::map<int64_t, Job> jobs_;
};

}  // namespace gm::sched
