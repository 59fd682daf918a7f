// SQL for gmctld's state. Jobs and nodes are stored as JSON documents next
// to the columns that queries need; the ledger lives in ledger_store.cc.
#include "scheduler/store.h"

#include "scheduler/state_json.h"

namespace gm {

namespace {
// Written once for both dialects.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts(name TEXT PRIMARY KEY, role TEXT NOT NULL, created_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS api_tokens(hash TEXT PRIMARY KEY, account TEXT NOT NULL REFERENCES accounts(name),
  kind TEXT NOT NULL, node_id TEXT, created_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes(id TEXT PRIMARY KEY, name TEXT UNIQUE NOT NULL, provider TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs(id BIGINT PRIMARY KEY, username TEXT NOT NULL, state TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS fairshare(account TEXT PRIMARY KEY, usage_milli BIGINT NOT NULL, as_of_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS node_keys(node_id TEXT PRIMARY KEY, pubkey TEXT NOT NULL, last_seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS node_events(node_id TEXT NOT NULL, time_ms BIGINT NOT NULL, kind TEXT NOT NULL,
  detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS node_events_node ON node_events(node_id, time_ms);
CREATE TABLE IF NOT EXISTS node_drains(node_id TEXT PRIMARY KEY, time_ms BIGINT NOT NULL, by_account TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS node_detaches(node_id TEXT PRIMARY KEY, requested_ms BIGINT NOT NULL,
  by_account TEXT NOT NULL, reason TEXT NOT NULL, done_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS outputs(job_id BIGINT NOT NULL, attempt BIGINT NOT NULL, name TEXT NOT NULL,
  size BIGINT NOT NULL, sha256 TEXT NOT NULL, path TEXT NOT NULL, PRIMARY KEY(job_id, attempt, name));
)sql";
}  // namespace

Status ControllerStore::Migrate() {
  // The first-cut ledger (tables ledger_tx, settlements) is not converted:
  // its transactions were never numbered nor sealed in epochs.
  auto old = db_->Query("SELECT COUNT(*) FROM ledger_tx");
  if (old.ok() && !old->empty() && SqlInt((*old)[0][0]) > 0)
    return Status::FailedPrecondition(
        "this database holds a ledger of the first-cut settlement (table ledger_tx); the accounting core "
        "cannot take it over: start from a new database (see INSTALL.md, Money)");
  GM_RETURN_IF_ERROR(db_->ExecScript(kSchema));
  return ledger_.Migrate();
}

Status ControllerStore::SaveJob(const sched::Job& job) {
  return db_->Exec(
      "INSERT INTO jobs(id, username, state, data) VALUES(?, ?, ?, ?) "
      "ON CONFLICT(id) DO UPDATE SET state = excluded.state, data = excluded.data",
      {job.id, job.user, std::string(sched::JobStateName(job.state)), nlohmann::json(job).dump()});
}

Status ControllerStore::SaveNode(const sched::Node& node) {
  return db_->Exec(
      "INSERT INTO nodes(id, name, provider, data) VALUES(?, ?, ?, ?) "
      "ON CONFLICT(id) DO UPDATE SET name = excluded.name, data = excluded.data",
      {node.id, node.name, node.provider, nlohmann::json(node).dump()});
}

Result<std::vector<sched::Job>> ControllerStore::LoadJobs() {
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT data FROM jobs ORDER BY id"));
  std::vector<sched::Job> out;
  for (const auto& r : rows) {
    try {
      out.push_back(nlohmann::json::parse(SqlText(r[0])).get<sched::Job>());
    } catch (const std::exception& e) {
      return Status::Corruption(std::string("a stored job cannot be read: ") + e.what());
    }
  }
  return out;
}

Result<std::vector<sched::Node>> ControllerStore::LoadNodes() {
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT data FROM nodes ORDER BY id"));
  std::vector<sched::Node> out;
  for (const auto& r : rows) {
    try {
      out.push_back(nlohmann::json::parse(SqlText(r[0])).get<sched::Node>());
    } catch (const std::exception& e) {
      return Status::Corruption(std::string("a stored node cannot be read: ") + e.what());
    }
  }
  return out;
}

Status ControllerStore::CreateAccount(const AccountRow& a, int64_t now_ms) {
  return db_->Exec("INSERT INTO accounts(name, role, created_ms) VALUES(?, ?, ?)",
                   {a.name, a.role, now_ms});
}

Result<std::vector<AccountRow>> ControllerStore::LoadAccounts() {
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT name, role FROM accounts"));
  std::vector<AccountRow> out;
  for (const auto& r : rows) out.push_back({SqlText(r[0]), SqlText(r[1])});
  return out;
}

Status ControllerStore::AddToken(const TokenRow& t, int64_t now_ms) {
  return db_->Exec(
      "INSERT INTO api_tokens(hash, account, kind, node_id, created_ms) VALUES(?, ?, ?, ?, ?)",
      {t.hash, t.account, t.kind, t.node_id, now_ms});
}

Result<std::vector<TokenRow>> ControllerStore::LoadTokens() {
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT hash, account, kind, node_id FROM api_tokens"));
  std::vector<TokenRow> out;
  for (const auto& r : rows) out.push_back({SqlText(r[0]), SqlText(r[1]), SqlText(r[2]), SqlText(r[3])});
  return out;
}

Status ControllerStore::AddOutput(const OutputRow& o) {
  return db_->Exec(
      "INSERT INTO outputs(job_id, attempt, name, size, sha256, path) VALUES(?, ?, ?, ?, ?, ?) "
      "ON CONFLICT(job_id, attempt, name) DO UPDATE SET size = excluded.size, "
      "sha256 = excluded.sha256, path = excluded.path",
      {o.job_id, int64_t{o.attempt}, o.name, o.size, o.sha256, o.path});
}

Result<std::vector<OutputRow>> ControllerStore::ListOutputs(int64_t job_id, int attempt) {
  GM_ASSIGN_OR_RETURN(auto rows,
                      db_->Query("SELECT name, size, sha256, path FROM outputs WHERE job_id = ? AND "
                                 "attempt = ? ORDER BY name",
                                 {job_id, int64_t{attempt}}));
  std::vector<OutputRow> out;
  for (const auto& r : rows)
    out.push_back({job_id, attempt, SqlText(r[0]), SqlInt(r[1]), SqlText(r[2]), SqlText(r[3])});
  return out;
}

Status ControllerStore::SaveFairShare(const std::string& account, double usage, int64_t as_of_ms) {
  // Stored in thousandths of a GPU-second: usage is a weight, never money.
  return db_->Exec(
      "INSERT INTO fairshare(account, usage_milli, as_of_ms) VALUES(?, ?, ?) ON CONFLICT(account) "
      "DO UPDATE SET usage_milli = excluded.usage_milli, as_of_ms = excluded.as_of_ms",
      {account, static_cast<int64_t>(usage * 1000), as_of_ms});
}

Result<std::vector<std::tuple<std::string, double, int64_t>>> ControllerStore::LoadFairShare() {
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT account, usage_milli, as_of_ms FROM fairshare"));
  std::vector<std::tuple<std::string, double, int64_t>> out;
  for (const auto& r : rows) out.emplace_back(SqlText(r[0]), SqlInt(r[1]) / 1000.0, SqlInt(r[2]));
  return out;
}

Status ControllerStore::SaveNodeKey(const std::string& node_id, const std::string& pubkey, int64_t last_seq) {
  return db_->Exec(
      "INSERT INTO node_keys(node_id, pubkey, last_seq) VALUES(?, ?, ?) ON CONFLICT(node_id) "
      "DO UPDATE SET pubkey = excluded.pubkey, last_seq = excluded.last_seq",
      {node_id, pubkey, last_seq});
}

Result<std::vector<std::tuple<std::string, std::string, int64_t>>> ControllerStore::LoadNodeKeys() {
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT node_id, pubkey, last_seq FROM node_keys"));
  std::vector<std::tuple<std::string, std::string, int64_t>> out;
  for (const auto& r : rows) out.emplace_back(SqlText(r[0]), SqlText(r[1]), SqlInt(r[2]));
  return out;
}

Status ControllerStore::AddNodeEvent(const std::string& node_id, int64_t time_ms, const std::string& kind,
                                     const std::string& detail_json) {
  return db_->Exec("INSERT INTO node_events(node_id, time_ms, kind, detail) VALUES(?, ?, ?, ?)",
                   {node_id, time_ms, kind, detail_json});
}

Result<std::vector<std::tuple<int64_t, std::string, std::string>>> ControllerStore::NodeEvents(
    const std::string& node_id, int limit) {
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT time_ms, kind, detail FROM node_events WHERE node_id = ? "
                                            "ORDER BY time_ms DESC LIMIT ?",
                                            {node_id, int64_t{limit}}));
  std::vector<std::tuple<int64_t, std::string, std::string>> out;
  for (const auto& r : rows) out.emplace_back(SqlInt(r[0]), SqlText(r[1]), SqlText(r[2]));
  return out;
}

Status ControllerStore::SaveNodeDrain(const NodeDrainRow& d) {
  return db_->Exec(
      "INSERT INTO node_drains(node_id, time_ms, by_account) VALUES(?, ?, ?) ON CONFLICT(node_id) "
      "DO UPDATE SET time_ms = excluded.time_ms, by_account = excluded.by_account",
      {d.node_id, d.time_ms, d.by});
}

Status ControllerStore::DeleteNodeDrain(const std::string& node_id) {
  return db_->Exec("DELETE FROM node_drains WHERE node_id = ?", {node_id});
}

Result<std::vector<NodeDrainRow>> ControllerStore::LoadNodeDrains() {
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT node_id, time_ms, by_account FROM node_drains"));
  std::vector<NodeDrainRow> out;
  for (const auto& r : rows) out.push_back({SqlText(r[0]), SqlInt(r[1]), SqlText(r[2])});
  return out;
}

Status ControllerStore::SaveNodeDetach(const NodeDetachRow& d) {
  return db_->Exec(
      "INSERT INTO node_detaches(node_id, requested_ms, by_account, reason, done_ms) VALUES(?, ?, ?, ?, ?) "
      "ON CONFLICT(node_id) DO UPDATE SET requested_ms = excluded.requested_ms, by_account = excluded.by_account, "
      "reason = excluded.reason, done_ms = excluded.done_ms",
      {d.node_id, d.requested_ms, d.by, d.reason, d.done_ms});
}

Status ControllerStore::DeleteNodeDetach(const std::string& node_id) {
  return db_->Exec("DELETE FROM node_detaches WHERE node_id = ?", {node_id});
}

Result<std::vector<NodeDetachRow>> ControllerStore::LoadNodeDetaches() {
  GM_ASSIGN_OR_RETURN(auto rows,
                      db_->Query("SELECT node_id, requested_ms, by_account, reason, done_ms FROM node_detaches"));
  std::vector<NodeDetachRow> out;
  for (const auto& r : rows) out.push_back({SqlText(r[0]), SqlInt(r[1]), SqlText(r[2]), SqlText(r[3]), SqlInt(r[4])});
  return out;
}

Status ControllerStore::DeleteNodeTokens(const std::string& node_id) {
  return db_->Exec("DELETE FROM api_tokens WHERE kind = 'node' AND node_id = ?", {node_id});
}

Result<int64_t> ControllerStore::GetCounter(const std::string& key, int64_t initial) {
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT value FROM meta WHERE key = ?", {key}));
  return rows.empty() ? initial : SqlInt(rows[0][0]);
}

Status ControllerStore::SetCounter(const std::string& key, int64_t value) {
  return db_->Exec(
      "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      {key, value});
}

}  // namespace gm
