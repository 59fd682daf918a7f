// Feasibility, scoring and indexed placement.
#include "scheduler/matcher.h"

#include <algorithm>
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

NodeIndex::NodeIndex(const std::vector<Node>* nodes, KeyFn key) : nodes_(nodes), key_fn_(std::move(key)) {}

int NodeIndex::ModelId(const std::string& model) {
  auto it = model_ids_.find(model);
  if (it != model_ids_.end()) return it->second;
  int id = static_cast<int>(model_names_.size());
  model_ids_[model] = id;
  model_names_.push_back(model);
  buckets_.emplace_back();
  for (auto& per_model : hist_) per_model.emplace_back();
  return id;
}

void NodeIndex::SetSiteGroups(const std::map<std::string, std::string>& site_to_group) {
  site_group_ = site_to_group;
  // Regroup every node: drop the group tables and re-add.
  group_ids_.clear();
  group_names_.clear();
  group_members_.clear();
  hist_.clear();
  std::vector<Slot> old = slots_;
  for (size_t i = 0; i < old.size(); ++i) {
    if (old[i].model >= 0) buckets_[old[i].model][old[i].free].erase({-old[i].key, i});
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
    group_of_.resize(i + 1, SIZE_MAX);
  }
  if (group_of_[i] == SIZE_MAX) {
    auto sg = site_group_.find(n.site);
    std::string g = sg == site_group_.end() ? n.site : sg->second;
    auto it = group_ids_.find(g);
    if (it == group_ids_.end()) {
      it = group_ids_.emplace(g, group_names_.size()).first;
      group_names_.push_back(g);
      group_members_.emplace_back();
      hist_.emplace_back(model_names_.size());
    }
    group_of_[i] = it->second;
    group_members_[it->second].push_back(i);
  }
  size_t g = group_of_[i];
  Slot& s = slots_[i];
  if (s.model >= 0) {
    buckets_[s.model][s.free].erase({-s.key, i});
    --hist_[g][s.model][s.free];
    s = Slot{};
  }
  keys_[i] = key_fn_(n, i);
  if (!n.Schedulable()) return;
  int m = ModelId(n.gpu_model);
  int free = n.GpusFree();
  auto& per_free = buckets_[m];
  if (static_cast<int>(per_free.size()) <= free) per_free.resize(free + 1);
  per_free[free].insert({-keys_[i], i});
  auto& h = hist_[g][m];
  if (static_cast<int>(h.size()) <= free) h.resize(free + 1, 0);
  ++h[free];
  s = Slot{m, free, keys_[i]};
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

std::vector<int> NodeIndex::ModelsFor(const Demand& d) const {
  std::vector<int> out;
  for (const auto& [name, id] : model_ids_)
    if (d.gpus_per_node == 0 || d.gpu_type.empty() || IEquals(name, d.gpu_type)) out.push_back(id);
  return out;
}

std::optional<std::vector<size_t>> NodeIndex::Place(const Demand& d, const std::set<size_t>* avoid) const {
  return d.nodes <= 1 ? PlaceOne(d, avoid) : PlaceGang(d, avoid);
}

std::optional<std::vector<size_t>> NodeIndex::PlaceOne(const Demand& d, const std::set<size_t>* avoid) const {
  std::optional<std::pair<double, size_t>> best;  // (−key, index): smaller is better
  for (int m : ModelsFor(d)) {
    const auto& per_free = buckets_[m];
    for (size_t f = static_cast<size_t>(d.gpus_per_node); f < per_free.size(); ++f) {
      for (const auto& entry : per_free[f]) {
        if (best && entry >= *best) break;  // nothing better left in this bucket
        size_t i = entry.second;
        if (avoid && avoid->count(i)) continue;
        const Node& n = (*nodes_)[i];
        if (!Fits(n, FreeOf(n), d)) continue;
        best = entry;
        break;
      }
    }
  }
  if (!best) return std::nullopt;
  return std::vector<size_t>{best->second};
}

bool NodeIndex::GroupMayFit(size_t g, const Demand& d) const {
  int count = 0;
  for (int m : ModelsFor(d)) {
    const auto& h = hist_[g][m];
    for (size_t f = static_cast<size_t>(d.gpus_per_node); f < h.size(); ++f) count += h[f];
  }
  return count >= d.nodes;
}

std::optional<std::vector<size_t>> NodeIndex::PlaceInGroup(size_t g, const Demand& d,
                                                           const std::function<Free(size_t)>& free_of) const {
  std::vector<std::pair<double, size_t>> fit;  // (−key, index)
  for (size_t i : group_members_[g]) {
    const Node& n = (*nodes_)[i];
    if (Fits(n, free_of(i), d)) fit.emplace_back(-keys_[i], i);
  }
  if (static_cast<int>(fit.size()) < d.nodes) return std::nullopt;
  std::partial_sort(fit.begin(), fit.begin() + d.nodes, fit.end(), [&](const auto& a, const auto& b) {
    return a < b;  // key, then registration order
  });
  std::vector<size_t> out;
  for (int k = 0; k < d.nodes; ++k) out.push_back(fit[k].second);
  return out;
}

std::optional<std::vector<size_t>> NodeIndex::PlaceGang(const Demand& d, const std::set<size_t>* avoid) const {
  std::optional<std::vector<size_t>> best;
  double best_sum = 0;
  std::string best_name;
  auto free_of = [&](size_t i) {
    if (avoid && avoid->count(i)) return Free{-1, -1, -1, false};
    return FreeOf((*nodes_)[i]);
  };
  for (size_t g = 0; g < group_members_.size(); ++g) {
    if (!GroupMayFit(g, d)) continue;
    auto pick = PlaceInGroup(g, d, free_of);
    if (!pick) continue;
    double sum = 0;
    for (size_t i : *pick) sum += keys_[i];
    if (!best || sum > best_sum || (sum == best_sum && group_names_[g] < best_name)) {
      best = std::move(pick);
      best_sum = sum;
      best_name = group_names_[g];
    }
  }
  return best;
}

}  // namespace gm::sched
