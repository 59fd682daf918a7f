// The scheduler core's data model: nodes, partitions, jobs and the options
// that weigh them. Plain data; the logic lives in matcher, priority and core.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/job_spec.h"

namespace gm::sched {

// Frozen: stored in the database by name.
enum class JobState { kPending, kRunning, kCompleting, kCompleted, kFailed, kCancelled, kTimeout,
                      kNodeFail, kRequeued /* only in an attempt's history */ };
const char* JobStateName(JobState s);  // "PENDING", as Slurm prints it
const char* JobStateCode(JobState s);  // "PD", Slurm's short code
std::optional<JobState> JobStateFromName(const std::string& name);
bool IsTerminal(JobState s);

// Frozen: stored by name. Where a node stands with verification and the operator.
enum class NodeTrust { kPending, kVerified, kRejected, kBanned };
const char* NodeTrustName(NodeTrust t);
std::optional<NodeTrust> NodeTrustFromName(const std::string& name);

struct Node {
  std::string id;            // assigned by the controller: "n1", "n2", …
  std::string name;          // host name shown to users; unique
  std::string provider;      // the provider account that owns it
  std::string gpu_model;
  int gpus = 0;
  int64_t gpu_mem_mb = 0;
  int cc_major = 0, cc_minor = 0;
  double tflops = 0;         // measured by verification; 0 = not measured
  bool declared = false;     // hardware declared by the provider, not discovered
  int cpus = 1;
  int64_t mem_mb = 0;
  std::set<std::string> features;  // for -C/--constraint
  Micros price = 0;          // asking price per GPU-hour
  Micros stake = 0;
  double reputation = 0.5;   // 0..1
  double uptime = 1.0;       // 0..1
  double latency_ms = 0;     // measured round trip to the controller
  int trust_level = 1;       // 1 Basic .. 4 Partner
  std::string region, site;
  NodeTrust verification = NodeTrust::kVerified;
  bool up = true;            // false once heartbeats stopped; true again only on re-registration
  bool drain = false;
  std::string drain_reason;
  int64_t last_heartbeat_ms = 0;
  // Usage, derived from the jobs placed on it.
  std::vector<bool> gpu_busy;
  int cpus_used = 0;
  int64_t mem_used_mb = 0;
  std::set<int64_t> jobs;
  int exclusive_jobs = 0;    // running --exclusive jobs (0 or 1): nothing may join them

  int GpusFree() const;
  bool Schedulable() const {
    return up && !drain && verification == NodeTrust::kVerified;
  }
  // Slurm's words for sinfo (idle, mix, alloc, drng, drain, down) and
  // GridMint's own for nodes not (or no longer) trusted: pend, rej, ban.
  std::string DisplayState() const;
};

// A named pool of nodes (Slurm's partition), selected by attributes.
struct Partition {
  std::string name;
  bool is_default = false;
  std::set<std::string> gpu_models;   // empty = any
  std::set<std::string> regions;      // empty = any
  std::set<std::string> features;     // nodes must have all of them
  std::set<std::string> node_names;   // empty = any
  int min_trust = 1;
  int64_t default_time_s = 3600;
  int64_t max_time_s = 7 * 86400;
  bool Contains(const Node& n) const;
};

struct NodeAlloc {
  std::string node_id;
  std::vector<int> gpu_indices;  // node-local GPU indices (CUDA_VISIBLE_DEVICES)
  int cpus = 0;
  int64_t mem_mb = 0;
  Micros price = 0;              // the node's ask when the job started
};

// One earlier run of a requeued job, as sacct lists it.
struct Attempt {
  int attempt = 0;
  int64_t start_ms = 0, end_ms = 0;
  std::vector<std::string> node_ids;
  JobState state = JobState::kNodeFail;
  std::string reason;            // "NodeFail: node3 stopped answering"
  bool provider_fault = true;
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
  int64_t array_job_id = 0;      // the first task's id for array tasks, else 0
  int array_task_id = -1;        // -1: not an array task
  bool held_by_admin = false;    // scontrol hold by an admin (JobHeldAdmin)
  std::vector<NodeAlloc> alloc;  // while RUNNING/COMPLETING; kept after the end for records
  std::vector<Attempt> history;  // attempts that ended in a requeue
  Micros held = 0;               // escrow of the current attempt
  int exit_code = 0, exit_signal = 0;
  bool cancel_requested = false;
  JobState completing_to = JobState::kCompleted;  // final state once COMPLETING ends
  // Derived by the scheduler; not stored.
  double priority = 0;
  int64_t expected_start_ms = 0;  // the backfill reservation's start, 0 = unknown
};

struct ScoreWeights {
  double price = 1.0;      // cheaper is better
  double reputation = 1.0;
  double latency = 0.25;   // closer is better
  double uptime = 0.5;
  double power = 0.25;     // more measured TFLOPS is better
  // Reference scales: a term is value / scale, clamped to [0, 1]. Fixed, so a
  // node's score does not change when another node joins.
  Micros price_scale = 10 * kMicrosPerToken;   // per GPU-hour
  double latency_scale_ms = 200;
  double tflops_scale = 1000;
};

struct PriorityWeights {       // Slurm's PriorityWeight* (multifactor plugin)
  double age = 1000;
  double fairshare = 10000;
  double job_size = 1000;
  double qos = 1000;
  int64_t max_age_s = 7 * 86400;        // PriorityMaxAge
  int64_t usage_half_life_s = 7 * 86400; // PriorityDecayHalfLife
};

struct Options {
  int64_t heartbeat_timeout_ms = 30'000;  // a node silent this long is DOWN
  int64_t kill_grace_s = 30;              // after the time limit, before giving up on a node
  std::vector<Partition> partitions;      // empty: one default partition "main" over all nodes
  ScoreWeights score;
  PriorityWeights priority;
  std::map<std::string, int> qos_priority = {{"normal", 0}, {"high", 100}, {"low", -100}};
  std::string policy = "score";           // matcher policy by name (see matcher.h)
  bool backfill = true;                   // EASY backfill
  // How often Schedule makes a full pass (priorities recomputed, every job
  // searched anew) when nothing else asks for one; see Scheduler::Schedule.
  int64_t full_pass_interval_ms = 10'000;
  double max_group_rtt_ms = 5;            // sites closer than this form one locality group
  uint64_t seed = 1;                      // for the "random" policy
};

}  // namespace gm::sched
