// SQL of the accounting core's rows; see ledger_store.h.
#include "scheduler/ledger_store.h"

#include <algorithm>
#include <chrono>
#include <set>

namespace gm {

using nlohmann::json;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS acct_tx(id BIGINT PRIMARY KEY, kind TEXT NOT NULL, ref TEXT UNIQUE NOT NULL,
  memo TEXT NOT NULL, time_ms BIGINT NOT NULL, job_id BIGINT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS acct_tx_job ON acct_tx(job_id);
CREATE TABLE IF NOT EXISTS acct_entries(tx_id BIGINT NOT NULL, idx BIGINT NOT NULL, account TEXT NOT NULL,
  amount BIGINT NOT NULL, PRIMARY KEY(tx_id, idx));
CREATE INDEX IF NOT EXISTS acct_entries_account ON acct_entries(account, tx_id);
CREATE TABLE IF NOT EXISTS acct_balances(account TEXT PRIMARY KEY, balance BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS acct_epochs(number BIGINT PRIMARY KEY, first_tx_id BIGINT NOT NULL,
  last_tx_id BIGINT NOT NULL, merkle_root TEXT NOT NULL, prev_root TEXT NOT NULL, chain_root TEXT NOT NULL,
  signature TEXT NOT NULL, time_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS acct_escrows(job_id BIGINT PRIMARY KEY, released BIGINT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS acct_nodes(node_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS acct_events(node_id TEXT NOT NULL, time_ms BIGINT NOT NULL, kind TEXT NOT NULL,
  data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS acct_events_node ON acct_events(node_id, time_ms);
CREATE TABLE IF NOT EXISTS acct_rewards(epoch BIGINT PRIMARY KEY, time_ms BIGINT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS acct_usage(ref TEXT PRIMARY KEY, time_ms BIGINT NOT NULL, job_id BIGINT NOT NULL,
  node_id TEXT NOT NULL, payer TEXT NOT NULL, provider TEXT NOT NULL, gpu_model TEXT NOT NULL,
  gpu_ms BIGINT NOT NULL, charged BIGINT NOT NULL, provider_share BIGINT NOT NULL, fee BIGINT NOT NULL,
  burned BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS acct_usage_time ON acct_usage(time_ms);
CREATE TABLE IF NOT EXISTS acct_meta(key TEXT PRIMARY KEY, value BIGINT NOT NULL);
)sql";

// Rows per multi-row statement: well under SQLite's 32,766 parameters.
constexpr size_t kMaxParams = 4000;

template <typename T>
Result<T> ParseJson(const std::string& text, const std::string& what) {
  try {
    return json::parse(text).get<T>();
  } catch (const std::exception& e) {
    return Status::Corruption("stored " + what + " cannot be read: " + e.what());
  }
}

acct::Epoch EpochFromRow(const SqlRow& r) {
  acct::Epoch e;
  e.number = SqlInt(r[0]);
  e.first_tx_id = SqlInt(r[1]);
  e.last_tx_id = SqlInt(r[2]);
  e.merkle_root = SqlText(r[3]);
  e.prev_root = SqlText(r[4]);
  e.chain_root = SqlText(r[5]);
  e.signature = SqlText(r[6]);
  return e;
}

constexpr const char* kEpochColumns =
    "number, first_tx_id, last_tx_id, merkle_root, prev_root, chain_root, signature";

}  // namespace

int64_t JobOfTx(const acct::Transaction& tx) {
  for (const auto& e : tx.entries)
    if (acct::TypeOf(e.account) == acct::AccountType::kEscrow) {
      try {
        return std::stoll(e.account.substr(e.account.find(':') + 1));
      } catch (...) {
        return 0;
      }
    }
  return 0;
}

void AddToJobMoney(const acct::Transaction& tx, int64_t job_id, JobMoney& m) {
  const std::string escrow = acct::EscrowAccount(job_id);
  if (tx.kind == "usage") {
    for (const auto& e : tx.entries) {
      acct::AccountType t = acct::TypeOf(e.account);
      if (e.account == escrow) m.charged += -e.amount;
      else if (t == acct::AccountType::kProvider) m.providers[e.account.substr(e.account.find(':') + 1)] += e.amount;
      else if (t == acct::AccountType::kTreasury) m.fee += e.amount;
      else if (t == acct::AccountType::kBurn) {
        m.fee += e.amount;
        m.burned += e.amount;
      }
    }
  } else if (tx.kind == "release") {
    for (const auto& e : tx.entries)
      if (acct::TypeOf(e.account) == acct::AccountType::kUser && e.amount > 0) m.refunded += e.amount;
  }
}

Status LedgerStore::Migrate() { return db_.ExecScript(kSchema); }

Status LedgerStore::InsertRows(const std::string& head, int columns, const std::vector<SqlValue>& values,
                               const std::string& tail) {
  size_t rows_per = std::max<size_t>(1, kMaxParams / columns);
  std::string one = "(";
  for (int c = 0; c < columns; ++c) one += c ? ",?" : "?";
  one += ")";
  size_t total = values.size() / columns;
  for (size_t start = 0; start < total; start += rows_per) {
    size_t n = std::min(rows_per, total - start);
    std::string sql = head + " VALUES ";
    sql.reserve(sql.size() + n * (one.size() + 1) + tail.size());
    for (size_t i = 0; i < n; ++i) sql += (i ? "," : "") + one;
    sql += tail;
    std::vector<SqlValue> params(values.begin() + start * columns, values.begin() + (start + n) * columns);
    GM_RETURN_IF_ERROR(db_.Exec(sql, params));
  }
  return Status::OK();
}

Status LedgerStore::Save(const std::vector<const acct::Effects*>& batch, const acct::Accounting& acc,
                         int64_t now_ms, const std::vector<UsageRow>& usage) {
  std::vector<SqlValue> txs, entries, epochs, events, rewards;
  std::set<std::string> accounts, nodes;
  std::set<int64_t> jobs;
  bool genesis = false, rewarded = false;
  for (const acct::Effects* fx : batch) {
    for (const auto& t : fx->txs) {
      txs.insert(txs.end(), {t.id, t.tx.kind, t.tx.ref, t.tx.memo, now_ms, JobOfTx(t.tx), t.hash});
      int64_t idx = 0;
      for (const auto& e : t.tx.entries) {
        entries.insert(entries.end(), {t.id, idx++, e.account, e.amount});
        accounts.insert(e.account);
      }
      genesis = genesis || t.tx.kind == "genesis";
    }
    for (const auto& e : fx->epochs)
      epochs.insert(epochs.end(), {e.number, e.first_tx_id, e.last_tx_id, e.merkle_root, e.prev_root, e.chain_root,
                                   e.signature, now_ms});
    for (const auto& e : fx->events) events.insert(events.end(), {e.node_id, e.time_ms, e.kind, json(e).dump()});
    jobs.insert(fx->jobs.begin(), fx->jobs.end());
    nodes.insert(fx->nodes.begin(), fx->nodes.end());
    if (fx->rewards) {
      rewards.insert(rewards.end(), {fx->rewards->epoch, now_ms, json(*fx->rewards).dump()});
      rewarded = true;
    }
  }
  GM_RETURN_IF_ERROR(InsertRows("INSERT INTO acct_tx(id, kind, ref, memo, time_ms, job_id, hash)", 7, txs));
  GM_RETURN_IF_ERROR(InsertRows("INSERT INTO acct_entries(tx_id, idx, account, amount)", 4, entries));
  std::vector<SqlValue> balances;
  for (const auto& a : accounts) balances.insert(balances.end(), {a, acc.ledger().Balance(a)});
  GM_RETURN_IF_ERROR(InsertRows("INSERT INTO acct_balances(account, balance)", 2, balances,
                                " ON CONFLICT(account) DO UPDATE SET balance = excluded.balance"));
  GM_RETURN_IF_ERROR(InsertRows(std::string("INSERT INTO acct_epochs(") + kEpochColumns + ", time_ms)", 8, epochs));
  GM_RETURN_IF_ERROR(InsertRows("INSERT INTO acct_events(node_id, time_ms, kind, data)", 4, events));
  std::vector<SqlValue> escrows;
  for (int64_t id : jobs)
    if (const acct::EscrowState* s = acc.escrow().Find(id))
      escrows.insert(escrows.end(), {id, int64_t{s->released}, json(*s).dump()});
  GM_RETURN_IF_ERROR(InsertRows("INSERT INTO acct_escrows(job_id, released, data)", 3, escrows,
                                " ON CONFLICT(job_id) DO UPDATE SET released = excluded.released, data = excluded.data"));
  std::vector<SqlValue> node_rows;
  for (const auto& id : nodes)
    if (const acct::NodeAccount* n = acc.FindNode(id)) node_rows.insert(node_rows.end(), {id, json(*n).dump()});
  GM_RETURN_IF_ERROR(InsertRows("INSERT INTO acct_nodes(node_id, data)", 2, node_rows,
                                " ON CONFLICT(node_id) DO UPDATE SET data = excluded.data"));
  GM_RETURN_IF_ERROR(InsertRows("INSERT INTO acct_rewards(epoch, time_ms, data)", 3, rewards));
  std::vector<SqlValue> usage_rows;
  for (const auto& u : usage)
    usage_rows.insert(usage_rows.end(), {u.ref, u.time_ms, u.job_id, u.node_id, u.payer, u.provider, u.gpu_model,
                                         u.gpu_ms, u.charged, u.provider_share, u.fee, u.burned});
  GM_RETURN_IF_ERROR(InsertRows("INSERT INTO acct_usage(ref, time_ms, job_id, node_id, payer, provider, gpu_model, "
                                "gpu_ms, charged, provider_share, fee, burned)",
                                12, usage_rows));
  if (genesis) GM_RETURN_IF_ERROR(SetMeta("genesis_done", 1));
  if (rewarded) GM_RETURN_IF_ERROR(SetMeta("reward_epoch", acc.reward_epoch()));
  return Status::OK();
}

Result<acct::AccountingSnapshot> LedgerStore::LoadSnapshot() {
  acct::AccountingSnapshot s;
  GM_ASSIGN_OR_RETURN(s.balances, LoadBalances());
  GM_ASSIGN_OR_RETURN(auto escrows, db_.Query("SELECT job_id, data FROM acct_escrows WHERE released = 0"));
  for (const auto& r : escrows) {
    GM_ASSIGN_OR_RETURN(auto e, ParseJson<acct::EscrowState>(SqlText(r[1]), "escrow of job " + std::to_string(SqlInt(r[0]))));
    s.escrows.push_back(std::move(e));
  }
  GM_ASSIGN_OR_RETURN(auto nodes, db_.Query("SELECT node_id, data FROM acct_nodes"));
  for (const auto& r : nodes) {
    GM_ASSIGN_OR_RETURN(auto n, ParseJson<acct::NodeAccount>(SqlText(r[1]), "account of node " + SqlText(r[0])));
    s.nodes.push_back(std::move(n));
  }
  GM_ASSIGN_OR_RETURN(auto last, db_.Query(std::string("SELECT ") + kEpochColumns +
                                           " FROM acct_epochs ORDER BY number DESC LIMIT 1"));
  int64_t first_open = 1;
  if (!last.empty()) {
    s.last_epoch = EpochFromRow(last[0]);
    first_open = s.last_epoch->last_tx_id + 1;
  }
  GM_ASSIGN_OR_RETURN(s.open_txs, LoadTxs(first_open, INT64_MAX));
  GM_ASSIGN_OR_RETURN(s.reward_epoch, Meta("reward_epoch", 0));
  GM_ASSIGN_OR_RETURN(int64_t genesis, Meta("genesis_done", 0));
  s.genesis_done = genesis != 0;
  return s;
}

Result<bool> LedgerStore::HasRef(const std::string& ref) {
  GM_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT id FROM acct_tx WHERE ref = ?", {ref}));
  return !rows.empty();
}

Result<std::vector<acct::LoggedTx>> LedgerStore::LoadTxs(int64_t first, int64_t last) {
  std::vector<acct::LoggedTx> out;
  GM_ASSIGN_OR_RETURN(auto txs, db_.Query("SELECT id, kind, ref, memo, hash FROM acct_tx WHERE id >= ? AND id <= ? "
                                          "ORDER BY id",
                                          {first, last}));
  out.reserve(txs.size());
  for (const auto& r : txs) {
    acct::LoggedTx t;
    t.id = SqlInt(r[0]);
    t.tx.kind = SqlText(r[1]);
    t.tx.ref = SqlText(r[2]);
    t.tx.memo = SqlText(r[3]);
    t.hash = SqlText(r[4]);
    out.push_back(std::move(t));
  }
  GM_ASSIGN_OR_RETURN(auto entries, db_.Query("SELECT tx_id, account, amount FROM acct_entries WHERE tx_id >= ? AND "
                                              "tx_id <= ? ORDER BY tx_id, idx",
                                              {first, last}));
  // Both lists are in id order: walk them together. An entry whose
  // transaction row is missing is kept on a stub, so verification names it.
  size_t i = 0;
  for (const auto& r : entries) {
    int64_t id = SqlInt(r[0]);
    while (i < out.size() && out[i].id < id) ++i;
    if (i == out.size() || out[i].id != id) {
      acct::LoggedTx stub;
      stub.id = id;
      stub.tx.kind = "?";
      stub.tx.ref = "(missing transaction row " + std::to_string(id) + ")";
      out.insert(out.begin() + static_cast<std::ptrdiff_t>(i), std::move(stub));
    }
    out[i].tx.entries.push_back({SqlText(r[1]), SqlInt(r[2])});
  }
  return out;
}

Result<std::vector<acct::Epoch>> LedgerStore::LoadEpochs() {
  GM_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kEpochColumns + " FROM acct_epochs ORDER BY number"));
  std::vector<acct::Epoch> out;
  for (const auto& r : rows) out.push_back(EpochFromRow(r));
  return out;
}

Result<std::optional<acct::Epoch>> LedgerStore::LoadEpoch(int64_t number) {
  GM_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kEpochColumns + " FROM acct_epochs WHERE number = ?",
                                           {number}));
  if (rows.empty()) return std::optional<acct::Epoch>();
  return std::optional<acct::Epoch>(EpochFromRow(rows[0]));
}

Result<std::optional<acct::Epoch>> LedgerStore::EpochOf(int64_t tx_id) {
  GM_ASSIGN_OR_RETURN(auto rows, db_.Query(std::string("SELECT ") + kEpochColumns +
                                               " FROM acct_epochs WHERE first_tx_id <= ? AND last_tx_id >= ?",
                                           {tx_id, tx_id}));
  if (rows.empty()) return std::optional<acct::Epoch>();
  return std::optional<acct::Epoch>(EpochFromRow(rows[0]));
}

Result<std::map<std::string, Micros>> LedgerStore::LoadBalances() {
  GM_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT account, balance FROM acct_balances"));
  std::map<std::string, Micros> out;
  for (const auto& r : rows) out[SqlText(r[0])] = SqlInt(r[1]);
  return out;
}

Result<acct::VerifyReport> LedgerStore::Verify(const acct::EpochVerifier& verify, size_t max_problems,
                                               double* read_s) {
  auto t0 = std::chrono::steady_clock::now();
  GM_ASSIGN_OR_RETURN(auto txs, LoadTxs(1, INT64_MAX));
  GM_ASSIGN_OR_RETURN(auto epochs, LoadEpochs());
  GM_ASSIGN_OR_RETURN(auto balances, LoadBalances());
  // Accounts the stored balances name at zero are the same as absent ones.
  std::erase_if(balances, [](const auto& kv) { return kv.second == 0; });
  if (read_s) *read_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  acct::VerifyOptions o;
  o.verify = verify;
  o.stored_balances = &balances;
  o.max_problems = max_problems;
  return acct::VerifyChain(txs, epochs, o);
}

Result<std::vector<LedgerLine>> LedgerStore::History(const std::string& account, int limit) {
  GM_ASSIGN_OR_RETURN(auto rows,
                      db_.Query("SELECT t.id, t.time_ms, t.kind, t.ref, t.memo, e.amount FROM acct_entries e "
                                "JOIN acct_tx t ON t.id = e.tx_id WHERE e.account = ? ORDER BY t.id DESC LIMIT ?",
                                {account, int64_t{limit}}));
  std::vector<LedgerLine> out;
  for (const auto& r : rows)
    out.push_back({SqlInt(r[0]), SqlInt(r[1]), SqlText(r[2]), SqlText(r[3]), SqlText(r[4]), SqlInt(r[5])});
  return out;
}

Result<std::vector<acct::LoggedTx>> LedgerStore::JobTxs(int64_t job_id) {
  GM_ASSIGN_OR_RETURN(auto ids, db_.Query("SELECT id FROM acct_tx WHERE job_id = ? ORDER BY id", {job_id}));
  std::vector<acct::LoggedTx> out;
  for (const auto& r : ids) {
    GM_ASSIGN_OR_RETURN(auto one, LoadTxs(SqlInt(r[0]), SqlInt(r[0])));
    out.insert(out.end(), one.begin(), one.end());
  }
  return out;
}

Result<std::map<int64_t, JobMoney>> LedgerStore::LoadJobMoney() {
  GM_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT t.job_id, t.kind, e.account, e.amount FROM acct_tx t JOIN "
                                           "acct_entries e ON e.tx_id = t.id WHERE t.job_id > 0 AND "
                                           "t.kind IN ('usage', 'release') ORDER BY t.id, e.idx"));
  std::map<int64_t, JobMoney> out;
  for (const auto& r : rows) {
    acct::Transaction one{SqlText(r[1]), "", "", {{SqlText(r[2]), SqlInt(r[3])}}};
    AddToJobMoney(one, SqlInt(r[0]), out[SqlInt(r[0])]);
  }
  return out;
}

Result<std::vector<UsageRow>> LedgerStore::LoadUsage(int64_t from_ms, int64_t to_ms) {
  GM_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT ref, time_ms, job_id, node_id, payer, provider, gpu_model, gpu_ms, "
                                           "charged, provider_share, fee, burned FROM acct_usage WHERE time_ms >= ? "
                                           "AND time_ms < ? ORDER BY time_ms",
                                           {from_ms, to_ms}));
  std::vector<UsageRow> out;
  for (const auto& r : rows)
    out.push_back({SqlText(r[0]), SqlInt(r[1]), SqlInt(r[2]), SqlText(r[3]), SqlText(r[4]), SqlText(r[5]),
                   SqlText(r[6]), SqlInt(r[7]), SqlInt(r[8]), SqlInt(r[9]), SqlInt(r[10]), SqlInt(r[11])});
  return out;
}

Result<std::vector<std::tuple<int64_t, std::string, std::string>>> LedgerStore::NodeEvents(const std::string& node_id,
                                                                                          int limit) {
  GM_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT time_ms, kind, data FROM acct_events WHERE node_id = ? "
                                           "ORDER BY time_ms DESC LIMIT ?",
                                           {node_id, int64_t{limit}}));
  std::vector<std::tuple<int64_t, std::string, std::string>> out;
  for (const auto& r : rows) out.emplace_back(SqlInt(r[0]), SqlText(r[1]), SqlText(r[2]));
  return out;
}

Result<int64_t> LedgerStore::Meta(const std::string& key, int64_t initial) {
  GM_ASSIGN_OR_RETURN(auto rows, db_.Query("SELECT value FROM acct_meta WHERE key = ?", {key}));
  return rows.empty() ? initial : SqlInt(rows[0][0]);
}

Status LedgerStore::SetMeta(const std::string& key, int64_t value) {
  return db_.Exec("INSERT INTO acct_meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                  {key, value});
}

}  // namespace gm
