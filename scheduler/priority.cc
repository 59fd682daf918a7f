// Multifactor priority and decayed fair-share usage.
#include "scheduler/priority.h"

#include <algorithm>
#include <cmath>

namespace gm::sched {

namespace {
double Decay(double value, int64_t from_ms, int64_t to_ms, int64_t half_life_s) {
  if (half_life_s <= 0 || to_ms <= from_ms) return value;
  return value * std::exp2(-static_cast<double>(to_ms - from_ms) / (1000.0 * half_life_s));
}
}  // namespace

void FairShare::AddUsage(const std::string& account, double units, int64_t now_ms) {
  auto& [u, t] = usage_[account];
  u = Decay(u, t, now_ms, half_life_s_) + units;
  t = std::max(t, now_ms);
}

double FairShare::Usage(const std::string& account, int64_t now_ms) const {
  auto it = usage_.find(account);
  if (it == usage_.end()) return 0;
  return Decay(it->second.first, it->second.second, now_ms, half_life_s_);
}

double FairShare::Factor(const std::string& account, const std::map<std::string, int>& accounts,
                         int64_t now_ms) const {
  double total = 0;
  std::map<std::string, int> all = accounts;
  for (const auto& [a, v] : usage_) all.emplace(a, 0);
  for (const auto& [a, v] : all) total += Usage(a, now_ms);
  if (total <= 0 || all.empty()) return 1.0;
  double u = Usage(account, now_ms) / total;
  double s = 1.0 / static_cast<double>(all.size());
  return std::exp2(-u / s);
}

std::map<std::string, double> FairShare::Factors(const std::map<std::string, int>& accounts,
                                                int64_t now_ms) const {
  std::map<std::string, double> usage;
  for (const auto& [a, n] : accounts) usage[a] = 0;
  for (const auto& [a, v] : usage_) usage[a] = Usage(a, now_ms);
  double total = 0;
  for (const auto& [a, u] : usage) total += u;
  std::map<std::string, double> out;
  double s = 1.0 / static_cast<double>(usage.size());
  for (const auto& [a, n] : accounts) out[a] = total <= 0 ? 1.0 : std::exp2(-(usage[a] / total) / s);
  return out;
}

PriorityFactors ComputePriority(const Job& job, const PriorityWeights& w,
                                const std::map<std::string, int>& qos_priority, double fairshare,
                                int total_nodes, int64_t now_ms) {
  PriorityFactors f;
  int64_t age_s = std::max<int64_t>(0, (now_ms - job.eligible_ms) / 1000);
  f.age = w.max_age_s > 0 ? std::min(1.0, static_cast<double>(age_s) / static_cast<double>(w.max_age_s)) : 0;
  f.fairshare = fairshare;
  f.job_size = total_nodes > 0 ? std::min(1.0, static_cast<double>(job.spec.nodes_min) / total_nodes) : 0;
  int lo = 0, hi = 0;
  for (const auto& [name, p] : qos_priority) {
    lo = std::min(lo, p);
    hi = std::max(hi, p);
  }
  auto q = qos_priority.find(job.spec.qos.empty() ? "normal" : job.spec.qos);
  int qp = q == qos_priority.end() ? 0 : q->second;
  f.qos = hi > lo ? static_cast<double>(qp - lo) / (hi - lo) : 0;
  f.nice = job.spec.nice.value_or(0);
  f.total = w.age * f.age + w.fairshare * f.fairshare + w.job_size * f.job_size + w.qos * f.qos - f.nice;
  return f;
}

}  // namespace gm::sched
