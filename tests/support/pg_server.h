// A throw-away PostgreSQL server for tests, from Debian's packages: initdb
// into a temporary directory, pg_ctl start on a Unix socket in it (no TCP),
// run as the postgres user because PostgreSQL refuses to run as root. One
// server per test program; each test takes a fresh database.
#pragma once

#include <string>

#include "common/status.h"

namespace gm::testing {

class PgServer {
 public:
  // Starts the process-wide server on first use.
  static Result<PgServer*> Get();
  ~PgServer();
  // A new empty database; returns its connection string.
  Result<std::string> NewDatabase();
  const std::string& dir() const { return dir_; }

 private:
  PgServer() = default;
  Status Start();
  void Stop();
  std::string dir_, bin_;
  int next_db_ = 0;
};

// The database of a test parameterised by store kind: "sqlite" gives a file
// in `dir`, anything else a fresh database on the process-wide PostgreSQL
// server. Returns what common/sql.h's OpenDatabase takes.
Result<std::string> TestDatabase(const std::string& kind, const std::string& dir);

}  // namespace gm::testing
