// Feasibility, scoring and indexed placement.
#include "scheduler/matcher.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <sstream>

namespace gm::sched {

namespace {

double Clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }

uint64_t Mix(uint64_t x) {  // splitmix64: a fixed, seeded order for "random"
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool IEquals(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return tolower(x) == tolower(y); });
}

}  // namespace

double MatchScore(const Node& n, const ScoreWeights& w) {
  double price = 1 - Clamp01(static_cast<double>(n.price) / static_cast<double>(w.price_scale));
  double lat = 1 - Clamp01(n.latency_ms / w.latency_scale_ms);
  double pow = Clamp01(n.tflops / w.tflops_scale);
  return w.price * price + w.reputation * Clamp01(n.reputation) + w.latency * lat +
         w.uptime * Clamp01(n.uptime) + w.power * pow;
}

Result<KeyFn> MakeKeyFn(const std::string& policy, const ScoreWeights& w, uint64_t seed) {
  if (policy == "score") return KeyFn([w](const Node& n, size_t) { return MatchScore(n, w); });
  if (policy == "cheapest")
    return KeyFn([](const Node& n, size_t) { return -static_cast<double>(n.price); });
  if (policy == "fifo-firstfit")
    return KeyFn([](const Node&, size_t i) { return -static_cast<double>(i); });
  if (policy == "random")
    return KeyFn([seed](const Node&, size_t i) {
      return static_cast<double>(Mix(seed ^ Mix(i)) >> 11);
    });
  return Status::InvalidArgument("unknown scheduling policy '" + policy +
                                 "' (score, cheapest, fifo-firstfit, random)");
}

bool FeaturesMatch(const std::set<std::string>& features, const std::string& constraint) {
  if (constraint.empty()) return true;
  bool any = constraint.find('|') != std::string::npos;
  std::stringstream ss(constraint);
  std::string f;
  bool all_ok = true, any_ok = false;
  while (std::getline(ss, f, any ? '|' : '&')) {
    f.erase(std::remove_if(f.begin(), f.end(), [](char c) { return c == '(' || c == ')' || c == ' '; }), f.end());
    bool has = features.count(f) > 0;
    all_ok &= has;
    any_ok |= has;
  }
  return any ? any_ok : all_ok;
}

NodeIndex::NodeIndex(const std::vector<Node>* nodes, KeyFn key, const std::vector<Partition>* partitions)
    : nodes_(nodes), key_fn_(std::move(key)), partitions_(partitions) {}

namespace {
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

int NodeIndex::Intern(std::map<std::string, int>& ids, const std::string& name) {
  auto it = ids.find(name);
  if (it != ids.end()) return it->second;
  int id = static_cast<int>(ids.size());
  ids.emplace(name, id);
  ++gen_;
  return id;
}

int NodeIndex::ModelId(const std::string& model) {
  std::string key = Lower(model);
  auto it = model_ids_.find(key);
  if (it != model_ids_.end()) return it->second;
  int id = Intern(model_ids_, key);
  buckets_.emplace_back();
  for (auto& per_model : cum_) per_model.emplace_back();
  return id;
}

void NodeIndex::SetSiteGroups(const std::map<std::string, std::string>& site_to_group) {
  site_group_ = site_to_group;
  // Regroup every node: drop the group tables and re-add.
  group_ids_.clear();
  group_names_.clear();
  group_members_.clear();
  cum_.clear();
  cum_any_.clear();
  group_static_.clear();
  levels_.clear();
  level_max_.clear();
  group_max_key_.clear();
  groups_by_key_stale_ = true;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    if (s.model >= 0) buckets_[s.model][s.free].erase({-s.key, i});
    slots_[i] = Slot{};
  }
  group_of_.assign(group_of_.size(), SIZE_MAX);
  for (size_t i = 0; i < nodes_->size(); ++i) Update(i);
}

void NodeIndex::Update(size_t i) {
  const Node& n = (*nodes_)[i];
  if (slots_.size() <= i) {
    slots_.resize(i + 1);
    keys_.resize(i + 1);
    recs_.resize(i + 1);
    level_pos_.resize(i + 1);
    group_of_.resize(i + 1, SIZE_MAX);
  }
  // Take the node out of the buckets and its group's histogram first.
  Slot& s = slots_[i];
  if (s.model >= 0) {
    buckets_[s.model][s.free].erase({-s.key, i});
    Count(group_of_[i], s.model, s.free, -1);
    auto& level = levels_[group_of_[i]][s.free];
    size_t at = level_pos_[i];
    level[at] = level.back();
    level_pos_[level[at]] = at;
    level.pop_back();
    s = Slot{};
  }
  auto sg = site_group_.find(n.site);
  const std::string& gname = sg == site_group_.end() ? n.site : sg->second;
  if (group_of_[i] == SIZE_MAX || group_names_[group_of_[i]] != gname) {
    if (group_of_[i] != SIZE_MAX) {  // the node moved to another site
      auto& members = group_members_[group_of_[i]];
      members.erase(std::find(members.begin(), members.end(), i));
    }
    auto it = group_ids_.find(gname);
    if (it == group_ids_.end()) {
      it = group_ids_.emplace(gname, group_names_.size()).first;
      group_names_.push_back(gname);
      group_members_.emplace_back();
      cum_.emplace_back(buckets_.size());
      cum_any_.emplace_back();
      group_static_.emplace_back();
      levels_.emplace_back();
      level_max_.emplace_back();
      group_max_key_.push_back(-std::numeric_limits<double>::infinity());
      groups_by_key_stale_ = true;
    }
    group_of_[i] = it->second;
    auto& members = group_members_[it->second];
    members.insert(std::upper_bound(members.begin(), members.end(), i), i);
  }
  size_t g = group_of_[i];

  Rec r;
  r.model = ModelId(n.gpu_model);
  r.region = Intern(region_ids_, n.region);
  for (const auto& f : n.features) {
    int id = Intern(feature_ids_, f);
    if (id < 64) r.features |= uint64_t{1} << id;
  }
  if (partitions_)
    for (size_t k = 0; k < partitions_->size() && k < 64; ++k)
      if ((*partitions_)[k].Contains(n)) r.partitions |= uint64_t{1} << k;
  r.price = n.price;
  r.mem_mb = n.mem_mb;
  r.gpus = n.gpus;
  r.cpus = n.cpus;
  r.trust = n.trust_level;
  r.gpus_free = n.GpusFree();
  r.cpus_free = n.cpus - n.cpus_used;
  r.mem_free = n.mem_mb - n.mem_used_mb;
  r.empty = n.jobs.empty();
  r.exclusive = n.exclusive_jobs > 0;
  r.schedulable = n.Schedulable();
  recs_[i] = r;
  keys_[i] = key_fn_(n, i);
  if (keys_[i] > group_max_key_[g]) {
    group_max_key_[g] = keys_[i];
    groups_by_key_stale_ = true;
  }
  GroupStatic& gs = group_static_[g];
  gs.regions |= r.region < 64 ? uint64_t{1} << r.region : ~uint64_t{0};
  gs.features |= r.features;
  gs.max_trust = std::max(gs.max_trust, r.trust);
  gs.min_price = std::min(gs.min_price, r.price);
  gs.max_gpus = std::max(gs.max_gpus, r.gpus);
  gs.max_cpus = std::max(gs.max_cpus, r.cpus);
  gs.max_mem = std::max(gs.max_mem, r.mem_mb);
  if (!r.schedulable) return;
  // The level a node is filed under: its free GPUs, or 0 when no job at all
  // can join it (every job needs a CPU; an exclusive job takes the node), so
  // that searches for GPUs do not walk past nodes that cannot take them.
  const int level = (r.exclusive || r.cpus_free <= 0) ? 0 : r.gpus_free;
  auto& per_free = buckets_[r.model];
  if (static_cast<int>(per_free.size()) <= level) per_free.resize(level + 1);
  per_free[level].insert({-keys_[i], i});
  Count(g, r.model, level, +1);
  auto& levels = levels_[g];
  auto& maxes = level_max_[g];
  if (static_cast<int>(levels.size()) <= level) {
    levels.resize(level + 1);
    maxes.resize(level + 1, -std::numeric_limits<double>::infinity());
  }
  level_pos_[i] = levels[level].size();
  levels[level].push_back(i);
  maxes[level] = std::max(maxes[level], keys_[i]);
  s = Slot{r.model, level, keys_[i]};
}

void NodeIndex::Count(size_t g, int model, int free, int delta) {
  auto& per_model = cum_[g][model];
  auto& any = cum_any_[g];
  if (static_cast<int>(per_model.size()) <= free) per_model.resize(free + 1, 0);
  if (static_cast<int>(any.size()) <= free) any.resize(free + 1, 0);
  for (int f = 0; f <= free; ++f) {
    per_model[f] += delta;
    any[f] += delta;
  }
}

Misfit NodeIndex::StaticMisfit(const Node& n, const Demand& d) const {
  if (d.partition && !d.partition->Contains(n)) return Misfit::kPartition;
  if (d.gpus_per_node > 0 && !d.gpu_type.empty() && !IEquals(n.gpu_model, d.gpu_type))
    return Misfit::kGpuType;
  if (!d.region.empty() && n.region != d.region) return Misfit::kRegion;
  if (d.max_price > 0 && d.gpus_per_node > 0 && n.price > d.max_price) return Misfit::kPrice;
  if (n.trust_level < d.min_trust) return Misfit::kTrust;
  if (!FeaturesMatch(n.features, d.constraint)) return Misfit::kFeatures;
  if (d.gpus_per_node > n.gpus || d.cpus_per_node > n.cpus || d.mem_per_node_mb > n.mem_mb)
    return Misfit::kSize;
  return Misfit::kNone;
}

Free NodeIndex::FreeOf(const Node& n) {
  if (n.exclusive_jobs > 0) return Free{0, 0, 0, false};
  return Free{n.GpusFree(), n.cpus - n.cpus_used, n.mem_mb - n.mem_used_mb, n.jobs.empty()};
}

bool NodeIndex::Fits(const Node& n, const Free& f, const Demand& d) const {
  if (!n.Schedulable() || StaticMisfit(n, d) != Misfit::kNone) return false;
  if (d.exclusive) return f.empty;
  return f.gpus >= d.gpus_per_node && f.cpus >= d.cpus_per_node && f.mem_mb >= d.mem_per_node_mb;
}

Compiled NodeIndex::Compile(const Demand& d) const {
  Compiled c;
  c.d = d;
  c.gen = gen_;
  if (d.gpus_per_node > 0 && !d.gpu_type.empty()) {
    auto it = model_ids_.find(Lower(d.gpu_type));
    if (it == model_ids_.end()) c.never = true;
    else c.model = it->second;
  }
  if (!d.region.empty()) {
    auto it = region_ids_.find(d.region);
    if (it == region_ids_.end()) c.never = true;
    else c.region = it->second;
  }
  if (!d.constraint.empty()) {
    // The same reading of the expression as FeaturesMatch.
    bool any = d.constraint.find('|') != std::string::npos;
    std::stringstream ss(d.constraint);
    std::string f;
    bool any_known = false;
    while (std::getline(ss, f, any ? '|' : '&')) {
      f.erase(std::remove_if(f.begin(), f.end(), [](char ch) { return ch == '(' || ch == ')' || ch == ' '; }),
              f.end());
      auto it = feature_ids_.find(f);
      if (it == feature_ids_.end()) {
        if (!any) c.never = true;  // every node lacks it
        continue;
      }
      any_known = true;
      if (it->second >= 64) c.slow_features = true;
      else (any ? c.features_any : c.features_all) |= uint64_t{1} << it->second;
    }
    if (any && !any_known) c.never = true;
  }
  if (d.partition) {
    c.partition = -2;  // checked by name
    if (partitions_) {
      auto k = d.partition - partitions_->data();
      if (k >= 0 && k < static_cast<std::ptrdiff_t>(partitions_->size()) && k < 64) c.partition = static_cast<int>(k);
    }
  }
  return c;
}

bool NodeIndex::StaticFits(size_t i, const Compiled& c) const {
  const Rec& r = recs_[i];
  const Demand& d = c.d;
  if (c.never) return false;
  if (c.partition >= 0) {
    if (!((r.partitions >> c.partition) & 1)) return false;
  } else if (c.partition == -2 && !d.partition->Contains((*nodes_)[i])) {
    return false;
  }
  if (c.model >= 0 && r.model != c.model) return false;
  if (c.region >= 0 && r.region != c.region) return false;
  if (d.max_price > 0 && d.gpus_per_node > 0 && r.price > d.max_price) return false;
  if (r.trust < d.min_trust) return false;
  if (c.slow_features) {
    if (!FeaturesMatch((*nodes_)[i].features, d.constraint)) return false;
  } else {
    if ((r.features & c.features_all) != c.features_all) return false;
    if (c.features_any && !(r.features & c.features_any)) return false;
  }
  return d.gpus_per_node <= r.gpus && d.cpus_per_node <= r.cpus && d.mem_per_node_mb <= r.mem_mb;
}

Free NodeIndex::RawFree(size_t i) const {
  const Rec& r = recs_[i];
  return Free{r.gpus_free, r.cpus_free, r.mem_free, r.empty};
}

Free NodeIndex::FreeOf(size_t i) const {
  if (recs_[i].exclusive) return Free{0, 0, 0, false};
  return RawFree(i);
}

bool NodeIndex::Fits(size_t i, const Free& f, const Compiled& c) const {
  if (!recs_[i].schedulable || !StaticFits(i, c)) return false;
  const Demand& d = c.d;
  if (d.exclusive) return f.empty;
  return f.gpus >= d.gpus_per_node && f.cpus >= d.cpus_per_node && f.mem_mb >= d.mem_per_node_mb;
}

std::optional<std::vector<size_t>> NodeIndex::Place(const Demand& d, const std::set<size_t>* avoid) const {
  return Place(Compile(d), avoid);
}

std::optional<std::vector<size_t>> NodeIndex::Place(const Compiled& c, const std::set<size_t>* avoid) const {
  if (c.never) return std::nullopt;
  return c.d.nodes <= 1 ? PlaceOne(c, avoid) : PlaceGang(c, avoid, nullptr);
}

std::optional<std::vector<size_t>> NodeIndex::PlaceOne(const Compiled& c, const std::set<size_t>* avoid) const {
  std::optional<std::pair<double, size_t>> best;  // (−key, index): smaller is better
  auto scan = [&](int m) {
    const auto& per_free = buckets_[m];
    for (size_t f = static_cast<size_t>(c.d.gpus_per_node); f < per_free.size(); ++f) {
      for (const auto& entry : per_free[f]) {
        if (best && entry >= *best) break;  // nothing better left in this bucket
        size_t i = entry.second;
        if (avoid && avoid->count(i)) continue;
        if (!Fits(i, FreeOf(i), c)) continue;
        best = entry;
        break;
      }
    }
  };
  if (c.model >= 0) scan(c.model);
  else
    for (int m = 0; m < static_cast<int>(buckets_.size()); ++m) scan(m);
  if (!best) return std::nullopt;
  return std::vector<size_t>{best->second};
}

bool NodeIndex::GroupMayFit(size_t g, const Compiled& c) const {
  const Demand& d = c.d;
  const GroupStatic& gs = group_static_[g];
  if (c.region >= 0 && !((gs.regions >> std::min(c.region, 63)) & 1)) return false;
  if (d.min_trust > gs.max_trust) return false;
  if ((gs.features & c.features_all) != c.features_all) return false;
  if (d.max_price > 0 && d.gpus_per_node > 0 && gs.min_price > d.max_price) return false;
  if (d.gpus_per_node > gs.max_gpus || d.cpus_per_node > gs.max_cpus || d.mem_per_node_mb > gs.max_mem) return false;
  size_t f = static_cast<size_t>(std::max(0, d.gpus_per_node));
  const std::vector<int>& counts = c.model >= 0 ? cum_[g][c.model] : cum_any_[g];
  return f < counts.size() && counts[f] >= c.d.nodes;
}

template <typename FreeFn>
std::optional<std::vector<size_t>> NodeIndex::BestInGroup(size_t g, const Compiled& c, const FreeFn& free_of) const {
  if (c.never) return std::nullopt;
  std::vector<std::pair<double, size_t>> fit;  // (−key, index)
  for (size_t i : group_members_[g])
    if (Fits(i, free_of(i), c)) fit.emplace_back(-keys_[i], i);
  if (static_cast<int>(fit.size()) < c.d.nodes) return std::nullopt;
  std::partial_sort(fit.begin(), fit.begin() + c.d.nodes, fit.end());  // key, then registration order
  std::vector<size_t> out;
  for (int k = 0; k < c.d.nodes; ++k) out.push_back(fit[k].second);
  return out;
}

std::optional<std::vector<size_t>> NodeIndex::PlaceInGroup(size_t g, const Demand& d,
                                                           const std::function<Free(size_t)>& free_of) const {
  return PlaceInGroup(g, Compile(d), free_of);
}

std::optional<std::vector<size_t>> NodeIndex::BestInGroupNow(size_t g, const Compiled& c,
                                                             const std::set<size_t>* avoid) const {
  if (c.never) return std::nullopt;
  const Demand& d = c.d;
  const size_t want = static_cast<size_t>(d.nodes);
  // The best `want` nodes seen so far, as a heap whose top is the worst of them.
  std::vector<std::pair<double, size_t>> top;  // (−key, index): smaller is better
  top.reserve(want + 1);
  const auto& levels = levels_[g];
  for (size_t f = static_cast<size_t>(std::max(0, d.gpus_per_node)); f < levels.size(); ++f) {
    double level_max = -std::numeric_limits<double>::infinity();
    for (size_t i : levels[f]) level_max = std::max(level_max, keys_[i]);
    level_max_[g][f] = level_max;
    for (size_t i : levels[f]) {
      const Rec& r = recs_[i];
      if (r.exclusive) continue;
      if (d.exclusive ? !r.empty : (r.cpus_free < d.cpus_per_node || r.mem_free < d.mem_per_node_mb)) continue;
      std::pair<double, size_t> entry{-keys_[i], i};
      if (top.size() == want && !(entry < top.front())) continue;
      if (!StaticFits(i, c) || (avoid && avoid->count(i))) continue;
      top.push_back(entry);
      std::push_heap(top.begin(), top.end());
      if (top.size() > want) {
        std::pop_heap(top.begin(), top.end());
        top.pop_back();
      }
    }
  }
  if (top.size() < want) return std::nullopt;
  std::sort(top.begin(), top.end());  // key, then registration order
  std::vector<size_t> out;
  for (const auto& [k, i] : top) out.push_back(i);
  return out;
}

std::optional<std::vector<size_t>> NodeIndex::PlaceInGroup(size_t g, const Compiled& c,
                                                           const std::function<Free(size_t)>& free_of) const {
  return BestInGroup(g, c, free_of);
}

std::optional<std::vector<size_t>> NodeIndex::PlaceGang(const Compiled& c, const std::set<size_t>* avoid,
                                                        const std::vector<size_t>* groups) const {
  std::optional<std::vector<size_t>> best;
  double best_sum = 0;
  size_t best_group = 0;
  const size_t from = static_cast<size_t>(std::max(0, c.d.gpus_per_node));
  auto consider = [&](size_t g) {
    if (!GroupMayFit(g, c)) return;
    if (best) {  // N times the best key with room enough bounds what this group can score
      double bound = -std::numeric_limits<double>::infinity();
      const auto& maxes = level_max_[g];
      for (size_t f = from; f < maxes.size(); ++f) bound = std::max(bound, maxes[f]);
      if (c.d.nodes * bound < best_sum) return;
    }
    auto pick = BestInGroupNow(g, c, avoid);
    if (!pick) return;
    double sum = 0;
    for (size_t i : *pick) sum += keys_[i];
    if (!best || sum > best_sum || (sum == best_sum && group_names_[g] < group_names_[best_group])) {
      best = std::move(pick);
      best_sum = sum;
      best_group = g;
    }
  };
  // Groups in order of their best key; stop when even N times it cannot beat
  // the best sum found (ties are still looked at: the name breaks them).
  auto search = [&](const std::vector<size_t>& order) {
    for (size_t g : order) {
      if (best && c.d.nodes * group_max_key_[g] < best_sum) break;
      consider(g);
    }
  };
  auto by_key = [&](size_t a, size_t b) {
    return group_max_key_[a] != group_max_key_[b] ? group_max_key_[a] > group_max_key_[b] : a < b;
  };
  if (groups) {
    if (groups->size() <= 8) {
      for (size_t g : *groups) consider(g);
    } else {
      std::vector<size_t> order = *groups;
      std::sort(order.begin(), order.end(), by_key);
      search(order);
    }
    return best;
  }
  if (groups_by_key_stale_) {
    groups_by_key_.resize(group_members_.size());
    std::iota(groups_by_key_.begin(), groups_by_key_.end(), size_t{0});
    std::sort(groups_by_key_.begin(), groups_by_key_.end(), by_key);
    groups_by_key_stale_ = false;
  }
  search(groups_by_key_);
  return best;
}

std::optional<std::vector<size_t>> NodeIndex::PlaceAmong(const Compiled& c, const std::set<size_t>* avoid,
                                                         const std::vector<size_t>& changed,
                                                         const std::vector<size_t>& changed_groups) const {
  if (c.never) return std::nullopt;
  if (c.d.nodes <= 1) {
    // Past a few dozen nodes the buckets find the best one faster than a scan.
    if (changed.size() > 32) return Place(c, avoid);
    std::optional<std::pair<double, size_t>> best;
    for (size_t i : changed) {
      if (avoid && avoid->count(i)) continue;
      if (!Fits(i, FreeOf(i), c)) continue;
      std::pair<double, size_t> entry{-keys_[i], i};
      if (!best || entry < *best) best = entry;
    }
    if (!best) return std::nullopt;
    return std::vector<size_t>{best->second};
  }
  if (changed.size() > 64) return PlaceGang(c, avoid, &changed_groups);
  // A group that could not hold the gang before can now only if one of its
  // nodes that gained room is one the gang fits on.
  std::vector<size_t> groups;
  for (size_t i : changed)
    if (!(avoid && avoid->count(i)) && Fits(i, FreeOf(i), c)) groups.push_back(group_of_[i]);
  if (groups.empty()) return std::nullopt;
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  return PlaceGang(c, avoid, &groups);
}

bool NodeIndex::EverFits(const Compiled& c) const {
  if (c.never) return false;
  if (c.d.nodes <= 1) {
    for (size_t i = 0; i < recs_.size(); ++i)
      if (recs_[i].schedulable && StaticFits(i, c)) return true;
    return false;
  }
  std::vector<int> per_group(group_members_.size(), 0);
  for (size_t i = 0; i < recs_.size(); ++i)
    if (recs_[i].schedulable && StaticFits(i, c) && ++per_group[group_of_[i]] >= c.d.nodes) return true;
  return false;
}

}  // namespace gm::sched
