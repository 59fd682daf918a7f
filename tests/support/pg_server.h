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

}  // namespace gm::testing
