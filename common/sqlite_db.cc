// SqlDb over SQLite: the controller's and the worker spool's embedded store.
#include <sqlite3.h>

#include <memory>

#include "common/sql.h"

namespace gm {

namespace {

class SqliteDb final : public SqlDb {
 public:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  ~SqliteDb() override { sqlite3_close_v2(db_); }

  Status Exec(const std::string& sql, const std::vector<SqlValue>& params) override {
    auto rows = Run(sql, params, /*collect=*/false);
    return rows.status();
  }
  Result<std::vector<SqlRow>> Query(const std::string& sql,
                                   const std::vector<SqlValue>& params) override {
    return Run(sql, params, /*collect=*/true);
  }
  Status ExecScript(const std::string& sql) override {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string m = err ? err : "unknown error";
      sqlite3_free(err);
      return Status::IOError("sqlite: " + m);
    }
    return Status::OK();
  }
  Status Begin() override { return ExecScript("BEGIN IMMEDIATE"); }
  Status Commit() override { return ExecScript("COMMIT"); }
  Status Rollback() override { return ExecScript("ROLLBACK"); }
  std::string Dialect() const override { return "sqlite"; }

 private:
  Status Error(const std::string& what) const {
    return Status::IOError("sqlite: " + what + ": " + sqlite3_errmsg(db_));
  }

  Result<std::vector<SqlRow>> Run(const std::string& sql, const std::vector<SqlValue>& params,
                                  bool collect) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr) !=
        SQLITE_OK)
      return Error("prepare '" + sql + "'");
    std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> stmt(raw, sqlite3_finalize);
    for (size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i + 1);
      int rc = std::visit(
          [&](const auto& v) -> int {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) return sqlite3_bind_null(raw, idx);
            else if constexpr (std::is_same_v<T, int64_t>) return sqlite3_bind_int64(raw, idx, v);
            else return sqlite3_bind_text(raw, idx, v.data(), static_cast<int>(v.size()),
                                          SQLITE_TRANSIENT);
          },
          params[i]);
      if (rc != SQLITE_OK) return Error("bind");
    }
    std::vector<SqlRow> rows;
    for (;;) {
      int rc = sqlite3_step(raw);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return Error("step '" + sql + "'");
      if (!collect) continue;
      int n = sqlite3_column_count(raw);
      SqlRow row;
      row.reserve(n);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(raw, c)) {
          case SQLITE_NULL: row.emplace_back(nullptr); break;
          case SQLITE_INTEGER: row.emplace_back(static_cast<int64_t>(sqlite3_column_int64(raw, c))); break;
          default: {
            const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(raw, c));
            row.emplace_back(std::string(p ? p : "", sqlite3_column_bytes(raw, c)));
          }
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<SqlDb>> OpenSqlite(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string m = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return Status::IOError("cannot open database " + path + ": " + m);
  }
  sqlite3_busy_timeout(db, 5000);
  auto out = std::make_unique<SqliteDb>(db);
  GM_RETURN_IF_ERROR(out->ExecScript(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
      // 64 MiB of page cache (the default 2 MiB makes every index insert of a
      // growing ledger read pages back from the kernel).
      "PRAGMA cache_size=-65536;"));
  return std::unique_ptr<SqlDb>(std::move(out));
}

Result<std::unique_ptr<SqlDb>> OpenDatabase(const std::string& spec) {
  if (spec.rfind("sqlite:", 0) == 0) return OpenSqlite(spec.substr(7));
  if (spec.rfind("postgresql://", 0) == 0 || spec.rfind("postgres://", 0) == 0 ||
      spec.find('=') != std::string::npos)
    return OpenPostgres(spec);
  return Status::InvalidArgument("unknown database '" + spec +
                                 "': use sqlite:PATH or a PostgreSQL connection string");
}

}  // namespace gm
