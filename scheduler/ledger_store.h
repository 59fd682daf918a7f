// LedgerStore: the accounting core's durable side, over one SqlDb (SQLite or
// PostgreSQL, the same SQL). It stores what each Accounting call returned (its
// Effects) — the numbered ledger transactions with their entries and leaf
// hashes, the balances they left, the audit epochs that closed, the node
// events, the escrow state of every job and the account of every node that
// changed — and rebuilds an AccountingSnapshot from those rows after a
// restart. The caller wraps Save in a SqlTransaction together with the other
// state the same event changed, so one event is one database transaction.
//
// Save takes a batch of Effects (one event, or many usage records at once):
// rows go out in multi-row INSERTs, and a job or node touched several times in
// the batch is written once, with its state after the last call.
//
// Tables (frozen names; created by Migrate):
//   acct_tx(id, kind, ref UNIQUE, memo, time_ms, job_id, hash)  id = audit id
//   acct_entries(tx_id, idx, account, amount)                   in stored order
//   acct_balances(account, balance)                             after the last tx
//   acct_epochs(number, first_tx_id, last_tx_id, merkle_root, prev_root,
//               chain_root, signature, time_ms)
//   acct_escrows(job_id, released, data)      EscrowState as JSON
//   acct_nodes(node_id, data)                 NodeAccount as JSON
//   acct_events(node_id, time_ms, kind, data) NodeEvent as JSON
//   acct_rewards(epoch, time_ms, data)        the RewardPreview that was paid
//   acct_usage(ref, …)                        one row per settled usage record,
//                                             for sacct and sreport
//   acct_meta(key, value)                     genesis_done, reward_epoch, …
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "accounting/accounting.h"
#include "common/sql.h"

namespace gm {

// One settled usage record as sreport sees it (written by the controller
// next to the transaction it explains).
struct UsageRow {
  std::string ref;          // the ledger transaction's ref ("usage:JOB:NODE:SEQ")
  int64_t time_ms = 0;
  int64_t job_id = 0;
  std::string node_id;
  std::string payer;        // account name (no "user:" prefix)
  std::string provider;     // account name (no "provider:" prefix)
  std::string gpu_model;
  int64_t gpu_ms = 0;       // billable GPU-ms
  Micros charged = 0, provider_share = 0, fee = 0, burned = 0;  // fee includes burned
};

// What one job paid, summed over its usage records and releases.
struct JobMoney {
  Micros charged = 0;       // taken from its escrow by usage records
  Micros fee = 0;           // treasury + burn
  Micros burned = 0;
  Micros refunded = 0;      // partial releases and the final release
  std::map<std::string, Micros> providers;  // provider account name → share
};

struct LedgerLine {         // one entry of an account's history
  int64_t tx_id = 0;
  int64_t time_ms = 0;
  std::string kind, ref, memo;
  Micros amount = 0;
};

class LedgerStore {
 public:
  explicit LedgerStore(SqlDb& db) : db_(db) {}

  Status Migrate();

  // Stores the batch (see the file comment). `acc` is read for the balances,
  // escrow states and node accounts after the batch. Call inside a
  // transaction. `usage` rows are inserted as given.
  Status Save(const std::vector<const acct::Effects*>& batch, const acct::Accounting& acc, int64_t now_ms,
              const std::vector<UsageRow>& usage = {});

  // Everything Accounting::Restore needs. Escrows of released jobs are left
  // out (the core forgot them).
  Result<acct::AccountingSnapshot> LoadSnapshot();

  // True when a transaction with this ref was stored (a repeated deposit).
  Result<bool> HasRef(const std::string& ref);

  // All transactions with id in [first, last], in id order, and all epochs.
  Result<std::vector<acct::LoggedTx>> LoadTxs(int64_t first, int64_t last);
  Result<std::vector<acct::Epoch>> LoadEpochs();
  Result<std::optional<acct::Epoch>> LoadEpoch(int64_t number);
  Result<std::map<std::string, Micros>> LoadBalances();
  // The epoch holding a transaction; nullopt when the transaction is not sealed yet.
  Result<std::optional<acct::Epoch>> EpochOf(int64_t tx_id);

  // Re-derives every balance and root from the stored rows and checks every
  // signature (VerifyChain). `read_s` receives the time spent reading.
  Result<acct::VerifyReport> Verify(const acct::EpochVerifier& verify, size_t max_problems, double* read_s);

  Result<std::vector<LedgerLine>> History(const std::string& account, int limit);
  // Transactions of one job (those naming escrow:JOB), in id order.
  Result<std::vector<acct::LoggedTx>> JobTxs(int64_t job_id);
  // What each job paid, for every job that has transactions.
  Result<std::map<int64_t, JobMoney>> LoadJobMoney();
  Result<std::vector<UsageRow>> LoadUsage(int64_t from_ms, int64_t to_ms);
  Result<std::vector<std::tuple<int64_t, std::string, std::string>>> NodeEvents(const std::string& node_id,
                                                                               int limit);

  Result<int64_t> Meta(const std::string& key, int64_t initial);
  Status SetMeta(const std::string& key, int64_t value);

 private:
  Status InsertRows(const std::string& head, int columns, const std::vector<SqlValue>& values,
                    const std::string& tail = "");
  SqlDb& db_;
};

// Adds what one stored transaction of a job says to `m` (usage: charge,
// shares, fee, burn; release: refund).
void AddToJobMoney(const acct::Transaction& tx, int64_t job_id, JobMoney& m);
// The job an escrow-touching transaction belongs to (0: none).
int64_t JobOfTx(const acct::Transaction& tx);

}  // namespace gm
