// The pure scheduler core: node registry, job state machine, priority,
// matching, gang allocation and EASY backfill. No I/O, no threads, no clock:
// the controller (and gmsim) feed it events with the time and apply the
// decisions it returns, persisting them first.
//
// A scheduling pass (Schedule) orders pending jobs by multifactor priority
// and walks them once. A job that fits starts (if its payer can cover the
// escrow). The first job that does not fit gets a reservation: the earliest
// time its nodes free up, found by releasing running jobs in the order their
// time limits end. Every later job may start only if it ends before that
// reservation or stays off the reserved nodes (EASY backfill), so backfill
// never delays the highest-priority waiting job. A pending job always carries
// a reason, and a request no node could ever satisfy is told apart from one
// that must wait (the reason says which, and the controller says so at
// submission).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "scheduler/matcher.h"
#include "scheduler/model.h"
#include "scheduler/priority.h"

namespace gm::sched {

struct StartDecision {
  int64_t job_id;
  Micros hold;                   // the escrow to take before the job runs
};

// Whether the payer can cover `amount` now; the controller answers from its ledger.
using CanHoldFn = std::function<bool(const Job& job, Micros amount)>;

// What `scontrol update job` may change on a pending job.
struct JobUpdate {
  std::optional<int64_t> time_limit_s;
  std::optional<int> nice;
  std::optional<std::string> qos;
  std::optional<std::string> partition;
  std::optional<Micros> max_price;
};

struct Feasibility {
  bool ever = true;              // some set of nodes could run it, were they free
  std::string reason;            // when not: BadConstraints, PriceCapTooLow, TrustLevel, …
};

class Scheduler {
 public:
  // Checks options (policy name, partitions); Scheduler's constructor trusts them.
  static Status ValidateOptions(const Options& opts);
  explicit Scheduler(Options opts);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  const Options& options() const { return opts_; }

  // ---- nodes
  // Adds a node, or replaces the description of a known one (keeping its
  // usage). Registering marks the node up: a DOWN node is handed work again
  // only after it registered anew.
  void UpsertNode(const Node& node);
  const Node* FindNode(const std::string& id) const;
  // Changes a node through `fn` and re-indexes it.
  bool MutateNode(const std::string& id, const std::function<void(Node&)>& fn);
  const std::vector<Node>& nodes() const { return nodes_; }
  // Sites whose round-trip time is under options().max_group_rtt_ms form one
  // locality group (union of all such pairs).
  void SetSiteRtts(const std::vector<std::tuple<std::string, std::string, double>>& rtts);
  std::string GroupOf(const Node& n) const;

  // ---- partitions
  const std::vector<Partition>& partitions() const { return opts_.partitions; }
  const Partition* FindPartition(const std::string& name) const;  // "" = the default
  int PartitionNodeCount(const Partition& p) const;

  // ---- jobs
  // Validates and queues a job (state PENDING). The id is given by the caller.
  // Unknown partition: InvalidArgument. A request no node could satisfy is
  // accepted; Feasibility() says so.
  Status Submit(Job job, int64_t now_ms);
  // Restores a job loaded from the store, re-taking its allocation if it runs.
  void Restore(Job job);
  // Drops a pending job that was never persisted (a half-submitted array).
  void Forget(int64_t id);
  Job* FindJob(int64_t id);
  const std::map<int64_t, Job>& jobs() const { return jobs_; }
  Feasibility CheckFeasible(const Job& job);
  PriorityFactors Priority(const Job& job, int64_t now_ms) const;
  FairShare& fairshare() { return fairshare_; }

  // Places every pending job that may start now, in priority order with
  // EASY backfill. Chosen jobs become RUNNING with their allocation; the
  // caller takes each decision's hold.
  //
  // A full pass (the first, after any change of nodes or of a pending job's
  // terms, and every options().full_pass_interval_ms) recomputes priorities,
  // re-sorts the queue, searches every node for every job and makes the
  // reservation anew. Between full passes a pass is incremental and gives the
  // same decisions for less: a job that fitted nowhere last time can only
  // fit now on a node that gained room since (a job ended or was requeued),
  // so only new, released or re-eligible jobs are searched everywhere, and
  // the others only among those nodes (or not at all when they ask for more
  // than any of them has free). Priorities are those of the last full pass
  // (Slurm's PriorityCalcPeriod), new jobs placed among them by theirs.
  std::vector<StartDecision> Schedule(int64_t now_ms, const CanHoldFn& can_hold);

  // The backfill reservation of the first job that waits for resources, as
  // the last pass left it (what `squeue --start` shows), if there is one.
  struct ReservationView {
    int64_t job_id = 0;
    int64_t start_ms = 0;
    std::vector<std::string> node_ids;
  };
  std::optional<ReservationView> reservation() const;

  // A running job's batch step ended: the job reaches `final_state` (or the
  // state a cancel or timeout chose) and frees its nodes.
  void FinishJob(int64_t id, JobState final_state, int exit_code, int exit_signal, int64_t now_ms);
  // Pending: CANCELLED at once (returns true). Running: COMPLETING until its
  // node reports the end.
  bool Cancel(int64_t id, int64_t now_ms);
  // Puts a running job back in the queue, recording the attempt. With
  // provider_fault the lost time counts for nobody's fair-share. A job that
  // was already COMPLETING (cancelled, or past its limit) ends in the state it
  // was heading for instead.
  void Requeue(int64_t id, int64_t now_ms, const std::string& reason, bool provider_fault);
  Status Hold(int64_t id, bool by_admin);
  Status Release(int64_t id, bool by_admin);
  Status Update(int64_t id, const JobUpdate& u);

  void Heartbeat(const std::string& node_id, int64_t now_ms);

  struct TickResult {
    std::vector<std::string> nodes_lost;   // went DOWN now
    std::vector<int64_t> jobs_on_lost;     // running jobs on those nodes
    std::vector<int64_t> jobs_timed_out;   // past limit + grace, node never reported
    std::vector<int64_t> jobs_hit_limit;   // reached their time limit now (COMPLETING)
  };
  TickResult Tick(int64_t now_ms);

  // Resolved demand of a job on one node (exposed for tests and gmsim).
  Demand DemandFor(const Job& job) const;

 private:
  struct Reservation {
    int64_t job = 0;
    int64_t start_ms = 0;
    std::set<size_t> nodes;
  };
  // What a pass rarely reads of a pending job, kept off the queue's array.
  struct EntryData {
    Compiled demand;
    std::string infeasible_reason;
  };
  // A pending job in the queue, with what the walk needs in reach.
  struct Entry {
    double prio = 0;
    int64_t id = 0;
    Job* job = nullptr;
    std::unique_ptr<EntryData> data;
    const int* array_running = nullptr;  // its array's running tasks, when it has a % limit
    int array_max = 0;
    int gpus = 0, cpus = 0;
    int64_t mem_mb = 0;
    int64_t eligible_ms = 0;
    int64_t limit_ms = 0;
    uint64_t feasible_gen = 0;     // topology_gen_ when `feasible` was worked out
    // What the job was last told (reason, expected start), so that a pass
    // writes to the job only when that changes.
    const char* noted = nullptr;
    int64_t noted_start = -1;
    bool feasible = true;
    bool check = false;            // held, has dependencies or exceeds its partition: ask Eligibility
    bool retry = true;             // search every node, not only those that gained room
    bool dead = false;             // left the queue
  };
  std::optional<size_t> IndexOf(const std::string& node_id) const;
  bool DependencySatisfied(const Job& job, const char** reason) const;
  bool ArrayLimitReached(const Job& job) const;
  std::optional<Reservation> Reserve(const Job& job, const Compiled& c, int64_t now_ms) const;
  const char* Eligibility(const Job& job, int64_t now_ms) const;  // nullptr = may run now
  Micros HoldFor(const Job& job, const std::vector<size_t>& placement) const;
  void Allocate(Job& job, const std::vector<size_t>& nodes);
  void Release(Job& job, int64_t now_ms, bool count_usage);
  void TopologyChanged() {
    ++topology_gen_;
    full_needed_ = true;
  }
  Feasibility Feasible(const Demand& d);
  std::optional<Entry> NewEntry(int64_t id);  // for a pending job, else nothing
  void Refresh(Entry& e);                 // re-reads the job into its entry
  void RebuildQueue(int64_t now_ms);      // full pass: priorities, order, every job searched anew
  void MergeIncoming(int64_t now_ms);     // incremental: new jobs into their places
  void Compact();                         // fresh_ into queue_, dropping entries that left
  double FairShareOf(const std::string& payer, int64_t now_ms);
  void Unqueue(int64_t id);               // a pending job left the queue outside a pass
  static std::pair<int64_t, int64_t> EndKey(const Job& j) { return {j.start_ms + j.time_limit_s * 1000, j.id}; }

  Options opts_;
  std::vector<Node> nodes_;
  std::unordered_map<std::string, size_t> node_index_;
  std::unique_ptr<NodeIndex> index_;
  std::map<int64_t, Job> jobs_;
  std::unordered_map<int64_t, int> array_running_;  // array job id -> running tasks
  std::unordered_map<int64_t, std::pair<uint64_t, Feasibility>> feasible_cache_;  // CheckFeasible's answers
  uint64_t topology_gen_ = 1;
  FairShare fairshare_;
  std::map<std::string, std::string> site_group_;

  // The queue and what changed since the last pass (see Schedule).
  std::vector<Entry> queue_;              // pending jobs, highest priority first
  std::vector<Entry> fresh_;              // the same for jobs queued since queue_ was last merged
  std::vector<int64_t> incoming_;         // submitted, requeued or restored since the last pass
  std::set<int64_t> removed_;             // cancelled or forgotten while pending
  std::vector<size_t> changed_;           // nodes that gained room since the last pass
  bool full_needed_ = true;
  int64_t last_full_ms_ = 0;
  std::optional<Reservation> reservation_;
  int64_t blocker_ = 0;                   // the first job that waits for resources; reservation_ is its
  std::map<std::string, int> pending_accounts_;  // payer -> pending jobs, as of the last full pass
  std::map<std::string, double> fs_factor_;     // payer -> fair-share factor, as of the last full pass
  // Running jobs by the end of their time limit, and COMPLETING ones.
  std::set<std::pair<int64_t, int64_t>> running_ends_;
  std::set<int64_t> completing_;
};

}  // namespace gm::sched
