// Tests of the SQLite store: parameters, NULLs, transactions, durability.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/crypto.h"
#include "common/sql.h"

namespace gm {
namespace {

class SqliteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("gm-sql-" + RandomHex(4));
    std::filesystem::create_directories(dir_);
    auto db = OpenSqlite(dir_ / "t.db");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->ExecScript("CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER)").ok());
  }
  void TearDown() override {
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<SqlDb> db_;
};

TEST_F(SqliteTest, BindsAndReadsBack) {
  ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES(?, ?)", {std::string("a'b"), int64_t{1} << 40}).ok());
  ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES(?, ?)", {std::string("n"), nullptr}).ok());
  auto rows = db_->Query("SELECT k, v FROM t ORDER BY k");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(SqlText((*rows)[0][0]), "a'b");
  EXPECT_EQ(SqlInt((*rows)[0][1]), int64_t{1} << 40);
  EXPECT_TRUE(SqlIsNull((*rows)[1][1]));
}

TEST_F(SqliteTest, ConstraintViolationIsAnError) {
  ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES('x', 1)").ok());
  Status s = db_->Exec("INSERT INTO t VALUES('x', 2)");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("UNIQUE"), std::string::npos);
}

TEST_F(SqliteTest, UncommittedTransactionRollsBack) {
  {
    SqlTransaction tx(*db_);
    ASSERT_TRUE(tx.begin_status().ok());
    ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES('gone', 1)").ok());
  }
  auto rows = db_->Query("SELECT count(*) FROM t");
  EXPECT_EQ(SqlInt((*rows)[0][0]), 0);
}

TEST_F(SqliteTest, CommittedDataSurvivesReopen) {
  {
    SqlTransaction tx(*db_);
    ASSERT_TRUE(db_->Exec("INSERT INTO t VALUES('kept', 7)").ok());
    ASSERT_TRUE(tx.Commit().ok());
  }
  db_.reset();
  auto db = OpenSqlite(dir_ / "t.db");
  ASSERT_TRUE(db.ok());
  auto rows = (*db)->Query("SELECT v FROM t WHERE k = ?", {std::string("kept")});
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ(SqlInt((*rows)[0][0]), 7);
  auto mode = (*db)->Query("PRAGMA journal_mode");
  EXPECT_EQ(SqlText((*mode)[0][0]), "wal");
}

TEST(SqliteOpenTest, UnopenablePathIsAClearError) {
  auto db = OpenSqlite("/nonexistent-dir-gm/x.db");
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("/nonexistent-dir-gm/x.db"), std::string::npos);
}

}  // namespace
}  // namespace gm
