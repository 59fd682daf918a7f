// Settlement through the real controller: escrow holds, per-record charges
// by the documented price rule, provider shares, the platform fee and its
// burned quarter, refunds, supply conservation (with the genesis), and jobs
// that wait for funds. Expected figures come from tests/integration/money_rule.h.
#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "tests/integration/federation.h"
#include "tests/integration/money_rule.h"

namespace gm::itest {
namespace {

constexpr int64_t kFund = 1000 * kMicrosPerToken;  // what gm local up gives the user

// A node as /api/v1/nodes describes it.
struct NodeInfo {
  std::string provider;
  int64_t price = 0;  // micro-tokens per GPU-hour
};

class MoneyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = Federation::Up(/*workers=*/2, /*gpus_per_worker=*/2);
    ASSERT_TRUE(f.ok()) << f.status().message();
    fed_ = std::move(f).value();
    auto nodes = fed_->Nodes();
    ASSERT_TRUE(nodes.ok()) << nodes.status().message();
    for (const auto& n : (*nodes)["nodes"])
      nodes_[n["name"]] = NodeInfo{n["provider"], n["price"].get<int64_t>()};
    ASSERT_EQ(nodes_.size(), 2u);
  }

  int64_t Field(const std::string& account, const char* field) {
    auto w = fed_->Wallet(account);
    EXPECT_TRUE(w.ok()) << account << ": " << w.status().message();
    return w.ok() ? (*w)[field].get<int64_t>() : -1;
  }

  // Checks a settled job against the documented rule: the hold is, per node,
  // floor(price × GPUs × time limit / 1 h); one usage record per node is
  // charged floor(price × GPUs × served_ms / 1 h) for one served time no
  // longer than the job ran; each provider gets floor(charge × 92 %); of the
  // fee (the rest of the charge) floor(fee × 25 %) is burned and the rest
  // goes to the treasury; the rest of the hold is refunded.
  void ExpectChargedByTheRule(const json& job, const JobBooks& s) {
    auto names = job["node_names"].get<std::vector<std::string>>();
    ASSERT_FALSE(names.empty());
    int gpn = job["gpus"].get<int>() / static_cast<int>(names.size());
    int64_t limit_ms = job["time_limit_s"].get<int64_t>() * 1000;
    int64_t want_hold = 0;
    for (const auto& n : names) want_hold += FloorMulDiv(nodes_[n].price * gpn, limit_ms, kMsPerHour);
    EXPECT_EQ(s.held, want_hold) << job.dump();
    EXPECT_EQ(job["held"].get<int64_t>(), want_hold);
    // One usage record per node (none for a node whose charge rounds to zero).
    EXPECT_LE(s.usage_txs, static_cast<int>(names.size())) << job.dump();

    int64_t ran_ms = job["end_ms"].get<int64_t>() - job["start_ms"].get<int64_t>();
    ASSERT_GT(ran_ms, 0);
    int64_t share_sum = 0;
    for (const auto& [p, v] : s.shares) share_sum += v;
    EXPECT_EQ(s.Charge(), share_sum + s.Fee()) << "charge != provider shares + fee: " << job.dump();
    EXPECT_GT(s.Charge(), 0) << "a job that ran was not charged: " << job.dump();

    int64_t match_ms = -1;
    for (int64_t ms = 0; ms <= ran_ms && match_ms < 0; ++ms) {
      std::map<std::string, int64_t> shares;
      int64_t charge = 0, treasury = 0, burned = 0;
      for (const auto& n : names) {
        Split sp = SplitFor(nodes_[n].price, gpn, ms);
        charge += sp.charge;
        treasury += sp.treasury;
        burned += sp.burned;
        shares[nodes_[n].provider] += sp.provider;
      }
      for (auto it = shares.begin(); it != shares.end();) it = it->second == 0 ? shares.erase(it) : std::next(it);
      if (charge == s.Charge() && treasury == s.treasury && burned == s.burned && shares == s.shares) match_ms = ms;
    }
    EXPECT_GE(match_ms, 0) << "no served time up to " << ran_ms
                           << " ms explains the charges of job " << job.dump();
    // What sacct shows is the same money.
    EXPECT_EQ(job["charged"].get<int64_t>(), s.Charge());
    EXPECT_EQ(job["fee"].get<int64_t>(), s.Fee());
    EXPECT_EQ(job["burned"].get<int64_t>(), s.burned);
    EXPECT_EQ(job["refunded"].get<int64_t>(), s.refunded);
  }

  std::unique_ptr<Federation> fed_;
  std::map<std::string, NodeInfo> nodes_;  // by node name
};

TEST_F(MoneyTest, SettlementFollowsThePriceRuleAndConservesTokens) {
  const std::string user = Federation::kUser;
  ASSERT_EQ(Field(user, "available"), kFund);
  ASSERT_EQ(Field(user, "held"), 0);
  for (const auto& [name, n] : nodes_) ASSERT_EQ(Field(n.provider, "earned"), 0);

  // A one-node job with two GPUs, then a two-node job with one GPU per node.
  std::string script = fed_->WriteScript("work.sh", "#!/bin/bash\nsleep 2\necho done\n");
  auto a = fed_->Submit(script, {"--gres=gpu:2", "-t", "5"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  auto running = fed_->WaitForState(*a, {"RUNNING", "COMPLETED"});
  ASSERT_TRUE(running.ok()) << running.status().message();
  // While it runs, its worst case sits in escrow.
  int64_t held_while_running = Field(user, "held");
  int64_t available_while_running = Field(user, "available");
  auto still = fed_->Job(*a);
  ASSERT_TRUE(still.ok());
  if ((*still)["state"] == "RUNNING") {
    EXPECT_EQ(held_while_running, (*still)["held"].get<int64_t>());
    EXPECT_EQ(available_while_running + held_while_running, kFund);
    EXPECT_GT(held_while_running, 0);
  }
  auto b = fed_->Submit(script, {"-N", "2", "--gres=gpu:1", "-t", "5"});
  ASSERT_TRUE(b.ok()) << b.status().message();

  std::vector<json> jobs;
  for (int64_t id : {*a, *b}) {
    auto done = fed_->WaitForState(id, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"});
    ASSERT_TRUE(done.ok()) << done.status().message();
    ASSERT_EQ((*done)["state"], "COMPLETED") << done->dump();
    jobs.push_back(*done);
  }
  EXPECT_EQ(jobs[1]["node_names"].size(), 2u);

  int64_t charged = 0, treasury_fees = 0, burned = 0;
  std::map<std::string, int64_t> earned;
  for (const auto& job : jobs) {
    JobBooks s = BooksOf(job, user);
    ExpectChargedByTheRule(job, s);
    charged += s.Charge();
    treasury_fees += s.treasury;
    burned += s.burned;
    for (const auto& [p, v] : s.shares) earned[p] += v;
  }
  // Both providers earned something: the two-node job used both nodes.
  EXPECT_EQ(earned.size(), 2u);

  int64_t available = Field(user, "available"), held = Field(user, "held");
  EXPECT_EQ(held, 0) << "escrow left after every job ended";
  EXPECT_EQ(kFund - available, charged) << "the user paid something else than the settled charges";
  int64_t providers_total = 0;
  for (const auto& [name, n] : nodes_) {
    int64_t e = Field(n.provider, "earned");
    EXPECT_EQ(e, earned[n.provider]) << n.provider;
    providers_total += e;
  }
  // Supply: the genesis and the user's fund were minted; what the jobs burned
  // left; the treasury holds its genesis share plus the unburned fees.
  auto supply = fed_->UserGet("/api/v1/ledger/supply");
  ASSERT_TRUE(supply.ok()) << supply.status().message();
  EXPECT_EQ((*supply)["minted"].get<int64_t>(), kGenesisSupply + kFund) << supply->dump();
  EXPECT_EQ((*supply)["burned"].get<int64_t>(), burned) << supply->dump();
  EXPECT_EQ((*supply)["sum_of_balances"].get<int64_t>(), kGenesisSupply + kFund - burned) << supply->dump();
  EXPECT_EQ((*supply)["treasury"].get<int64_t>(), GenesisTreasury() + treasury_fees) << supply->dump();
  EXPECT_EQ((*supply)["rewards_pool"].get<int64_t>(), GenesisPool()) << supply->dump();
  EXPECT_EQ((*supply)["circulating"].get<int64_t>(), kGenesisSupply + kFund - burned - GenesisPool());
  EXPECT_EQ(charged, providers_total + treasury_fees + burned);
  EXPECT_GT(treasury_fees, 0);
  EXPECT_GT(burned, 0) << "no part of the fees was burned";
}

TEST_F(MoneyTest, JobWaitsForFundsThenRuns) {
  ProcResult acct = fed_->RunAdmin({"admin", "account", "create", "poor"});
  ASSERT_EQ(acct.exit_code, 0) << acct.Describe();
  std::string poor_token = acct.out.substr(0, acct.out.find('\n'));
  ASSERT_FALSE(poor_token.empty());
  ProcResult mint = fed_->RunAdmin({"admin", "mint", "poor", "0.000001"});
  ASSERT_EQ(mint.exit_code, 0) << mint.Describe();
  ASSERT_EQ(Field("poor", "available"), 1);

  std::string script = fed_->WriteScript("paid.sh", "#!/bin/bash\necho paid\n");
  auto id = fed_->Submit(script, {"--gres=gpu:1", "-t", "1"}, {{"GM_TOKEN", poor_token}});
  ASSERT_TRUE(id.ok()) << id.status().message();
  auto job = fed_->Job(*id);
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_EQ((*job)["user"], "poor");
  EXPECT_EQ((*job)["state"], "PENDING");
  EXPECT_EQ((*job)["reason"], "InsufficientFunds");

  // Another user's job runs to its end meanwhile (more scheduling passes);
  // the poor job still waits, and says why in squeue.
  std::string quick = fed_->WriteScript("quick.sh", "#!/bin/bash\ntrue\n");
  auto other = fed_->Submit(quick, {"--gres=gpu:1"});
  ASSERT_TRUE(other.ok()) << other.status().message();
  auto other_done = fed_->WaitForState(*other, {"COMPLETED"});
  ASSERT_TRUE(other_done.ok()) << other_done.status().message();
  job = fed_->Job(*id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ((*job)["state"], "PENDING");
  EXPECT_EQ((*job)["reason"], "InsufficientFunds");
  ProcResult q = fed_->Run({"squeue", "-h", "-j", std::to_string(*id), "-o", "%i %t %R"});
  EXPECT_EQ(q.out, std::to_string(*id) + " PD (InsufficientFunds)\n") << q.Describe();
  EXPECT_EQ(Field("poor", "available"), 1);
  EXPECT_EQ(Field("poor", "held"), 0);

  ProcResult topup = fed_->RunAdmin({"admin", "mint", "poor", "100"});
  ASSERT_EQ(topup.exit_code, 0) << topup.Describe();
  auto done = fed_->WaitForState(*id, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"});
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ((*done)["state"], "COMPLETED");

  JobBooks s = BooksOf(*done, "poor");
  ExpectChargedByTheRule(*done, s);
  EXPECT_EQ(Field("poor", "available"), 100 * kMicrosPerToken + 1 - s.Charge());
  EXPECT_EQ(Field("poor", "held"), 0);
  // The poor job's fetched output proves it really ran.
  ProcResult f = fed_->Run({"fetch", std::to_string(*id), "--dest", fed_->dir() + "/poor-out"},
                           {{"GM_TOKEN", poor_token}});
  ASSERT_EQ(f.exit_code, 0) << f.Describe();
  EXPECT_EQ(ReadFileOr(fed_->dir() + "/poor-out/slurm-" + std::to_string(*id) + ".out"), "paid\n");
}

}  // namespace
}  // namespace gm::itest
