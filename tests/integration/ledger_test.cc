// The ledger commands against a real controller: supply, verify (and a
// tampered entry or root found and named), export and prove, staking, reward
// preview, sreport, the wallet's account types, and bad input refused with
// nothing changed. Expected money comes from tests/integration/money_rule.h.
#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "common/sql.h"
#include "tests/integration/federation.h"
#include "tests/integration/money_rule.h"

namespace gm::itest {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kFund = 1000 * kMicrosPerToken;

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = Federation::Up(/*workers=*/1, /*gpus_per_worker=*/2);
    ASSERT_TRUE(f.ok()) << f.status().message();
    fed_ = std::move(f).value();
    // Small audit epochs, so that a few jobs seal some; the controller reads
    // the file when it starts again.
    WriteFileOrDie(fed_->dir() + "/controller.conf", "epoch-max-txs = 4\n");
    ASSERT_TRUE(fed_->KillController9().ok());
    Status s = fed_->RestartLocal();
    ASSERT_TRUE(s.ok()) << s.message();
  }

  void RunJobs(int n) {
    std::string script = fed_->WriteScript("w.sh", "#!/bin/bash\nsleep 0.3\necho ok\n");
    std::vector<int64_t> ids;
    for (int i = 0; i < n; ++i) {
      auto id = fed_->Submit(script, {"--gres=gpu:1", "-t", "2"});
      ASSERT_TRUE(id.ok()) << id.status().message();
      ids.push_back(*id);
    }
    for (int64_t id : ids) {
      auto done = fed_->WaitForState(id, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"});
      ASSERT_TRUE(done.ok()) << done.status().message();
      ASSERT_EQ((*done)["state"], "COMPLETED") << done->dump();
    }
  }

  json Supply() {
    ProcResult r = fed_->Run({"ledger", "supply", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.Describe();
    json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.Describe();
    return j;
  }

  std::string DbPath() const { return fed_->dir() + "/controller/gridmint.db"; }

  std::unique_ptr<Federation> fed_;
};

TEST_F(LedgerTest, SupplyVerifyExportProve) {
  RunJobs(3);
  json s = Supply();
  // Exactly these keys, integers of micro-tokens.
  std::vector<std::string> keys;
  for (const auto& [k, v] : s.items()) {
    keys.push_back(k);
    EXPECT_TRUE(v.is_number_integer()) << k;
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"burned", "circulating", "minted", "sum_of_balances"}));
  EXPECT_EQ(s["minted"].get<int64_t>(), kGenesisSupply + kFund);
  EXPECT_EQ(s["sum_of_balances"].get<int64_t>(), s["minted"].get<int64_t>() - s["burned"].get<int64_t>());
  EXPECT_EQ(s["circulating"].get<int64_t>(), s["sum_of_balances"].get<int64_t>() - GenesisPool());
  EXPECT_GT(s["burned"].get<int64_t>(), 0);

  ProcResult v = fed_->RunAdmin({"ledger", "verify"});
  ASSERT_EQ(v.exit_code, 0) << v.Describe();
  EXPECT_NE(v.out.find("ledger verified"), std::string::npos) << v.Describe();
  // Only an admin verifies; a user is told so and gets a non-zero exit.
  ProcResult u = fed_->Run({"ledger", "verify"});
  EXPECT_NE(u.exit_code, 0);
  EXPECT_NE(u.err.find("admin"), std::string::npos) << u.Describe();

  // Epoch 1 exported: its transactions 1…4 with proofs leading to its root.
  ProcResult e = fed_->RunAdmin({"ledger", "export", "--epoch", "1"});
  ASSERT_EQ(e.exit_code, 0) << e.Describe();
  json ex = json::parse(e.out, nullptr, false);
  ASSERT_FALSE(ex.is_discarded()) << e.Describe();
  EXPECT_FALSE(ex.dump().find("signature") == std::string::npos) << ex.dump();
  EXPECT_NE(ex.dump().find("merkle_root"), std::string::npos) << ex.dump();
  EXPECT_NE(ex.dump().find("\"path\""), std::string::npos) << ex.dump();

  ProcResult p = fed_->RunAdmin({"ledger", "prove", "3"});
  ASSERT_EQ(p.exit_code, 0) << p.Describe();
  json pr = json::parse(p.out, nullptr, false);
  ASSERT_FALSE(pr.is_discarded());
  EXPECT_EQ(pr["proof"]["tx_id"], 3);
  EXPECT_EQ(pr["proof"]["epoch"], 1);
  EXPECT_EQ(pr["proof"]["merkle_root"], pr["epoch"]["merkle_root"]);

  // Bad input: a clear message, a non-zero exit.
  for (auto args : std::vector<std::vector<std::string>>{{"ledger", "export"},
                                                         {"ledger", "export", "--epoch", "zero"},
                                                         {"ledger", "export", "--epoch", "99999"},
                                                         {"ledger", "prove", "abc"},
                                                         {"ledger", "prove", "99999999"},
                                                         {"ledger", "frobnicate"}}) {
    ProcResult bad = fed_->RunAdmin(args);
    EXPECT_NE(bad.exit_code, 0) << bad.Describe();
    EXPECT_NE(bad.err.find("error"), std::string::npos) << bad.Describe();
  }
  HttpAnswer raw = fed_->RawGet("/api/v1/ledger/epochs/0", fed_->admin_token());
  EXPECT_EQ(raw.status, 400) << raw.body;
  raw = fed_->RawGet("/api/v1/ledger/verify?max_problems=lots", fed_->admin_token());
  EXPECT_EQ(raw.status, 400) << raw.body;
}

// Changes one stored row behind the controller's back (SQLite allows a second
// writer); `gm ledger verify` must fail and name what broke.
TEST_F(LedgerTest, TamperedEntryOrRootMakesVerifyFailAndNameIt) {
  RunJobs(2);
  ASSERT_EQ(fed_->RunAdmin({"ledger", "verify"}).exit_code, 0);
  auto db = OpenSqlite(DbPath());
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  // The payer's entry of the first job's hold (there whatever the job did).
  auto rows = (*db)->Query("SELECT tx_id, idx, amount FROM acct_entries e JOIN acct_tx t ON t.id = e.tx_id "
                           "WHERE t.kind = 'hold' AND e.account LIKE 'user:%' ORDER BY tx_id LIMIT 1");
  ASSERT_TRUE(rows.ok() && !rows->empty());
  int64_t tx_id = SqlInt((*rows)[0][0]), idx = SqlInt((*rows)[0][1]);
  ASSERT_TRUE((*db)->Exec("UPDATE acct_entries SET amount = amount + 1000 WHERE tx_id = ? AND idx = ?", {tx_id, idx}).ok());
  ProcResult v = fed_->RunAdmin({"ledger", "verify"});
  EXPECT_NE(v.exit_code, 0) << v.Describe();
  EXPECT_NE(v.out.find("transaction " + std::to_string(tx_id)), std::string::npos) << v.Describe();
  EXPECT_NE(v.err.find("FAILED"), std::string::npos) << v.Describe();
  // Put it back: verified again.
  ASSERT_TRUE((*db)->Exec("UPDATE acct_entries SET amount = amount - 1000 WHERE tx_id = ? AND idx = ?", {tx_id, idx}).ok());
  ASSERT_EQ(fed_->RunAdmin({"ledger", "verify"}).exit_code, 0);

  // One stored root.
  auto epochs = (*db)->Query("SELECT number, chain_root FROM acct_epochs ORDER BY number LIMIT 1");
  ASSERT_TRUE(epochs.ok() && !epochs->empty()) << "no sealed epoch";
  int64_t number = SqlInt((*epochs)[0][0]);
  std::string root = SqlText((*epochs)[0][1]);
  std::string bad = root;
  bad[5] = bad[5] == '0' ? '1' : '0';
  ASSERT_TRUE((*db)->Exec("UPDATE acct_epochs SET chain_root = ? WHERE number = ?", {bad, number}).ok());
  v = fed_->RunAdmin({"ledger", "verify"});
  EXPECT_NE(v.exit_code, 0) << v.Describe();
  EXPECT_NE(v.out.find("epoch " + std::to_string(number)), std::string::npos) << v.Describe();
  EXPECT_NE(v.out.find("chain"), std::string::npos) << v.Describe();
}

TEST_F(LedgerTest, StakeUnstakeWithdrawRewardsWalletAndSreport) {
  // The provider gets tokens into its provider wallet, then stakes on its node.
  ASSERT_EQ(fed_->RunAdmin({"admin", "mint", "provider1", "500", "--provider", "--ref", "p1"}).exit_code, 0);
  ProcResult again = fed_->RunAdmin({"admin", "mint", "provider1", "500", "--provider", "--ref", "p1"});
  EXPECT_NE(again.exit_code, 0) << "a repeated ref minted twice: " << again.Describe();
  auto admin_for = [&](const std::string& account) {
    ProcResult t = fed_->RunAdmin({"admin", "token", account});
    EXPECT_EQ(t.exit_code, 0) << t.Describe();
    return t.out.substr(0, t.out.find('\n'));
  };
  std::map<std::string, std::string> provider = {{"GM_TOKEN", admin_for("provider1")}};
  ProcResult st = fed_->Run({"stake", "300", "--node", "node1"}, provider);
  ASSERT_EQ(st.exit_code, 0) << st.Describe();
  auto w = fed_->Wallet("provider1");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)["earned"].get<int64_t>(), 200 * kMicrosPerToken);
  ASSERT_EQ((*w)["stake"].size(), 1u) << w->dump();
  EXPECT_EQ((*w)["stake"][0]["bonded"].get<int64_t>(), 300 * kMicrosPerToken);
  EXPECT_EQ((*w)["stake"][0]["trust_level"], 1);  // Basic: stake ≥ 100

  // Bad input changes nothing.
  for (auto args : std::vector<std::vector<std::string>>{{"stake", "-5", "--node", "node1"},
                                                         {"stake", "abc", "--node", "node1"},
                                                         {"stake", "10"},
                                                         {"stake", "10000", "--node", "node1"},
                                                         {"stake", "10", "--node", "nosuchnode"},
                                                         {"unstake", "400", "--node", "node1"},
                                                         {"withdraw", "--node", "node1"}}) {
    ProcResult bad = fed_->Run(args, provider);
    EXPECT_NE(bad.exit_code, 0) << bad.Describe();
    EXPECT_NE(bad.err.find("error"), std::string::npos) << bad.Describe();
  }
  // Someone else's node is not theirs to stake.
  ProcResult other = fed_->Run({"stake", "1", "--node", "node1"});
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.err.find("provider"), std::string::npos) << other.Describe();
  w = fed_->Wallet("provider1");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)["earned"].get<int64_t>(), 200 * kMicrosPerToken);
  EXPECT_EQ((*w)["stake"][0]["bonded"].get<int64_t>(), 300 * kMicrosPerToken);

  // An early unstake of 100 burns 5 % of it; a normal one waits (withdraw refused).
  json before = Supply();
  ASSERT_EQ(fed_->Run({"unstake", "100", "--node", "node1", "--early"}, provider).exit_code, 0);
  json after = Supply();
  EXPECT_EQ(after["burned"].get<int64_t>() - before["burned"].get<int64_t>(), 100 * kMicrosPerToken * 500 / 10'000);
  ASSERT_EQ(fed_->Run({"unstake", "50", "--node", "node1"}, provider).exit_code, 0);
  ProcResult wd = fed_->Run({"withdraw", "--node", "node1"}, provider);
  EXPECT_NE(wd.exit_code, 0) << wd.Describe();
  w = fed_->Wallet("provider1");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)["stake"][0]["bonded"].get<int64_t>(), 150 * kMicrosPerToken);
  EXPECT_EQ((*w)["stake"][0]["unbonding"].get<int64_t>(), 50 * kMicrosPerToken);
  EXPECT_EQ((*w)["earned"].get<int64_t>(), (200 + 95) * kMicrosPerToken);
  ProcResult wallet = fed_->Run({"wallet"}, provider);
  EXPECT_NE(wallet.out.find("Stake:"), std::string::npos) << wallet.Describe();

  RunJobs(2);
  ProcResult rp = fed_->Run({"rewards", "preview", "--json"});
  ASSERT_EQ(rp.exit_code, 0) << rp.Describe();
  json pj = json::parse(rp.out, nullptr, false);
  ASSERT_FALSE(pj.is_discarded());
  ASSERT_EQ(pj["lines"].size(), 1u) << pj.dump();
  EXPECT_GT(pj["lines"][0]["gpu_ms"].get<int64_t>(), 0);
  EXPECT_EQ(pj["pool_balance"].get<int64_t>(), GenesisPool());
  EXPECT_EQ(fed_->Run({"rewards", "preview"}).exit_code, 0);

  // sreport: the user's spend equals what sacct says the jobs were charged.
  ProcResult sr = fed_->RunAdmin({"sreport", "--json"});
  ASSERT_EQ(sr.exit_code, 0) << sr.Describe();
  json rep = json::parse(sr.out, nullptr, false);
  ASSERT_FALSE(rep.is_discarded());
  int64_t spent = 0, earned = 0, gpu_ms = 0;
  for (const auto& u : rep["user_spend"]) spent += u["charged"].get<int64_t>();
  for (const auto& p : rep["provider_earnings"]) earned += p["earned"].get<int64_t>();
  for (const auto& g : rep["utilisation"]) gpu_ms += g["gpu_ms"].get<int64_t>();
  auto jobs = fed_->Jobs();
  ASSERT_TRUE(jobs.ok());
  int64_t charged = 0, shares = 0;
  for (const auto& j : *jobs) {
    charged += j["charged"].get<int64_t>();
    for (const auto& [p, v] : j["providers"].items()) shares += v.get<int64_t>();
  }
  EXPECT_EQ(spent, charged);
  EXPECT_EQ(earned, shares);
  EXPECT_GT(gpu_ms, 0);
  ProcResult csv = fed_->Run({"sreport", "--csv", "--period", "month"});
  ASSERT_EQ(csv.exit_code, 0) << csv.Describe();
  EXPECT_EQ(csv.out.rfind("section,period,name,", 0), 0u) << csv.out;
  EXPECT_NE(csv.out.find("user_spend,"), std::string::npos) << csv.out;
  ProcResult sacct = fed_->Run({"sacct", "--format=JobID,Charged,Refunded,Providers,Burned", "-P", "-n"});
  ASSERT_EQ(sacct.exit_code, 0) << sacct.Describe();
  EXPECT_NE(sacct.out.find("provider1="), std::string::npos) << sacct.out;
  for (auto args : std::vector<std::vector<std::string>>{{"sreport", "--period", "year"},
                                                         {"sreport", "--start", "yesterday"},
                                                         {"sreport", "--start", "2030-01-02", "--end", "2030-01-01"}}) {
    ProcResult bad = fed_->Run(args);
    EXPECT_NE(bad.exit_code, 0) << bad.Describe();
  }
  EXPECT_EQ(fed_->RunAdmin({"ledger", "verify"}).exit_code, 0);
}

}  // namespace
}  // namespace gm::itest
