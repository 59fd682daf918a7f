// Ledger checks, holds and settlement in integer micro-tokens.
#include "accounting/ledger.h"

#include <algorithm>
#include <set>

namespace gm::acct {

std::string UserWallet(const std::string& a) { return "user:" + a; }
std::string ProviderWallet(const std::string& a) { return "provider:" + a; }
std::string EscrowAccount(int64_t job_id) { return "escrow:" + std::to_string(job_id); }

Micros Transaction::Sum() const {
  Micros s = 0;
  for (const auto& e : entries) s += e.amount;
  return s;
}

Micros Ledger::Balance(const std::string& account) const {
  auto it = balances_.find(account);
  return it == balances_.end() ? 0 : it->second;
}

Status Ledger::Check(const Transaction& tx) const {
  if (tx.entries.empty()) return Status::InvalidArgument("transaction " + tx.ref + " has no entries");
  if (tx.Sum() != 0)
    return Status::Internal("transaction " + tx.ref + " does not balance (sum " +
                            std::to_string(tx.Sum()) + ")");
  std::set<std::string> seen;
  for (const auto& e : tx.entries) {
    if (e.amount == 0) return Status::InvalidArgument("transaction " + tx.ref + " has a zero entry");
    if (!seen.insert(e.account).second)
      return Status::InvalidArgument("transaction " + tx.ref + " names " + e.account + " twice");
    if (e.account != kMintAccount && Balance(e.account) + e.amount < 0)
      return Status::ResourceExhausted("insufficient funds in " + e.account);
  }
  return Status::OK();
}

Status Ledger::Apply(const Transaction& tx) {
  GM_RETURN_IF_ERROR(Check(tx));
  for (const auto& e : tx.entries) balances_[e.account] += e.amount;
  return Status::OK();
}

Transaction MintTx(const std::string& to, Micros amount, const std::string& ref) {
  return Transaction{"mint", ref, "mint to " + to, {{kMintAccount, -amount}, {to, amount}}};
}

Transaction HoldTx(int64_t job_id, int attempt, const std::string& payer, Micros amount) {
  std::string ref = "hold:" + std::to_string(job_id) + ":" + std::to_string(attempt);
  return Transaction{"hold", ref, "escrow for job " + std::to_string(job_id),
                     {{payer, -amount}, {EscrowAccount(job_id), amount}}};
}

Micros ChargeFor(Micros price_per_gpu_hour, int gpus, int64_t ms) {
  if (price_per_gpu_hour <= 0 || gpus <= 0 || ms <= 0) return 0;
  __int128 exact = static_cast<__int128>(price_per_gpu_hour) * gpus * ms;
  return static_cast<Micros>(exact / 3'600'000);
}

Micros WorstCaseCost(const std::vector<std::pair<Micros, int>>& price_and_gpus,
                     int64_t time_limit_s) {
  Micros total = 0;
  for (const auto& [price, gpus] : price_and_gpus)
    total += ChargeFor(price, gpus, time_limit_s * 1000);
  return total;
}

Settlement SettleJob(int64_t job_id, int attempt, const std::string& payer, Micros held,
                     const std::vector<NodeUsage>& usage, const FeePolicy& policy) {
  Settlement s;
  s.tx.kind = "settle";
  s.tx.ref = "settle:" + std::to_string(job_id) + ":" + std::to_string(attempt);
  s.tx.memo = "settlement of job " + std::to_string(job_id);
  Micros budget = held;
  std::map<std::string, Micros> to_provider;
  for (const auto& u : usage) {
    Micros charge = u.provider_fault ? 0 : ChargeFor(u.price_per_gpu_hour, u.gpus, u.ms);
    charge = std::min(charge, budget);
    budget -= charge;
    // The fee takes the rounding remainder, so provider + fee == charge exactly.
    Micros share = static_cast<Micros>(static_cast<__int128>(charge) * policy.provider_share_bp / 10'000);
    s.charged += charge;
    s.fee += charge - share;
    to_provider[u.provider_wallet] += share;
    s.per_node.emplace_back(u.node_id, share);
  }
  s.refunded = held - s.charged;
  if (held > 0) s.tx.entries.push_back({EscrowAccount(job_id), -held});
  for (const auto& [wallet, amount] : to_provider)
    if (amount > 0) s.tx.entries.push_back({wallet, amount});
  if (s.fee > 0) s.tx.entries.push_back({kTreasuryAccount, s.fee});
  if (s.refunded > 0) s.tx.entries.push_back({payer, s.refunded});
  return s;
}

}  // namespace gm::acct
