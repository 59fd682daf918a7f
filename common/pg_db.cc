// SqlDb over PostgreSQL through libpqxx: the production store. Statements use
// `?` placeholders like the SQLite backend; they are rewritten to $1, $2, ….
#include <pqxx/pqxx>

#include "common/sql.h"

namespace gm {

namespace {

// `?` outside quotes becomes $N.
std::string Placeholders(const std::string& sql) {
  std::string out;
  int n = 0;
  char quote = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
      out += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      out += c;
    } else if (c == '?') {
      out += "$" + std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

class PgDb final : public SqlDb {
 public:
  explicit PgDb(std::unique_ptr<pqxx::connection> c) : conn_(std::move(c)) {}

  Status Exec(const std::string& sql, const std::vector<SqlValue>& params) override {
    return Run(sql, params, nullptr);
  }
  Result<std::vector<SqlRow>> Query(const std::string& sql, const std::vector<SqlValue>& params) override {
    std::vector<SqlRow> rows;
    GM_RETURN_IF_ERROR(Run(sql, params, &rows));
    return rows;
  }
  Status ExecScript(const std::string& sql) override {
    try {
      pqxx::nontransaction w(*conn_);
      w.exec(sql);
      return Status::OK();
    } catch (const std::exception& e) {
      return Status::IOError(std::string("postgresql: ") + e.what());
    }
  }
  Status Begin() override { return ExecScript("BEGIN"); }
  Status Commit() override { return ExecScript("COMMIT"); }
  Status Rollback() override { return ExecScript("ROLLBACK"); }
  std::string Dialect() const override { return "postgresql"; }

 private:
  Status Run(const std::string& sql, const std::vector<SqlValue>& params, std::vector<SqlRow>* rows) {
    std::vector<std::string> text(params.size());
    std::vector<const char*> ptrs(params.size(), nullptr);  // nullptr is SQL NULL
    for (size_t i = 0; i < params.size(); ++i) {
      if (std::holds_alternative<int64_t>(params[i])) text[i] = std::to_string(std::get<int64_t>(params[i]));
      else if (std::holds_alternative<std::string>(params[i])) text[i] = std::get<std::string>(params[i]);
      else continue;
      ptrs[i] = text[i].c_str();
    }
    try {
      pqxx::nontransaction w(*conn_);
      pqxx::result r = w.exec_params(Placeholders(sql), pqxx::prepare::make_dynamic_params(ptrs));
      if (!rows) return Status::OK();
      for (const auto& row : r) {
        SqlRow out;
        out.reserve(row.size());
        for (const auto& f : row) {
          if (f.is_null()) {
            out.emplace_back(nullptr);
            continue;
          }
          // int2, int4, int8: integers; anything else as text.
          pqxx::oid t = f.type();
          if (t == 20 || t == 21 || t == 23) out.emplace_back(static_cast<int64_t>(std::stoll(f.c_str())));
          else out.emplace_back(std::string(f.c_str(), f.size()));
        }
        rows->push_back(std::move(out));
      }
      return Status::OK();
    } catch (const pqxx::unique_violation& e) {
      return Status::IOError(std::string("postgresql: UNIQUE constraint failed: ") + e.what());
    } catch (const std::exception& e) {
      return Status::IOError(std::string("postgresql: ") + e.what());
    }
  }

  std::unique_ptr<pqxx::connection> conn_;
};

}  // namespace

Result<std::unique_ptr<SqlDb>> OpenPostgres(const std::string& conninfo) {
  try {
    auto c = std::make_unique<pqxx::connection>(conninfo);
    return std::unique_ptr<SqlDb>(std::make_unique<PgDb>(std::move(c)));
  } catch (const std::exception& e) {
    return Status::Unavailable("cannot connect to PostgreSQL (" + conninfo + "): " + e.what());
  }
}

}  // namespace gm
