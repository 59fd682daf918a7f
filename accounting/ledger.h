// The pure accounting core, first cut: a double-entry ledger of integer
// micro-tokens, escrow holds and job settlement. No I/O: functions take
// balances and return transactions; the controller stores each transaction in
// the same database transaction as the job state change that caused it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"

namespace gm::acct {

// Ledger account names (frozen: stored in the database).
//   "mint"              the issuer; the only account whose balance goes negative:
//                       -balance(mint) is the total ever minted
//   "treasury"          the platform's fees
//   "user:NAME"         a payer's wallet
//   "provider:NAME"     a provider's wallet
//   "escrow:JOBID"      the hold of one job
std::string UserWallet(const std::string& account);
std::string ProviderWallet(const std::string& account);
std::string EscrowAccount(int64_t job_id);
inline constexpr const char* kMintAccount = "mint";
inline constexpr const char* kTreasuryAccount = "treasury";

struct Entry {
  std::string account;
  Micros amount;  // > 0 credits the account (its balance grows), < 0 debits it
};

struct Transaction {
  std::string kind;  // "mint", "hold", "settle", "release"
  std::string ref;   // unique; applying a second transaction with the same ref is refused
  std::string memo;
  std::vector<Entry> entries;
  Micros Sum() const;
};

// In-memory balances, checked on every change.
class Ledger {
 public:
  Micros Balance(const std::string& account) const;
  // OK if `tx` balances to zero, has no zero or duplicate-account entry, and
  // leaves no account but "mint" negative.
  Status Check(const Transaction& tx) const;
  Status Apply(const Transaction& tx);  // Check, then change the balances
  void SetBalance(const std::string& account, Micros balance) { balances_[account] = balance; }
  const std::map<std::string, Micros>& balances() const { return balances_; }

 private:
  std::map<std::string, Micros> balances_;
};

Transaction MintTx(const std::string& to_account, Micros amount, const std::string& ref);
Transaction HoldTx(int64_t job_id, int attempt, const std::string& payer_wallet, Micros amount);

// Charge for `gpus` GPUs for `ms` milliseconds at `price_per_gpu_hour`.
// Rounding rule: the exact product is computed in 128-bit integers and rounded
// down to a whole micro-token, so a user is never charged for a fraction.
Micros ChargeFor(Micros price_per_gpu_hour, int gpus, int64_t ms);

// Worst-case cost of an allocation: Σ price × GPUs, for the time limit.
Micros WorstCaseCost(const std::vector<std::pair<Micros, int>>& price_and_gpus,
                     int64_t time_limit_s);

struct FeePolicy {
  int provider_share_bp = 9200;  // basis points of the charge paid to the provider (92 %)
};

struct NodeUsage {
  std::string node_id;
  std::string provider_wallet;
  Micros price_per_gpu_hour = 0;
  int gpus = 0;
  int64_t ms = 0;                 // time the node served the job
  bool provider_fault = false;    // time lost to the provider is not charged
};

struct Settlement {
  Transaction tx;
  Micros charged = 0;             // what the payer pays
  Micros fee = 0;                 // to the treasury
  Micros refunded = 0;            // back to the payer
  std::vector<std::pair<std::string, Micros>> per_node;  // node id -> provider's share
};

// Closes a job attempt's hold of `held`: pays each node's provider its share
// of the node's charge, the fee to the treasury, and refunds the rest to the
// payer. The total charge never exceeds the hold: the excess (a job that ran
// past its limit within the kill grace) is not charged.
Settlement SettleJob(int64_t job_id, int attempt, const std::string& payer_wallet, Micros held,
                     const std::vector<NodeUsage>& usage, const FeePolicy& policy);

}  // namespace gm::acct
