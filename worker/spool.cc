// The durable usage spool over SQLite (WAL, synchronous=FULL: a committed
// append survives kill -9 and power loss).
#include "worker/spool.h"

#include <sys/stat.h>

namespace gm::worker {
namespace {

constexpr char kSchema[] =
    "CREATE TABLE IF NOT EXISTS spool_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO spool_meta (key, value) VALUES ('next_seq', 1);"
    "CREATE TABLE IF NOT EXISTS spool_records ("
    "  seq INTEGER PRIMARY KEY,"
    "  record TEXT NOT NULL,"     // canonical JSON, exactly as signed
    "  signature TEXT NOT NULL)";

}  // namespace

Result<std::unique_ptr<UsageSpool>> UsageSpool::Open(const std::string& path) {
  GM_ASSIGN_OR_RETURN(std::unique_ptr<SqlDb> db, OpenSqlite(path));
  Status s = db->ExecScript(kSchema);
  if (!s.ok()) return s.Annotate("creating the usage spool in " + path);
  auto meta = db->Query("SELECT value FROM spool_meta WHERE key = 'next_seq'");
  if (!meta.ok() || meta->size() != 1 || !std::holds_alternative<int64_t>((*meta)[0][0]))
    return Status::Corruption(path + " is not a usage spool (no next_seq)");
  // Usage records are not secrets, but nobody else has any business with
  // them, and a provider's neighbours on the machine could alter them.
  for (const char* suffix : {"", "-wal", "-shm"}) (void)chmod((path + suffix).c_str(), 0600);
  return std::unique_ptr<UsageSpool>(new UsageSpool(std::move(db)));
}

Result<int64_t> UsageSpool::ReadNextSeq() {
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT value FROM spool_meta WHERE key = 'next_seq'"));
  if (rows.size() != 1) return Status::Corruption("usage spool: next_seq is missing");
  return SqlInt(rows[0][0]);
}

Result<int64_t> UsageSpool::NextSeq() {
  std::lock_guard<std::mutex> lock(mu_);
  SqlTransaction tx(*db_);
  GM_RETURN_IF_ERROR(tx.begin_status());
  GM_ASSIGN_OR_RETURN(int64_t seq, ReadNextSeq());
  GM_RETURN_IF_ERROR(db_->Exec("UPDATE spool_meta SET value = ? WHERE key = 'next_seq'", {seq + 1}));
  GM_RETURN_IF_ERROR(tx.Commit());
  return seq;
}

Result<int64_t> UsageSpool::Append(const SignedRecord& record) {
  auto seq_it = record.record.find("seq");
  if (!record.record.is_object() || seq_it == record.record.end() || !seq_it->is_number_integer() ||
      (seq_it->is_number_unsigned() && seq_it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) ||
      seq_it->get<int64_t>() < 1)
    return Status::InvalidArgument("usage spool: the record has no integer seq >= 1");
  const int64_t seq = seq_it->get<int64_t>();
  GM_ASSIGN_OR_RETURN(std::string text, CanonicalJson(record.record));

  std::lock_guard<std::mutex> lock(mu_);
  SqlTransaction tx(*db_);
  GM_RETURN_IF_ERROR(tx.begin_status());
  GM_ASSIGN_OR_RETURN(auto existing,
                      db_->Query("SELECT record, signature FROM spool_records WHERE seq = ?", {seq}));
  if (!existing.empty()) {
    if (SqlText(existing[0][0]) == text && SqlText(existing[0][1]) == record.signature) return seq;
    return Status::AlreadyExists("usage spool already holds a different record with seq " + std::to_string(seq));
  }
  GM_RETURN_IF_ERROR(db_->Exec("INSERT INTO spool_records (seq, record, signature) VALUES (?, ?, ?)",
                               {seq, text, record.signature}));
  GM_ASSIGN_OR_RETURN(int64_t next, ReadNextSeq());
  if (seq >= next)
    GM_RETURN_IF_ERROR(db_->Exec("UPDATE spool_meta SET value = ? WHERE key = 'next_seq'", {seq + 1}));
  GM_RETURN_IF_ERROR(tx.Commit());  // WAL + synchronous=FULL: on disk when this returns
  return seq;
}

Result<std::vector<SignedRecord>> UsageSpool::Unacked() {
  std::lock_guard<std::mutex> lock(mu_);
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT seq, record, signature FROM spool_records ORDER BY seq"));
  std::vector<SignedRecord> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    auto j = nlohmann::json::parse(SqlText(row[1]), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object())
      return Status::Corruption("usage spool: the record with seq " + std::to_string(SqlInt(row[0])) +
                                " is not JSON");
    out.push_back(SignedRecord{std::move(j), SqlText(row[2])});
  }
  return out;
}

Status UsageSpool::Ack(int64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  SqlTransaction tx(*db_);
  GM_RETURN_IF_ERROR(tx.begin_status());
  GM_ASSIGN_OR_RETURN(auto rows, db_->Query("SELECT 1 FROM spool_records WHERE seq = ?", {seq}));
  if (rows.empty()) {
    GM_ASSIGN_OR_RETURN(int64_t next, ReadNextSeq());
    if (seq < 1 || seq >= next)
      return Status::NotFound("usage spool: seq " + std::to_string(seq) + " was never spooled");
    return Status::OK();  // acknowledged before
  }
  GM_RETURN_IF_ERROR(db_->Exec("DELETE FROM spool_records WHERE seq = ?", {seq}));
  return tx.Commit();
}

}  // namespace gm::worker
