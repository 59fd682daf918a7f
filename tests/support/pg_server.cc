// Throw-away PostgreSQL for tests.
#include "tests/support/pg_server.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common/sql.h"

namespace gm::testing {

namespace fs = std::filesystem;

namespace {

std::string FindBinDir() {
  std::error_code ec;
  std::string best;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec))
    if (fs::exists(e.path() / "bin" / "initdb") && e.path().string() > best) best = e.path().string();
  return best.empty() ? "" : best + "/bin";
}

Status Run(const std::string& cmd, const std::string& log) {
  std::string full = cmd + " >>" + log + " 2>&1";
  int rc = std::system(full.c_str());
  if (rc != 0) {
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    if (text.size() > 2000) text = text.substr(text.size() - 2000);
    return Status::Internal("'" + cmd + "' failed (" + std::to_string(rc) + "):\n" + text);
  }
  return Status::OK();
}

}  // namespace

Result<PgServer*> PgServer::Get() {
  static std::unique_ptr<PgServer> server;
  static Status started = Status::Internal("not started");
  if (!server) {
    server.reset(new PgServer());
    started = server->Start();
  }
  if (!started.ok()) return started;
  return server.get();
}

PgServer::~PgServer() { Stop(); }

Status PgServer::Start() {
  bin_ = FindBinDir();
  if (bin_.empty())
    return Status::NotFound("no PostgreSQL server under /usr/lib/postgresql/*/bin (contrib/install-deps.sh installs it)");
  struct passwd* pw = getpwnam("postgres");
  if (!pw) return Status::NotFound("no 'postgres' user (the postgresql package creates it)");
  char tmpl[] = "/tmp/gmpg.XXXXXX";
  if (!mkdtemp(tmpl)) return Status::IOError("mkdtemp failed");
  dir_ = tmpl;
  if (chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) return Status::IOError("chown " + dir_);
  std::string log = dir_ + "/setup.log";
  std::string as_pg = "runuser -u postgres -- ";
  GM_RETURN_IF_ERROR(Run(as_pg + bin_ + "/initdb -D " + dir_ + "/data -A trust -U postgres --no-sync -E UTF8", log));
  // fsync=off: tests need no durability from the server itself, and it is fast.
  GM_RETURN_IF_ERROR(Run(as_pg + bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
                             "/server.log -w -t 30 -o \"-k " + dir_ +
                             " -c listen_addresses='' -c fsync=off -c synchronous_commit=off\" start",
                         log));
  return Status::OK();
}

void PgServer::Stop() {
  if (dir_.empty() || bin_.empty()) return;
  std::string cmd = "runuser -u postgres -- " + bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate stop >/dev/null 2>&1";
  (void)std::system(cmd.c_str());
  std::error_code ec;
  fs::remove_all(dir_, ec);
  dir_.clear();
}

Result<std::string> PgServer::NewDatabase() {
  std::string admin = "host=" + dir_ + " user=postgres dbname=postgres";
  GM_ASSIGN_OR_RETURN(auto db, OpenPostgres(admin));
  std::string name = "t" + std::to_string(getpid()) + "_" + std::to_string(next_db_++);
  GM_RETURN_IF_ERROR(db->ExecScript("CREATE DATABASE " + name));
  return "host=" + dir_ + " user=postgres dbname=" + name;
}

Result<std::string> TestDatabase(const std::string& kind, const std::string& dir) {
  if (kind == "sqlite") return "sqlite:" + dir + "/store.db";
  GM_ASSIGN_OR_RETURN(PgServer * pg, PgServer::Get());
  return pg->NewDatabase();
}

}  // namespace gm::testing
