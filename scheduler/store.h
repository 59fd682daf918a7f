// ControllerStore: every piece of gmctld's durable state, over one SqlDb.
// Callers group calls in a SqlTransaction so that one event (a job start:
// its allocation and its escrow hold) is one database transaction.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/sql.h"
#include "scheduler/core.h"
#include "scheduler/ledger_store.h"

namespace gm {

struct AccountRow {
  std::string name;
  std::string role;  // "admin", "user", "provider"
};

struct TokenRow {
  std::string hash;     // SHA-256 of the token; the token itself is never stored
  std::string account;
  std::string kind;     // "api", "enroll", "node"
  std::string node_id;  // for kind "node"
};

struct OutputRow {
  int64_t job_id = 0;
  int attempt = 0;
  std::string name;     // the expanded -o/-e path, as the job named it
  int64_t size = 0;
  std::string sha256;
  std::string path;     // where the controller keeps the bytes
};

// An operator's or provider's drain of a node: who and when (the reason is
// on the node itself). Kept until the node is resumed.
struct NodeDrainRow {
  std::string node_id;
  int64_t time_ms = 0;
  std::string by;
};

// A detach asked for a node: pending (done_ms 0) while its jobs finish,
// then done, after which the node serves nothing and is no longer listed.
struct NodeDetachRow {
  std::string node_id;
  int64_t requested_ms = 0;
  std::string by;
  std::string reason;
  int64_t done_ms = 0;
};

class ControllerStore {
 public:
  explicit ControllerStore(std::unique_ptr<SqlDb> db) : db_(std::move(db)), ledger_(*db_) {}
  SqlDb& db() { return *db_; }
  // The accounting core's rows (ledger, epochs, escrows, node accounts).
  LedgerStore& ledger() { return ledger_; }

  // Creates the tables. FailedPrecondition when the database still holds a
  // ledger of the first-cut settlement (before the accounting core).
  Status Migrate();

  Status SaveJob(const sched::Job& job);
  Status SaveNode(const sched::Node& node);
  Result<std::vector<sched::Job>> LoadJobs();
  Result<std::vector<sched::Node>> LoadNodes();

  Status CreateAccount(const AccountRow& a, int64_t now_ms);
  Result<std::vector<AccountRow>> LoadAccounts();
  Status AddToken(const TokenRow& t, int64_t now_ms);
  Result<std::vector<TokenRow>> LoadTokens();

  Status AddOutput(const OutputRow& o);
  Result<std::vector<OutputRow>> ListOutputs(int64_t job_id, int attempt);

  // Fair-share usage per account: (account, decayed usage, as of ms).
  Status SaveFairShare(const std::string& account, double usage, int64_t as_of_ms);
  Result<std::vector<std::tuple<std::string, double, int64_t>>> LoadFairShare();

  // A node's public key and the last usage-record sequence accepted from it.
  Status SaveNodeKey(const std::string& node_id, const std::string& pubkey_hex, int64_t last_seq);
  Result<std::vector<std::tuple<std::string, std::string, int64_t>>> LoadNodeKeys();
  // What happened to a node and why (verification, rejected records, …).
  Status AddNodeEvent(const std::string& node_id, int64_t time_ms, const std::string& kind,
                      const std::string& detail_json);
  Result<std::vector<std::tuple<int64_t, std::string, std::string>>> NodeEvents(const std::string& node_id,
                                                                               int limit);

  Status SaveNodeDrain(const NodeDrainRow& d);
  Status DeleteNodeDrain(const std::string& node_id);
  Result<std::vector<NodeDrainRow>> LoadNodeDrains();
  Status SaveNodeDetach(const NodeDetachRow& d);
  Status DeleteNodeDetach(const std::string& node_id);
  Result<std::vector<NodeDetachRow>> LoadNodeDetaches();
  // Revokes every token a node was issued (its gmd can no longer call).
  Status DeleteNodeTokens(const std::string& node_id);

  Result<int64_t> GetCounter(const std::string& key, int64_t initial);
  Status SetCounter(const std::string& key, int64_t value);

 private:
  std::unique_ptr<SqlDb> db_;
  LedgerStore ledger_;
};

}  // namespace gm
