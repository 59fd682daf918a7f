// Property tests of the accounting core over random event sequences:
// deposits, holds, usage records (valid, replayed, from a node outside the
// allocation), faults, requeues, slashes, stake changes, heartbeats,
// challenges, reward emissions, epochs and restarts from a snapshot.
// After every event: minted − burned == sum of balances, no balance below its
// floor, and a refused event changed nothing. At the end: every hold is
// released exactly once, a replayed record changes nothing, and the signed
// epoch chain re-derives every stored balance.
#include <cstdio>
#include <cstdlib>
#include <memory>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "accounting/accounting.h"
#include "accounting/ed25519_for_tests.h"

namespace gm::acct {

struct Op {
  int kind = 0;
  int a = 0;
  int b = 0;
  int c = 0;
};

}  // namespace gm::acct

namespace rc {
template <>
struct Arbitrary<gm::acct::Op> {
  static Gen<gm::acct::Op> arbitrary() {
    using gm::acct::Op;
    return gen::build<Op>(gen::set(&Op::kind, gen::inRange(0, 19)), gen::set(&Op::a, gen::inRange(0, 1000)),
                          gen::set(&Op::b, gen::inRange(0, 1000)), gen::set(&Op::c, gen::inRange(0, 1000)));
  }
};
}  // namespace rc

namespace gm::acct {
namespace {

constexpr Micros T = kMicrosPerToken;
const std::vector<std::string> kNodes = {"n0", "n1", "n2"};  // allocated to jobs
const std::string kRogue = "n3";                              // registered, never allocated
const std::vector<std::string> kUsers = {"user:u0", "user:u1", "user:u2"};

AccountingConfig Config() {
  AccountingConfig c;
  c.audit.epoch_max_txs = 7;
  c.genesis.total_supply = 1'000'000 * T;
  c.staking.unbonding_period_ms = 50;
  c.reputation.drain_min_jobs = 4;
  c.reputation.heartbeat_timeout_ms = 20;
  return c;
}

// Everything that must not move when an event is refused.
std::string Fingerprint(const Accounting& acc) {
  nlohmann::json j = acc.Snapshot();
  j["next_tx_id"] = acc.audit().next_tx_id();
  return j.dump();
}

class Run {
 public:
  Run() : acc_(std::make_unique<Accounting>(Config(), key_.signer())) {
    Must(acc_->ApplyGenesis());
    for (size_t i = 0; i < kNodes.size(); ++i)
      Must(acc_->UpsertNode({kNodes[i], "provider:p" + std::to_string(i), i == 0 ? "flagship" : "consumer", 0}));
    Must(acc_->UpsertNode({kRogue, "provider:rogue", "consumer", 0}));
    for (const auto& u : kUsers) Must(acc_->Deposit(u, 100 * T, u));
    for (int i = 0; i < 3; ++i) Must(acc_->Deposit("provider:p" + std::to_string(i), 50'000 * T, "p" + std::to_string(i)));
    RC_ASSERT(acc_->SetCreditLimit("user:u2", 5 * T).ok());
  }

  void Step(const Op& op) {
    now_ += 1 + op.c % 30;
    std::string before = Fingerprint(*acc_);
    Result<Effects> r = Apply(op);
    if (r.ok()) {
      Keep(*r);
    } else {
      RC_ASSERT(r.status().code() != Status::Code::kInternal);
      RC_ASSERT(r.status().code() != Status::Code::kCorruption);
      RC_ASSERT(Fingerprint(*acc_) == before);  // a refused event changes nothing
    }
    CheckInvariants();
  }

  void Finish() {
    // Every hold is released exactly once.
    std::vector<int64_t> jobs;
    for (const auto& [id, s] : acc_->escrow().jobs()) jobs.push_back(id);
    for (int64_t id : jobs) {
      const EscrowState* s = acc_->escrow().Find(id);
      if (s->attempt_open) Must(acc_->EndAttempt(id, s->attempt, {}, ++now_));
      if (!acc_->escrow().Find(id)->released) Must(acc_->CloseJob(id));
      std::string before = Fingerprint(*acc_);
      RC_ASSERT(acc_->CloseJob(id).status().code() == Status::Code::kFailedPrecondition);
      RC_ASSERT(Fingerprint(*acc_) == before);
      RC_ASSERT(acc_->ledger().Balance(EscrowAccount(id)) == 0);
      s = acc_->escrow().Find(id);
      RC_ASSERT(s->held == 0);
    }
    // Money in and out of each escrow, from the log: what went in came out.
    std::map<std::string, std::pair<Micros, Micros>> flow;
    for (const auto& t : txs_)
      for (const auto& e : t.tx.entries)
        if (TypeOf(e.account) == AccountType::kEscrow)
          (e.amount > 0 ? flow[e.account].first : flow[e.account].second) += e.amount;
    for (const auto& [account, f] : flow) RC_ASSERT(f.first == -f.second);
    // Replayed records change nothing, even after the release.
    for (const auto& rec : applied_) {
      std::string before = Fingerprint(*acc_);
      RC_ASSERT(acc_->RecordUsage(rec).status().code() == Status::Code::kAlreadyExists);
      RC_ASSERT(Fingerprint(*acc_) == before);
    }
    Must(acc_->CloseEpoch());
    VerifyOptions o;
    o.verify = key_.verifier();
    o.stored_balances = &acc_->ledger().balances();
    o.credit_limits = &acc_->ledger().credit_limits();
    VerifyReport v = VerifyChain(txs_, epochs_, o);
    for (const auto& p : v.problems) std::fprintf(stderr, "verify: %s\n", p.ToString().c_str());
    RC_ASSERT(v.ok());
    RC_ASSERT(v.unsealed == 0);
    RC_ASSERT(v.supply.minted == acc_->ledger().Supply().minted);
    RC_ASSERT(v.supply.burned == acc_->ledger().Supply().burned);
  }

 private:
  Effects Must(Result<Effects> r) {
    RC_ASSERT(r.ok());
    Keep(*r);
    return *r;
  }

  void Keep(const Effects& fx) {
    for (const auto& t : fx.txs) {
      RC_ASSERT(t.tx.Sum() == 0);
      RC_ASSERT(t.id == static_cast<int64_t>(txs_.size()) + 1);
      txs_.push_back(t);
    }
    for (const auto& e : fx.epochs) epochs_.push_back(e);
  }

  void CheckInvariants() {
    const Ledger& l = acc_->ledger();
    RC_ASSERT(l.CheckInvariants().ok());
    SupplyReport s = l.Supply();
    RC_ASSERT(s.minted - s.burned == s.sum_of_balances);
    for (const auto& [account, balance] : l.balances())
      if (account != kMintAccount) RC_ASSERT(balance >= -l.CreditLimit(account));
    for (const auto& [id, e] : acc_->escrow().jobs()) RC_ASSERT(l.Balance(EscrowAccount(id)) == e.held);
  }

  const std::string& Node(int i) const { return kNodes[static_cast<size_t>(i) % kNodes.size()]; }
  int64_t JobId(int i) const { return 1 + i % 5; }

  Result<Effects> Apply(const Op& op) {
    switch (op.kind) {
      case 0:
        return acc_->Deposit(kUsers[op.a % 3], (1 + op.b) * T / 10, "d" + std::to_string(++refs_));
      case 1:
      case 2:
        return Start(op);
      case 3:
      case 4:
      case 5:
        return Usage(op);
      case 6: {  // a replay of an applied record
        if (applied_.empty()) return Status::NotFound("nothing applied yet");
        auto r = acc_->RecordUsage(applied_[op.a % applied_.size()]);
        RC_ASSERT(r.status().code() == Status::Code::kAlreadyExists);
        return r;
      }
      case 7: {  // a record from a node outside the allocation
        const EscrowState* s = acc_->escrow().Find(JobId(op.a));
        auto r = acc_->RecordUsage({JobId(op.a), s ? s->attempt : 0, kRogue, op.b, 1 + op.c * 1000, false});
        RC_ASSERT(!r.ok());
        if (s && s->attempt_open && !s->released) RC_ASSERT(r.status().code() == Status::Code::kPermissionDenied);
        return r;
      }
      case 8:
      case 9:
        return End(op);
      case 10: {  // the job ends: its open attempt, then the release
        const EscrowState* s = acc_->escrow().Find(JobId(op.a));
        if (!s || !s->attempt_open) return acc_->CloseJob(JobId(op.a));
        auto end = acc_->EndAttempt(JobId(op.a), s->attempt, {}, now_);
        if (!end.ok()) return end;
        return Merge(std::move(end).value(), acc_->CloseJob(JobId(op.a)));
      }
      case 11:
        return acc_->NodeTimedOut(Node(op.a), JobId(op.b), op.c % 3, now_);
      case 12:
        if (op.b % 8) return Status::InvalidArgument("forgeries are rare");
        return acc_->ForgedRecord(Node(op.a), "f" + std::to_string(op.c), "test", now_);
      case 13:
        return acc_->Stake(Node(op.a), (1 + op.b) * T * 3, now_);
      case 14:
        return acc_->Unstake(Node(op.a), (1 + op.b) * T, op.c % 2 == 0, now_);
      case 15:
        return acc_->Withdraw(Node(op.a), now_);
      case 16:
        if (op.b % 2) return acc_->Heartbeat(Node(op.a), now_);
        return acc_->ChallengeResult(Node(op.a), "c" + std::to_string(op.c), op.b % 3 != 0, 100 + op.c, now_);
      case 17:
        return op.b % 2 ? acc_->EmitRewards(now_) : acc_->CloseEpoch();
      default:
        Restart();
        return Effects{};
    }
  }

  Result<Effects> Start(const Op& op) {
    int64_t job = JobId(op.a);
    const EscrowState* s = acc_->escrow().Find(job);
    int attempt = s ? s->attempt + (op.c % 7 ? 1 : 0) : 0;  // sometimes the same attempt again
    HoldRequest r;
    r.job_id = job;
    r.attempt = attempt;
    r.payer_wallet = s ? s->payer_wallet : kUsers[op.b % 3];
    r.time_limit_ms = 1000 * (1 + op.c % 20);
    std::vector<std::pair<Micros, int>> asks;
    int mask = 1 + op.b % 7;
    for (int i = 0; i < 3; ++i) {
      if (!(mask & (1 << i))) continue;
      Micros price = (1 + (op.c + i * 37) % 50) * T;
      int gpus = 1 + (op.a + i) % 2;
      r.nodes.push_back({kNodes[i], "", price, gpus});
      asks.push_back({price, gpus});
    }
    Micros worst = 0;
    for (const auto& [price, gpus] : asks) worst += ChargeFor(price, gpus, r.time_limit_ms);
    r.amount = op.a % 3 == 0 ? worst / 2 : worst;  // a price cap below the asks, sometimes
    return acc_->StartAttempt(r);
  }

  Result<Effects> Usage(const Op& op) {
    int64_t job = JobId(op.a);
    const EscrowState* s = acc_->escrow().Find(job);
    if (!s || s->meters.empty()) return acc_->RecordUsage({job, 0, Node(op.b), op.b, 1000, false});
    const NodeMeter& m = s->meters[static_cast<size_t>(op.b) % s->meters.size()];
    UsageRecord rec{job, s->attempt, m.node.node_id, ++seq_, 1 + int64_t{op.c} * 37, op.b % 9 == 0};
    auto r = acc_->RecordUsage(rec);
    if (r.ok()) applied_.push_back(rec);
    return r;
  }

  Result<Effects> End(const Op& op) {
    int64_t job = JobId(op.a);
    const EscrowState* s = acc_->escrow().Find(job);
    if (!s || !s->attempt_open) return acc_->EndAttempt(job, s ? s->attempt : 0, {}, now_);
    std::vector<std::string> faulty;
    for (size_t i = 0; i < s->meters.size(); ++i)
      if ((op.b >> i) & 1) faulty.push_back(s->meters[i].node.node_id);
    if (op.kind == 9 && !faulty.empty()) {  // a timeout first
      int attempt = s->attempt;
      auto slash = acc_->NodeTimedOut(faulty[0], job, attempt, now_);
      if (slash.ok()) return Merge(std::move(slash).value(), acc_->EndAttempt(job, attempt, faulty, now_));
    }
    return acc_->EndAttempt(job, s->attempt, faulty, now_);
  }

  // Two events in a row: the first happened whatever the second says.
  static Result<Effects> Merge(Effects first, Result<Effects> second) {
    if (!second.ok()) return first;
    for (auto& t : second->txs) first.txs.push_back(std::move(t));
    for (auto& e : second->epochs) first.epochs.push_back(std::move(e));
    return first;
  }

  void Restart() {
    nlohmann::json j = acc_->Snapshot();
    auto next = std::make_unique<Accounting>(Config(), key_.signer());
    Status st = next->Restore(nlohmann::json::parse(j.dump()).get<AccountingSnapshot>());
    RC_ASSERT(st.ok());
    RC_ASSERT(Fingerprint(*next) == Fingerprint(*acc_));
    acc_ = std::move(next);
  }

  TestEd25519 key_;
  std::unique_ptr<Accounting> acc_;
  std::vector<LoggedTx> txs_;
  std::vector<Epoch> epochs_;
  std::vector<UsageRecord> applied_;
  int64_t now_ = 0;
  int64_t seq_ = 0;
  int refs_ = 0;
};

// 200 sequences of up to 400 events (RC_PARAMS in the environment overrides the count).
const bool kParams = [] { return setenv("RC_PARAMS", "max_success=200", /*overwrite=*/0) == 0; }();

RC_GTEST_PROP(AccountingProperty, InvariantsHoldOverRandomEventSequences, ()) {
  const size_t n = *rc::gen::inRange<size_t>(0, 400);
  const auto ops = *rc::gen::container<std::vector<Op>>(n, rc::gen::arbitrary<Op>());
  Run run;
  for (const auto& op : ops) run.Step(op);
  run.Finish();
}

}  // namespace
}  // namespace gm::acct
