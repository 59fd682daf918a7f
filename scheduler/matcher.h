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

// A Demand compiled against a NodeIndex's interned names (GPU models,
// regions, features, partitions), so that checking a node is a handful of
// integer comparisons. Valid while the index's generation() is unchanged
// (a new model, region or feature was seen: compile again).
struct Compiled {
  Demand d;
  uint64_t gen = 0;
  bool never = false;           // names something no node has (yet)
  int model = -1;               // interned GPU model, -1 = any
  int region = -1;              // interned region, -1 = any
  uint64_t features_all = 0;    // every one of these (a&b)
  uint64_t features_any = 0;    // at least one of these (a|b)
  bool slow_features = false;   // more features than the bit masks hold: check by name
  int partition = -1;           // partition bit, -1 = none asked or not in the index's list
};

class NodeIndex {
 public:
  // `partitions` (optional) lets the index precompute partition membership.
  NodeIndex(const std::vector<Node>* nodes, KeyFn key, const std::vector<Partition>* partitions = nullptr);

  // Re-reads node `i` (after any change of its attributes or usage).
  void Update(size_t i);
  size_t GroupOf(size_t i) const { return group_of_.at(i); }
  const std::string& GroupName(size_t g) const { return group_names_[g]; }
  // Sites that are one locality group (measured RTT under the bound).
  void SetSiteGroups(const std::map<std::string, std::string>& site_to_group);
  // Changes whenever an interned name is added: Compiled demands must be redone.
  uint64_t generation() const { return gen_; }

  // Static check, ignoring usage: the first reason node `n` can never run `d`.
  Misfit StaticMisfit(const Node& n, const Demand& d) const;
  bool Fits(const Node& n, const Free& f, const Demand& d) const;
  static Free FreeOf(const Node& n);

  Compiled Compile(const Demand& d) const;
  // The same checks on the compiled form and the index's copy of node i.
  bool StaticFits(size_t i, const Compiled& c) const;
  bool Fits(size_t i, const Free& f, const Compiled& c) const;
  Free FreeOf(size_t i) const;      // from the index's copy (what Update last saw)
  Free RawFree(size_t i) const;     // the same, ignoring that an exclusive job blocks the node
  bool Schedulable(size_t i) const { return recs_[i].schedulable; }

  // Best placement now, or nullopt. Nodes in `avoid` are not used.
  std::optional<std::vector<size_t>> Place(const Demand& d, const std::set<size_t>* avoid) const;
  std::optional<std::vector<size_t>> Place(const Compiled& c, const std::set<size_t>* avoid) const;
  // The best placement that uses at least one of `changed` — for a job that
  // fitted nowhere before and since then only the nodes in `changed` gained
  // room (a single-node job can only go to one of them; a gang only to their
  // groups).
  // `changed_groups` are the groups of `changed`, sorted and unique.
  std::optional<std::vector<size_t>> PlaceAmong(const Compiled& c, const std::set<size_t>* avoid,
                                                const std::vector<size_t>& changed,
                                                const std::vector<size_t>& changed_groups) const;
  // Best N nodes of group `g` under `free_of` (used by backfill simulation).
  std::optional<std::vector<size_t>> PlaceInGroup(size_t g, const Demand& d,
                                                  const std::function<Free(size_t)>& free_of) const;
  std::optional<std::vector<size_t>> PlaceInGroup(size_t g, const Compiled& c,
                                                  const std::function<Free(size_t)>& free_of) const;
  // Whether some group has at least c.d.nodes nodes that could ever run it.
  bool EverFits(const Compiled& c) const;
  const std::vector<size_t>& GroupMembers(size_t g) const { return group_members_[g]; }
  size_t group_count() const { return group_members_.size(); }
  double Key(size_t i) const { return keys_.at(i); }

 private:
  struct Slot {          // where node i sits in the buckets, if anywhere
    int model = -1;
    int free = -1;
    double key = 0;
  };
  // The index's compact copy of what placement reads of a node.
  struct Rec {
    uint64_t features = 0, partitions = 0;
    Micros price = 0;
    int64_t mem_mb = 0, mem_free = 0;
    int model = -1, region = -1;
    int gpus = 0, cpus = 0, gpus_free = 0, cpus_free = 0;
    int trust = 1;
    bool empty = true, exclusive = false, schedulable = false, slow_features = false;
  };
  int ModelId(const std::string& model);   // interned by lower-case name
  int Intern(std::map<std::string, int>& ids, const std::string& name);
  std::optional<std::vector<size_t>> PlaceOne(const Compiled& c, const std::set<size_t>* avoid) const;
  std::optional<std::vector<size_t>> PlaceGang(const Compiled& c, const std::set<size_t>* avoid,
                                               const std::vector<size_t>* groups) const;
  bool GroupMayFit(size_t g, const Compiled& c) const;
  template <typename FreeFn>
  std::optional<std::vector<size_t>> BestInGroup(size_t g, const Compiled& c, const FreeFn& free_of) const;
  // The same on the live counters, looking only at nodes with enough free GPUs.
  std::optional<std::vector<size_t>> BestInGroupNow(size_t g, const Compiled& c, const std::set<size_t>* avoid) const;
  void Count(size_t g, int model, int free, int delta);

  const std::vector<Node>* nodes_;
  KeyFn key_fn_;
  const std::vector<Partition>* partitions_;
  uint64_t gen_ = 1;
  std::map<std::string, int> model_ids_;   // lower-case name -> id
  std::map<std::string, int> region_ids_, feature_ids_;
  // buckets_[model][level]: (−key, node index), best first; a node's level
  // is its free GPUs, or 0 when it cannot take any job (no free CPU, or an
  // exclusive job on it).
  std::vector<std::vector<std::set<std::pair<double, size_t>>>> buckets_;
  std::vector<Slot> slots_;
  std::vector<Rec> recs_;
  std::vector<double> keys_;
  // Locality groups.
  std::map<std::string, std::string> site_group_;
  std::map<std::string, size_t> group_ids_;
  std::vector<std::string> group_names_;
  std::vector<std::vector<size_t>> group_members_;
  std::vector<size_t> group_of_;
  // cum_[group][model][f] = schedulable nodes of that model at level f or
  // above; cum_any_[group][f] the same over all models.
  std::vector<std::vector<std::vector<int>>> cum_;
  std::vector<std::vector<int>> cum_any_;
  // What a group's nodes could ever offer (only widened, rebuilt with the
  // groups): a demand outside it skips the group without looking at its nodes.
  struct GroupStatic {
    uint64_t regions = 0;        // bit per region id (all set past 64 regions)
    uint64_t features = 0;       // union of the nodes' feature bits
    int max_trust = 0;
    Micros min_price = INT64_MAX;
    int max_gpus = 0, max_cpus = 0;
    int64_t max_mem = 0;
  };
  std::vector<GroupStatic> group_static_;
  // The highest key of each group's nodes (only raised; rebuilt with the
  // groups): N times it bounds what an N-node gang there can score, so a
  // search in groups_by_key_ order stops once no group left can win.
  std::vector<double> group_max_key_;
  mutable std::vector<size_t> groups_by_key_;
  mutable bool groups_by_key_stale_ = true;
  // levels_[group][f]: the group's schedulable nodes at level f (unordered;
  // level_pos_[i] is node i's place in its list).
  std::vector<std::vector<std::vector<size_t>>> levels_;
  std::vector<size_t> level_pos_;
  // level_max_[group][f]: at least the highest key in levels_[group][f]
  // (raised on insert, made exact again whenever a search reads the level).
  mutable std::vector<std::vector<double>> level_max_;
};

}  // namespace gm::sched
