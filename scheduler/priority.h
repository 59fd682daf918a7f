// Slurm-style multifactor priority: age, fair-share, job size, QOS and nice.
//   priority = w_age·age + w_fs·fairshare + w_size·size + w_qos·qos − nice
// with each factor in [0, 1] (Slurm's priority/multifactor). Fair-share is
// Slurm's classic 2^(−U/S): U the account's share of all decayed usage, S its
// share of the federation (equal shares among accounts with usage or jobs).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "scheduler/model.h"

namespace gm::sched {

// Usage per account (GPU-seconds, or CPU-seconds for jobs without GPUs),
// decayed with a half-life. Time is passed in.
class FairShare {
 public:
  explicit FairShare(int64_t half_life_s) : half_life_s_(half_life_s) {}
  void AddUsage(const std::string& account, double units, int64_t now_ms);
  double Usage(const std::string& account, int64_t now_ms) const;  // decayed to now
  // 2^(−U/S) for `account` among `accounts` (those competing now).
  double Factor(const std::string& account, const std::map<std::string, int>& accounts,
                int64_t now_ms) const;
  // The factor of every account in `accounts` at once (one pass over the usage).
  std::map<std::string, double> Factors(const std::map<std::string, int>& accounts, int64_t now_ms) const;
  // For persistence: (usage, as of time).
  const std::map<std::string, std::pair<double, int64_t>>& raw() const { return usage_; }
  void Restore(const std::string& account, double usage, int64_t as_of_ms) {
    usage_[account] = {usage, as_of_ms};
  }

 private:
  int64_t half_life_s_;
  std::map<std::string, std::pair<double, int64_t>> usage_;
};

struct PriorityFactors {
  double age = 0, fairshare = 0, job_size = 0, qos = 0;
  int nice = 0;
  double total = 0;
};

PriorityFactors ComputePriority(const Job& job, const PriorityWeights& w,
                                const std::map<std::string, int>& qos_priority, double fairshare,
                                int total_nodes, int64_t now_ms);

}  // namespace gm::sched
