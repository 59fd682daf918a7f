// SqlDb: the one interface to the controller's database. SQLite is the
// embedded default; PostgreSQL (libpqxx) implements the same interface.
// SQL is written with `?` placeholders; each backend binds them its own way.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"

namespace gm {

using SqlValue = std::variant<std::nullptr_t, int64_t, std::string>;
using SqlRow = std::vector<SqlValue>;

inline int64_t SqlInt(const SqlValue& v) {
  return std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v) : 0;
}
inline std::string SqlText(const SqlValue& v) {
  return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string();
}
inline bool SqlIsNull(const SqlValue& v) { return std::holds_alternative<std::nullptr_t>(v); }

class SqlDb {
 public:
  virtual ~SqlDb() = default;
  virtual Status Exec(const std::string& sql, const std::vector<SqlValue>& params = {}) = 0;
  virtual Result<std::vector<SqlRow>> Query(const std::string& sql,
                                           const std::vector<SqlValue>& params = {}) = 0;
  // Runs several statements separated by ';' without parameters (schema set-up).
  virtual Status ExecScript(const std::string& sql) = 0;
  virtual Status Begin() = 0;
  virtual Status Commit() = 0;
  virtual Status Rollback() = 0;
  virtual std::string Dialect() const = 0;  // "sqlite" or "postgresql"
};

// Opens (creating if needed) an SQLite database in WAL mode with full sync,
// so that a committed transaction survives kill -9 and power loss.
Result<std::unique_ptr<SqlDb>> OpenSqlite(const std::string& path);

// Connects to PostgreSQL (libpq connection string or URI).
Result<std::unique_ptr<SqlDb>> OpenPostgres(const std::string& conninfo);

// "sqlite:PATH" or a PostgreSQL connection string ("postgresql://…",
// "host=… dbname=…").
Result<std::unique_ptr<SqlDb>> OpenDatabase(const std::string& spec);

// A transaction that rolls back unless committed.
class SqlTransaction {
 public:
  explicit SqlTransaction(SqlDb& db) : db_(db) { status_ = db_.Begin(); }
  ~SqlTransaction() {
    if (status_.ok() && !done_) (void)db_.Rollback();
  }
  SqlTransaction(const SqlTransaction&) = delete;
  SqlTransaction& operator=(const SqlTransaction&) = delete;
  const Status& begin_status() const { return status_; }
  Status Commit() {
    done_ = true;
    return db_.Commit();
  }

 private:
  SqlDb& db_;
  Status status_;
  bool done_ = false;
};

}  // namespace gm
