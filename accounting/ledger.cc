// Ledger checks, typed accounts, genesis, supply, holds and the first-cut
// settlement, in integer micro-tokens.
#include "accounting/ledger.h"

#include <algorithm>
#include <set>

#include "accounting/arith.h"

namespace gm::acct {

std::string UserWallet(const std::string& a) { return "user:" + a; }
std::string ProviderWallet(const std::string& a) { return "provider:" + a; }
std::string EscrowAccount(int64_t job_id) { return "escrow:" + std::to_string(job_id); }
std::string StakeAccount(const std::string& node) { return "stake:" + node; }
std::string UnbondingAccount(const std::string& node) { return "unbonding:" + node; }

namespace {

bool HasSuffixAfter(std::string_view account, std::string_view prefix) {
  return account.size() > prefix.size() && account.substr(0, prefix.size()) == prefix;
}

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

AccountType TypeOf(std::string_view a) {
  if (a == kMintAccount) return AccountType::kMint;
  if (a == kBurnAccount) return AccountType::kBurn;
  if (a == kTreasuryAccount) return AccountType::kTreasury;
  if (a == kRewardsPoolAccount) return AccountType::kRewardsPool;
  if (HasSuffixAfter(a, "user:")) return AccountType::kUser;
  if (HasSuffixAfter(a, "provider:")) return AccountType::kProvider;
  if (HasSuffixAfter(a, "stake:")) return AccountType::kStake;
  if (HasSuffixAfter(a, "unbonding:")) return AccountType::kUnbonding;
  if (HasSuffixAfter(a, "escrow:") && AllDigits(a.substr(7))) return AccountType::kEscrow;
  return AccountType::kInvalid;
}

Micros Transaction::Sum() const {
  Micros s = 0;
  for (const auto& e : entries) s += e.amount;
  return s;
}

Micros Ledger::Balance(const std::string& account) const {
  auto it = balances_.find(account);
  return it == balances_.end() ? 0 : it->second;
}

Micros Ledger::CreditLimit(const std::string& account) const {
  auto it = limits_.find(account);
  return it == limits_.end() ? 0 : it->second;
}

Status Ledger::SetCreditLimit(const std::string& account, Micros limit) {
  AccountType t = TypeOf(account);
  if (t != AccountType::kUser && t != AccountType::kProvider)
    return Status::InvalidArgument("a credit limit applies to user and provider wallets only, not '" +
                                   account + "'");
  if (limit < 0) return Status::InvalidArgument("credit limit of " + account + " must be ≥ 0");
  if (limit == 0) limits_.erase(account);
  else limits_[account] = limit;
  return Status::OK();
}

Status Ledger::Check(const Transaction& tx) const {
  if (tx.entries.empty()) return Status::InvalidArgument("transaction " + tx.ref + " has no entries");
  __int128 sum = 0;
  for (const auto& e : tx.entries) sum += e.amount;
  if (sum != 0)
    return Status::Internal("transaction " + tx.ref + " does not balance (sum " +
                            std::to_string(static_cast<int64_t>(sum)) + ")");
  std::set<std::string_view> seen;
  for (size_t i = 0; i < tx.entries.size(); ++i) {
    const Entry& e = tx.entries[i];
    if (e.amount == 0) return Status::InvalidArgument("transaction " + tx.ref + " has a zero entry");
    // Transactions are small: a linear scan beats building a set up to a dozen entries.
    bool dup = false;
    if (tx.entries.size() <= 12) {
      for (size_t j = 0; j < i && !dup; ++j) dup = tx.entries[j].account == e.account;
    } else {
      dup = !seen.insert(e.account).second;
    }
    if (dup) return Status::InvalidArgument("transaction " + tx.ref + " names " + e.account + " twice");
    AccountType t = TypeOf(e.account);
    if (t == AccountType::kInvalid)
      return Status::InvalidArgument("transaction " + tx.ref + " names an invalid account '" +
                                     e.account + "'");
    if (t == AccountType::kMint && e.amount > 0)
      return Status::InvalidArgument("transaction " + tx.ref + " credits mint: supply only grows through mint debits");
    if (t == AccountType::kBurn && e.amount < 0)
      return Status::InvalidArgument("transaction " + tx.ref + " debits burn: burned tokens never come back");
    Micros after;
    if (__builtin_add_overflow(Balance(e.account), e.amount, &after))
      return Status::InvalidArgument("transaction " + tx.ref + " overflows the balance of " + e.account);
    if (t == AccountType::kMint) continue;  // the issuer has no floor
    if (after < -CreditLimit(e.account))
      return Status::ResourceExhausted("insufficient funds in " + e.account + " (balance " +
                                       std::to_string(Balance(e.account)) + ", needs " +
                                       std::to_string(-e.amount) + ")");
  }
  return Status::OK();
}

Status Ledger::Apply(const Transaction& tx) {
  GM_RETURN_IF_ERROR(Check(tx));
  for (const auto& e : tx.entries) balances_[e.account] += e.amount;
  return Status::OK();
}

SupplyReport Ledger::Supply() const {
  SupplyReport r;
  Micros pool = 0;
  for (const auto& [account, balance] : balances_) {
    if (account == kMintAccount) r.minted = -balance;
    else if (account == kBurnAccount) r.burned = balance;
    else r.sum_of_balances += balance;
    if (account == kRewardsPoolAccount) pool = balance;
  }
  r.circulating = r.sum_of_balances - pool;
  return r;
}

Status Ledger::CheckInvariants() const {
  for (const auto& [account, balance] : balances_) {
    AccountType t = TypeOf(account);
    if (t == AccountType::kMint) {
      if (balance > 0) return Status::Internal("mint has a positive balance " + std::to_string(balance));
    } else if (balance < -CreditLimit(account)) {
      return Status::Internal("account " + account + " is below its credit limit: " +
                              std::to_string(balance));
    }
  }
  SupplyReport s = Supply();
  if (!s.balanced())
    return Status::Internal("supply does not add up: minted " + std::to_string(s.minted) +
                            " − burned " + std::to_string(s.burned) + " ≠ sum of balances " +
                            std::to_string(s.sum_of_balances));
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

Result<std::vector<Transaction>> Genesis(const GenesisConfig& c) {
  if (c.total_supply <= 0) return Status::InvalidArgument("genesis total supply must be positive");
  std::vector<std::pair<std::string, int>> shares = {{kRewardsPoolAccount, c.rewards_pool_bp}};
  for (const auto& a : c.allocations) shares.emplace_back(a.account, a.bp);
  int64_t total_bp = 0;
  std::set<std::string> named = {kTreasuryAccount};
  for (size_t i = 0; i < shares.size(); ++i) {
    const auto& [account, bp] = shares[i];
    if (bp < 0) return Status::InvalidArgument("genesis share of " + account + " is negative");
    total_bp += bp;
    AccountType t = TypeOf(account);
    bool allowed = t == AccountType::kUser || t == AccountType::kProvider ||
                   t == AccountType::kRewardsPool || t == AccountType::kTreasury;
    if (!allowed || (i > 0 && t == AccountType::kRewardsPool))
      return Status::InvalidArgument("genesis cannot allocate to '" + account +
                                     "': name a user or provider wallet");
    if (i > 0 && !named.insert(account).second)
      return Status::InvalidArgument("genesis names " + account + " twice" +
                                     (account == kTreasuryAccount ? " (the treasury gets the rest)" : ""));
  }
  if (total_bp > 10'000)
    return Status::InvalidArgument("genesis shares add up to " + std::to_string(total_bp) +
                                   " basis points, more than 100 %");
  std::vector<Transaction> out;
  Micros rest = c.total_supply;
  auto mint = [&](const std::string& account, Micros amount) {
    if (amount <= 0) return;
    Transaction tx = MintTx(account, amount, "genesis:" + account);
    tx.kind = "genesis";
    tx.memo = "genesis allocation to " + account;
    out.push_back(std::move(tx));
    rest -= amount;
  };
  for (const auto& [account, bp] : shares) mint(account, ApplyBp(c.total_supply, bp));
  mint(kTreasuryAccount, rest);
  return out;
}

Micros ChargeFor(Micros price_per_gpu_hour, int gpus, int64_t ms) {
  if (price_per_gpu_hour <= 0 || gpus <= 0 || ms <= 0) return 0;
  __int128 exact = static_cast<__int128>(price_per_gpu_hour) * gpus * ms;
  return static_cast<Micros>(exact / kMsPerHour);
}

Micros WorstCaseCost(const std::vector<std::pair<Micros, int>>& price_and_gpus,
                     int64_t time_limit_s) {
  Micros total = 0;
  for (const auto& [price, gpus] : price_and_gpus)
    total += ChargeFor(price, gpus, time_limit_s * 1000);
  return total;
}


}  // namespace gm::acct
