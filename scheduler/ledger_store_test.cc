// LedgerStore on SQLite and on a real PostgreSQL server: what the accounting
// core books survives a reopen exactly (Restore rebuilds the same state), the
// stored chain verifies, replays change nothing, and tampering with one stored
// entry or one stored root is found and named.
#include "scheduler/ledger_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "accounting/ed25519_for_tests.h"
#include "common/crypto.h"
#include "tests/support/pg_server.h"

namespace gm {
namespace {

using acct::Accounting;
using acct::Effects;

constexpr Micros T = kMicrosPerToken;

class LedgerStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("gm-ledger-" + RandomHex(4));
    std::filesystem::create_directories(dir_);
    auto spec = testing::TestDatabase(GetParam(), dir_.string());
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    spec_ = *spec;
    Reopen();
    acc_ = NewAccounting();
    Book(acc_->ApplyGenesis());
  }
  void TearDown() override {
    store_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }

  static acct::AccountingConfig Config() {
    acct::AccountingConfig c;
    c.audit.epoch_max_txs = 7;  // many epochs, some transactions left unsealed
    c.genesis.total_supply = 1'000'000 * T;
    return c;
  }
  std::unique_ptr<Accounting> NewAccounting() { return std::make_unique<Accounting>(Config(), key_.signer()); }

  void Reopen() {
    store_.reset();
    db_.reset();
    auto db = OpenDatabase(spec_);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    store_ = std::make_unique<LedgerStore>(*db_);
    ASSERT_TRUE(store_->Migrate().ok());
  }

  // Stores one call's Effects in one transaction, as gmctld does.
  void Book(Result<Effects> r) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    SqlTransaction tx(*db_);
    ASSERT_TRUE(tx.begin_status().ok());
    ASSERT_TRUE(store_->Save({&*r}, *acc_, 1000).ok());
    ASSERT_TRUE(tx.Commit().ok());
  }

  acct::VerifyReport Verify() {
    auto v = store_->Verify(key_.verifier(), 50, nullptr);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : acct::VerifyReport{};
  }

  // A job on two nodes with a few usage records, ended and released.
  void RunJob(int64_t job, int records) {
    acct::HoldRequest h{job, 0, "user:alice", 10 * T, 3'600'000, {{"n1", "", 2 * T, 2}, {"n2", "", 3 * T, 1}}};
    Book(acc_->StartAttempt(h));
    for (int i = 1; i <= records; ++i) Book(acc_->RecordUsage({job, 0, i % 2 ? "n1" : "n2", i, 61'111, false}));
    Book(acc_->EndAttempt(job, 0, {}, 5000));
    Book(acc_->CloseJob(job));
  }

  acct::TestEd25519 key_;
  std::filesystem::path dir_;
  std::string spec_;
  std::unique_ptr<SqlDb> db_;
  std::unique_ptr<LedgerStore> store_;
  std::unique_ptr<Accounting> acc_;
};

INSTANTIATE_TEST_SUITE_P(Stores, LedgerStoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });


TEST_P(LedgerStoreTest, ReopenRestoresTheSameStateAndTheChainVerifies) {
  Book(acc_->Deposit("user:alice", 500 * T, "d1"));
  Book(acc_->Deposit("provider:acme", 5000 * T, "d2"));
  Book(acc_->UpsertNode({"n1", "provider:acme", "datacenter", 0}));
  Book(acc_->UpsertNode({"n2", "provider:acme", "consumer", 0}));
  Book(acc_->Stake("n1", 1000 * T, 10));
  RunJob(1, 5);
  // A job still running when the controller stops: its hold and meters come back.
  acct::HoldRequest h{2, 0, "user:alice", 4 * T, 3'600'000, {{"n1", "", 2 * T, 1}}};
  Book(acc_->StartAttempt(h));
  Book(acc_->RecordUsage({2, 0, "n1", 1, 100'000, false}));
  Book(acc_->CloseEpoch());
  Book(acc_->Deposit("user:alice", 1 * T, "d3"));  // after the last epoch: unsealed

  acct::AccountingSnapshot before = acc_->Snapshot();
  Reopen();
  auto snap = store_->LoadSnapshot();
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  auto restored = NewAccounting();
  ASSERT_TRUE(restored->Restore(*snap).ok());
  acct::AccountingSnapshot after = restored->Snapshot();
  // Job 1 was released (and may be forgotten); everything else is identical.
  std::erase_if(before.escrows, [](const auto& e) { return e.released; });
  EXPECT_EQ(nlohmann::json(after).dump(), nlohmann::json(before).dump());
  EXPECT_TRUE(restored->ledger().Supply().balanced());

  acct::VerifyReport v = Verify();
  EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems[0].ToString());
  EXPECT_GE(v.epochs, 2);
  EXPECT_EQ(v.unsealed, 1);
  EXPECT_EQ(v.supply.minted, 1'000'000 * T + 5501 * T);

  // The restored core goes on where the old one stopped: ids follow, the
  // running job settles, a replayed record changes nothing.
  acc_ = std::move(restored);
  EXPECT_EQ(acc_->RecordUsage({2, 0, "n1", 1, 100'000, false}).status().code(), Status::Code::kAlreadyExists);
  Book(acc_->RecordUsage({2, 0, "n1", 2, 100'000, false}));
  Book(acc_->EndAttempt(2, 0, {}, 9000));
  Book(acc_->CloseJob(2));
  v = Verify();
  EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems[0].ToString());
  auto money = store_->LoadJobMoney();
  ASSERT_TRUE(money.ok());
  // 200,000 GPU-ms at 2 tokens per GPU-hour, rounded down once (escrow.h).
  Micros charge = static_cast<Micros>(static_cast<__int128>(2 * T) * 200'000 / 3'600'000);
  EXPECT_EQ((*money)[2].charged, charge);
  EXPECT_EQ((*money)[2].refunded, 4 * T - charge);
  Micros share = charge * 9200 / 10'000;
  EXPECT_EQ((*money)[2].providers["acme"], share);
  EXPECT_EQ((*money)[2].burned, (charge - share) * 2500 / 10'000);
}

TEST_P(LedgerStoreTest, TamperedEntryIsFoundAndNamed) {
  Book(acc_->Deposit("user:alice", 500 * T, "d1"));
  Book(acc_->UpsertNode({"n1", "provider:acme", "datacenter", 0}));
  Book(acc_->UpsertNode({"n2", "provider:acme", "consumer", 0}));
  RunJob(1, 6);
  Book(acc_->CloseEpoch());
  ASSERT_TRUE(Verify().ok());
  // Give one provider entry of a sealed usage transaction one more micro-token.
  auto rows = db_->Query("SELECT e.tx_id, e.idx FROM acct_entries e JOIN acct_tx t ON t.id = e.tx_id "
                         "WHERE t.kind = 'usage' AND e.account = 'provider:acme' ORDER BY e.tx_id LIMIT 1");
  ASSERT_TRUE(rows.ok() && !rows->empty());
  int64_t tx_id = SqlInt((*rows)[0][0]);
  ASSERT_TRUE(db_->Exec("UPDATE acct_entries SET amount = amount + 1 WHERE tx_id = ? AND idx = ?",
                        {tx_id, SqlInt((*rows)[0][1])})
                  .ok());
  acct::VerifyReport v = Verify();
  ASSERT_FALSE(v.ok());
  bool named = false;
  for (const auto& p : v.problems) named = named || (p.tx_id == tx_id && p.check == "balance");
  EXPECT_TRUE(named) << v.problems[0].ToString();
  bool hash = false;
  for (const auto& p : v.problems) hash = hash || (p.tx_id == tx_id && p.check == "leaf_hash");
  EXPECT_TRUE(hash) << "the stored leaf hash no longer matches transaction " << tx_id;
}

TEST_P(LedgerStoreTest, TamperedRootIsFoundAndNamed) {
  Book(acc_->Deposit("user:alice", 500 * T, "d1"));
  Book(acc_->UpsertNode({"n1", "provider:acme", "datacenter", 0}));
  Book(acc_->UpsertNode({"n2", "provider:acme", "consumer", 0}));
  RunJob(1, 12);
  auto epochs = store_->LoadEpochs();
  ASSERT_TRUE(epochs.ok());
  ASSERT_GE(epochs->size(), 2u);
  int64_t victim = (*epochs)[0].number;
  std::string root = (*epochs)[0].merkle_root;
  root[0] = root[0] == 'a' ? 'b' : 'a';
  ASSERT_TRUE(db_->Exec("UPDATE acct_epochs SET merkle_root = ? WHERE number = ?", {root, victim}).ok());
  acct::VerifyReport v = Verify();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.problems[0].epoch, victim) << v.problems[0].ToString();
  EXPECT_EQ(v.problems[0].check, "merkle_root") << v.problems[0].ToString();
}

TEST_P(LedgerStoreTest, DeletedTransactionBreaksTheSequence) {
  Book(acc_->Deposit("user:alice", 500 * T, "d1"));
  Book(acc_->Deposit("user:bob", 500 * T, "d2"));
  Book(acc_->Deposit("user:carol", 500 * T, "d3"));
  // Transactions 1 and 2 are the genesis, 3…5 the deposits: remove the middle one.
  ASSERT_TRUE(db_->Exec("DELETE FROM acct_entries WHERE tx_id = 4").ok());
  ASSERT_TRUE(db_->Exec("DELETE FROM acct_tx WHERE id = 4").ok());
  acct::VerifyReport v = Verify();
  ASSERT_FALSE(v.ok());
  bool seq = false;
  for (const auto& p : v.problems) seq = seq || p.check == "sequence";
  EXPECT_TRUE(seq) << v.problems[0].ToString();
}

// Random event streams, stored call by call, with reopens on the way: the
// properties of the core hold for what the store gives back.
TEST_P(LedgerStoreTest, RandomStreamsKeepSupplyAndReplaysChangeNothing) {
  std::mt19937_64 rng(GetParam() == "sqlite" ? 7 : 11);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const std::vector<std::string> users = {"user:a", "user:b", "user:c"};
  for (size_t i = 0; i < users.size(); ++i) Book(acc_->Deposit(users[i], 200 * T, "fund" + std::to_string(i)));
  for (int n = 1; n <= 3; ++n) {
    Book(acc_->UpsertNode({"n" + std::to_string(n), "provider:p" + std::to_string(n % 2), "consumer", 0}));
    Book(acc_->Deposit("provider:p" + std::to_string(n % 2), 100 * T, "pfund" + std::to_string(n)));
  }
  struct Live {
    int64_t job;
    int attempt;
    std::string node;
    int64_t seq = 0;
  };
  std::vector<Live> live;
  int64_t next_job = 1, now = 10;
  int holds = 0, releases = 0;
  for (int step = 0; step < 300; ++step) {
    now += 1000;
    int what = pick(10);
    if (what < 2 || live.empty()) {  // a job starts (or a hold is refused: nothing changes)
      std::string node = "n" + std::to_string(1 + pick(3));
      acct::HoldRequest h{next_job, 0, users[pick(3)], (1 + pick(40)) * T, 3'600'000, {{node, "", T, 1}}};
      auto r = acc_->StartAttempt(h);
      if (r.ok()) {
        Book(std::move(r));
        live.push_back({next_job, 0, node});
        ++holds;
      } else {
        EXPECT_EQ(r.status().code(), Status::Code::kResourceExhausted) << r.status().ToString();
      }
      ++next_job;
    } else if (what < 6) {  // a usage record, sometimes replayed, sometimes forged
      Live& l = live[pick(static_cast<int>(live.size()))];
      if (pick(5) == 0 && l.seq > 0) {
        auto before = acc_->ledger().balances();
        EXPECT_EQ(acc_->RecordUsage({l.job, l.attempt, l.node, l.seq, 50'000, false}).status().code(),
                  Status::Code::kAlreadyExists);
        EXPECT_EQ(acc_->ledger().balances(), before);
      } else if (pick(8) == 0) {
        std::string other = l.node == "n1" ? "n2" : "n1";
        EXPECT_EQ(acc_->RecordUsage({l.job, l.attempt, other, 999, 50'000, false}).status().code(),
                  Status::Code::kPermissionDenied);
      } else {
        Book(acc_->RecordUsage({l.job, l.attempt, l.node, ++l.seq, pick(400'000), pick(6) == 0}));
      }
    } else if (what < 8) {  // an attempt ends; a requeue carries the hold over, or the job closes
      size_t k = static_cast<size_t>(pick(static_cast<int>(live.size())));
      Live l = live[k];
      bool fault = pick(3) == 0;
      Book(acc_->EndAttempt(l.job, l.attempt, fault ? std::vector<std::string>{l.node} : std::vector<std::string>{},
                            now));
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(k));
      const acct::EscrowState* e = acc_->escrow().Find(l.job);
      ASSERT_NE(e, nullptr);
      if (fault && pick(2) == 0) {
        acct::HoldRequest h{l.job, l.attempt + 1, e->payer_wallet, (1 + pick(40)) * T, 3'600'000, {{l.node, "", T, 1}}};
        auto r = acc_->StartAttempt(h);
        if (r.ok()) {
          Book(std::move(r));
          live.push_back({l.job, l.attempt + 1, l.node, l.seq});
          continue;
        }
      }
      Book(acc_->CloseJob(l.job));
      ++releases;
      EXPECT_EQ(acc_->CloseJob(l.job).status().code(), Status::Code::kFailedPrecondition);  // never twice
      ASSERT_TRUE(acc_->ForgetJob(l.job).ok());
    } else if (what == 8) {
      Book(acc_->CloseEpoch());
    } else {  // a restart: rebuild the core from the stored rows
      Reopen();
      auto snap = store_->LoadSnapshot();
      ASSERT_TRUE(snap.ok()) << snap.status().ToString();
      auto restored = NewAccounting();
      ASSERT_TRUE(restored->Restore(*snap).ok());
      EXPECT_EQ(restored->ledger().balances(), acc_->ledger().balances());
      acc_ = std::move(restored);
    }
    acct::SupplyReport s = acc_->ledger().Supply();
    ASSERT_TRUE(s.balanced()) << "step " << step;
    for (const auto& [account, balance] : acc_->ledger().balances())
      if (account != acct::kMintAccount) ASSERT_GE(balance, 0) << account << " at step " << step;
  }
  EXPECT_GT(holds, 10);
  EXPECT_GT(releases, 5);
  acct::VerifyReport v = Verify();
  EXPECT_TRUE(v.ok()) << (v.problems.empty() ? "" : v.problems[0].ToString());
  auto stored = store_->LoadBalances();
  ASSERT_TRUE(stored.ok());
  std::erase_if(*stored, [](const auto& kv) { return kv.second == 0; });
  auto mem = acc_->ledger().balances();
  std::erase_if(mem, [](const auto& kv) { return kv.second == 0; });
  EXPECT_EQ(*stored, mem);
}

}  // namespace
}  // namespace gm
