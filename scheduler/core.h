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
  std::vector<StartDecision> Schedule(int64_t now_ms, const CanHoldFn& can_hold);

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
    int64_t start_ms = 0;
    std::set<size_t> nodes;
  };
  std::optional<size_t> IndexOf(const std::string& node_id) const;
  bool DependencySatisfied(const Job& job, std::string* reason) const;
  bool ArrayLimitReached(const Job& job) const;
  std::optional<Reservation> Reserve(const Job& job, const Demand& d, int64_t now_ms) const;
  std::string Eligibility(const Job& job, int64_t now_ms) const;  // "" = may run now
  Micros HoldFor(const Job& job, const std::vector<size_t>& placement) const;
  void Allocate(Job& job, const std::vector<size_t>& nodes);
  void Release(Job& job, int64_t now_ms, bool count_usage);
  void TopologyChanged() { ++topology_gen_; }

  Options opts_;
  std::vector<Node> nodes_;
  std::unordered_map<std::string, size_t> node_index_;
  std::unique_ptr<NodeIndex> index_;
  std::map<int64_t, Job> jobs_;
  std::map<int64_t, int> array_running_;  // array job id -> running tasks
  std::unordered_map<int64_t, std::pair<uint64_t, Feasibility>> feasible_cache_;
  uint64_t topology_gen_ = 1;
  FairShare fairshare_;
  std::map<std::string, std::string> site_group_;
};

}  // namespace gm::sched
