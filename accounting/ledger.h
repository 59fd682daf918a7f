// The pure accounting core's ledger: a double-entry book of integer
// micro-tokens over typed accounts, the genesis allocation, the supply report
// and the charge rule. Settlement is the escrow book's (escrow.h).
// No I/O: functions take balances and return transactions; the controller
// stores each transaction in the same database transaction as the state
// change that caused it.
//
// Invariants the Ledger enforces on every transaction it applies:
//   * the entries sum to zero (a transaction that does not is a broken
//     invariant: Status::Internal);
//   * supply changes only through "mint" (debited, never credited) and "burn"
//     (credited, never debited), so for any sequence of applied transactions
//         minted − burned == sum_of_balances  (every account but mint and burn);
//   * no account but "mint" goes below minus its credit limit (default 0).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/job_spec.h"
#include "common/status.h"

namespace gm::acct {

// Ledger account names (frozen: stored in the database).
//   "mint"              the issuer; the only account whose balance goes negative:
//                       -balance(mint) is the total ever minted
//   "burn"              the sink; balance(burn) is the total ever burned
//   "treasury"          the platform's share of the fees
//   "rewards_pool"      tokens set aside at genesis for provider rewards
//   "user:NAME"         a payer's wallet
//   "provider:NAME"     a provider's wallet
//   "escrow:JOBID"      the hold of one job
//   "stake:NODE"        a node's bonded stake
//   "unbonding:NODE"    a node's stake on its way out (unbonding period)
std::string UserWallet(const std::string& account);
std::string ProviderWallet(const std::string& account);
std::string EscrowAccount(int64_t job_id);
std::string StakeAccount(const std::string& node_id);
std::string UnbondingAccount(const std::string& node_id);
inline constexpr const char* kMintAccount = "mint";
inline constexpr const char* kTreasuryAccount = "treasury";
inline constexpr const char* kBurnAccount = "burn";
inline constexpr const char* kRewardsPoolAccount = "rewards_pool";

// What an account name denotes. kInvalid: not one of the forms above (an
// unknown prefix, or an empty or malformed suffix: "escrow:" wants digits).
enum class AccountType {
  kInvalid,
  kMint,
  kBurn,
  kTreasury,
  kRewardsPool,
  kUser,
  kProvider,
  kEscrow,
  kStake,
  kUnbonding,
};
AccountType TypeOf(std::string_view account);

struct Entry {
  std::string account;
  Micros amount;  // > 0 credits the account (its balance grows), < 0 debits it
};

struct Transaction {
  std::string kind;  // "mint", "genesis", "hold", "release", "settle", "usage", "reward", "stake", …
  std::string ref;   // unique; applying a second transaction with the same ref is refused by the store
  std::string memo;
  std::vector<Entry> entries;
  Micros Sum() const;
};

// What the ledger says about the token supply. Derived from balances only:
//   minted          = −balance(mint)
//   burned          = balance(burn)
//   sum_of_balances = Σ balance of every other account (wallets, escrow,
//                     stake, unbonding, treasury, rewards pool)
//   circulating     = sum_of_balances − balance(rewards_pool): tokens that
//                     are not waiting in the pool to be emitted
// Invariant: minted − burned == sum_of_balances (balanced() says it holds).
struct SupplyReport {
  Micros minted = 0;
  Micros burned = 0;
  Micros circulating = 0;
  Micros sum_of_balances = 0;
  bool balanced() const { return minted - burned == sum_of_balances; }
};

// In-memory balances, checked on every change.
class Ledger {
 public:
  Micros Balance(const std::string& account) const;
  // OK if `tx` has entries, no zero or duplicate-account entry, only valid
  // account names (InvalidArgument), debits "mint" and credits "burn" only
  // (InvalidArgument), balances to zero (Internal), and leaves no account but
  // "mint" below minus its credit limit (ResourceExhausted "insufficient
  // funds in ACCOUNT") nor overflows a balance (InvalidArgument).
  Status Check(const Transaction& tx) const;
  Status Apply(const Transaction& tx);  // Check, then change the balances
  // Sets a balance directly: for loading stored balances at start only.
  void SetBalance(const std::string& account, Micros balance) { balances_[account] = balance; }
  const std::map<std::string, Micros>& balances() const { return balances_; }

  // Lets `account` (a user or provider wallet) go down to −limit. limit ≥ 0;
  // InvalidArgument for other account types or a negative limit.
  Status SetCreditLimit(const std::string& account, Micros limit);
  Micros CreditLimit(const std::string& account) const;
  const std::map<std::string, Micros>& credit_limits() const { return limits_; }

  SupplyReport Supply() const;
  // Internal naming the account (or the supply figures) if a stored balance
  // breaks an invariant: minted − burned ≠ sum of balances, a balance below
  // minus its credit limit, mint above zero or burn below zero.
  Status CheckInvariants() const;

 private:
  std::map<std::string, Micros> balances_;
  std::map<std::string, Micros> limits_;
};

Transaction MintTx(const std::string& to_account, Micros amount, const std::string& ref);
Transaction HoldTx(int64_t job_id, int attempt, const std::string& payer_wallet, Micros amount);

// ---- genesis -------------------------------------------------------------------

struct GenesisAllocation {
  std::string account;  // a valid account: a wallet, "treasury" or "rewards_pool"
  int bp = 0;           // basis points of the total supply
};

struct GenesisConfig {
  // Tokens minted at genesis, in micro-tokens (default 1,000,000,000 tokens).
  Micros total_supply = 1'000'000'000LL * kMicrosPerToken;
  // Share of the total placed in "rewards_pool" (default 40 %).
  int rewards_pool_bp = 4000;
  // Named accounts and their shares; "treasury" receives whatever remains, so
  // the genesis transactions mint exactly total_supply. Default: none.
  std::vector<GenesisAllocation> allocations;
};

// The genesis transactions: one mint (kind "genesis", ref "genesis:ACCOUNT")
// per account with a non-zero share, rewards pool first, then the named
// accounts in order, then the treasury. Each share is floor(total × bp ÷
// 10,000); the treasury's is the rest. InvalidArgument if the total is not
// positive, a share is negative, the shares exceed 100 %, an account is
// invalid, named twice, or is mint, burn, an escrow, a stake or unbonding.
Result<std::vector<Transaction>> Genesis(const GenesisConfig& config);

// ---- charges ---------------------------------------------------------------------

// Charge for `gpus` GPUs for `ms` milliseconds at `price_per_gpu_hour`.
// Rounding rule: the exact product is computed in 128-bit integers and rounded
// down to a whole micro-token, so a user is never charged for a fraction.
Micros ChargeFor(Micros price_per_gpu_hour, int gpus, int64_t ms);

// Worst-case cost of an allocation: Σ price × GPUs, for the time limit.
Micros WorstCaseCost(const std::vector<std::pair<Micros, int>>& price_and_gpus,
                     int64_t time_limit_s);

struct FeePolicy {
  int provider_share_bp = 9200;  // basis points of the charge paid to the provider (92 %)
  // Basis points of the fee (the charge minus the provider's share) that are
  // burned; the rest goes to the treasury. Default a quarter: 2 % of the
  // charge at the default 92 % provider share. Applied by the per-record
  // settlement (EscrowBook::SettleUsage).
  int fee_burn_bp = 2500;
};


}  // namespace gm::acct
