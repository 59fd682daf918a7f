// The matcher: which nodes can run a job, and which of them it gets.
//
// Policy apart from state (after Ray): a policy only gives each node a static
// key (higher is better); the NodeIndex keeps schedulable nodes sorted by key
// in buckets of (GPU model, free GPUs), and per locality group a histogram of
// free GPUs, so a decision looks at a handful of buckets and groups instead of
// scanning 100,000 nodes.
//
// Placement: a 1-node job takes the feasible node with the highest key (the
// first feasible one of each bucket whose free count suffices, best of
// those). An N-node job takes N feasible nodes of one locality group, the
// group whose N best keys sum highest, all at once or not at all. Ties break
// by registration order of the nodes and by group name, so the same inputs
// always give the same answer.
//
// Policies by name (MakeKeyFn): "score" (GridMint's weighted sum of price,
// reputation, latency, uptime and measured power, each normalised by a fixed
// scale), "cheapest" (price only), "fifo-firstfit" (nodes in registration
// order), "random" (a seeded random order of the nodes).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "scheduler/model.h"

namespace gm::sched {

// What one node must offer a job, resolved from its JobSpec and partition.
struct Demand {
  int nodes = 1;
  int gpus_per_node = 0;
  int cpus_per_node = 1;
  int64_t mem_per_node_mb = 0;
  std::string gpu_type;             // "" = any model
  Micros max_price = 0;             // 0 = no cap
  int min_trust = 1;
  std::string region;               // "" = any
  std::string constraint;           // Slurm -C: features joined by & (all) or | (any)
  const Partition* partition = nullptr;
  bool exclusive = false;
};

// Which check a node failed, for the reason a pending job shows.
enum class Misfit { kNone, kPartition, kGpuType, kRegion, kPrice, kTrust, kFeatures, kSize, kUsage };

using KeyFn = std::function<double(const Node& n, size_t index)>;
Result<KeyFn> MakeKeyFn(const std::string& policy, const ScoreWeights& w, uint64_t seed);
// The weighted score of a node: Σ w·term with each term in [0, 1].
double MatchScore(const Node& n, const ScoreWeights& w);
// True if the node's features satisfy a Slurm constraint expression ("a&b", "a|b", "a").
bool FeaturesMatch(const std::set<std::string>& features, const std::string& constraint);

// Free resources of one node as a placement sees them (the real ones, or a
// backfill simulation's).
struct Free {
  int gpus = 0, cpus = 0;
  int64_t mem_mb = 0;
  bool empty = true;   // no job on it (for --exclusive)
};

class NodeIndex {
 public:
  NodeIndex(const std::vector<Node>* nodes, KeyFn key);

  // Re-reads node `i` (after any change of its attributes or usage).
  void Update(size_t i);
  size_t GroupOf(size_t i) const { return group_of_.at(i); }
  const std::string& GroupName(size_t g) const { return group_names_[g]; }
  // Sites that are one locality group (measured RTT under the bound).
  void SetSiteGroups(const std::map<std::string, std::string>& site_to_group);

  // Static check, ignoring usage: the first reason node `n` can never run `d`.
  Misfit StaticMisfit(const Node& n, const Demand& d) const;
  bool Fits(const Node& n, const Free& f, const Demand& d) const;
  static Free FreeOf(const Node& n);

  // Best placement now, or nullopt. Nodes in `avoid` are not used.
  std::optional<std::vector<size_t>> Place(const Demand& d, const std::set<size_t>* avoid) const;
  // Best N nodes of group `g` under `free_of` (used by backfill simulation).
  std::optional<std::vector<size_t>> PlaceInGroup(size_t g, const Demand& d,
                                                  const std::function<Free(size_t)>& free_of) const;
  const std::vector<size_t>& GroupMembers(size_t g) const { return group_members_[g]; }
  size_t group_count() const { return group_members_.size(); }
  double Key(size_t i) const { return keys_.at(i); }

 private:
  struct Slot {          // where node i sits in the buckets, if anywhere
    int model = -1;
    int free = -1;
    double key = 0;
  };
  int ModelId(const std::string& model);
  std::optional<std::vector<size_t>> PlaceOne(const Demand& d, const std::set<size_t>* avoid) const;
  std::optional<std::vector<size_t>> PlaceGang(const Demand& d, const std::set<size_t>* avoid) const;
  bool GroupMayFit(size_t g, const Demand& d) const;
  std::vector<int> ModelsFor(const Demand& d) const;

  const std::vector<Node>* nodes_;
  KeyFn key_fn_;
  std::map<std::string, int> model_ids_;
  std::vector<std::string> model_names_;
  // buckets_[model][free GPUs]: (−key, node index), best first.
  std::vector<std::vector<std::set<std::pair<double, size_t>>>> buckets_;
  std::vector<Slot> slots_;
  std::vector<double> keys_;
  // Locality groups.
  std::map<std::string, std::string> site_group_;
  std::map<std::string, size_t> group_ids_;
  std::vector<std::string> group_names_;
  std::vector<std::vector<size_t>> group_members_;
  std::vector<size_t> group_of_;
  // hist_[group][model][free] = number of schedulable nodes.
  std::vector<std::vector<std::vector<int>>> hist_;
};

}  // namespace gm::sched
