// bench_ledger: figures of the accounting core (issue 6), pure part.
//
//   settlements_per_s  usage records settled per second by the pure core:
//                      Accounting::RecordUsage on records of running jobs
//                      (escrow book, ledger checks, the audit leaf hash, and an
//                      Ed25519-signed epoch every 1,000 transactions). Jobs
//                      are held, ended and released as they fill up, inside
//                      the timed loop. Target ≥ 100,000/s. The best of 5
//                      rounds (the median is printed too).
//   verify_1m_s        VerifyChain over 1,000,000 transactions already in
//                      memory: re-derive every balance, every leaf hash, Merkle
//                      root and chain root, check every epoch signature and
//                      compare with the stored balances. Reading them from a
//                      store is not included (the store side measures it).
//                      Target < 2 s. The best of 3 runs (the slowest is
//                      printed too).
//   sqlite_records_per_s  usage records settled by the core AND stored through
//   pg_records_per_s      the real store (LedgerStore::Save, as gmctld stores
//                      them: transaction, entries, balances, escrow and node
//                      state, the sacct/sreport usage row, sealed epochs) in
//                      batched database transactions of --batch records
//                      (default 5,000; a job's escrow state is written once
//                      per batch, and the 1,000 concurrent jobs are all
//                      touched by every 1,000 records), on
//                      SQLite (WAL, synchronous=FULL, in a temporary
//                      directory) and on PostgreSQL (a throw-away server from
//                      Debian's packages, or --pg CONNINFO). Targets ≥ 20,000/s
//                      and ≥ 5,000/s. pg_records_per_s is null (and the reason
//                      printed) when no PostgreSQL server can be started.
//   sqlite_read_1m_s   reading the stored chain back for `gm ledger verify`
//                      (transactions, entries, epochs, balances), scaled to
//                      1,000,000 transactions: the part verify_1m_s leaves out.
// The last line is one JSON object with these keys.
//
// Usage: bench_ledger [--records N] [--verify-txs N] [--store-records N] [--batch N] [--pg CONNINFO]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <filesystem>

#include "accounting/accounting.h"
#include "accounting/ed25519_for_tests.h"
#include "common/crypto.h"
#include "common/sql.h"
#include "scheduler/ledger_store.h"
#include "tests/support/pg_server.h"

using namespace gm::acct;
using Clock = std::chrono::steady_clock;

namespace {

constexpr gm::Micros T = gm::kMicrosPerToken;
constexpr int kUsers = 500;
constexpr int kNodes = 200;
constexpr int kConcurrentJobs = 1000;
constexpr int kRecordsPerJob = 500;
constexpr int64_t kRecordGpuMs = 60'000;  // one GPU-minute per record

double Seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

void Die(const gm::Status& s, const char* what) {
  std::fprintf(stderr, "bench_ledger: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

// Drives the facade like gmctld would: jobs start, stream records, end.
class Workload {
 public:
  // With `sink`, every call's Effects are kept there for the store, and
  // released jobs are forgotten only by ForgetReleased (after they are stored).
  Workload(Accounting& acc, std::vector<LoggedTx>* txs, std::vector<Epoch>* epochs,
           std::vector<Effects>* sink = nullptr)
      : acc_(acc), txs_(txs), epochs_(epochs), sink_(sink) {
    Keep(acc_.ApplyGenesis(), "genesis");
    for (int u = 0; u < kUsers; ++u) Keep(acc_.Deposit(User(u), 1'000'000 * T, "u" + std::to_string(u)), "deposit");
    for (int n = 0; n < kNodes; ++n)
      Keep(acc_.UpsertNode({Node(n), "provider:p" + std::to_string(n % 50), n % 3 ? "datacenter" : "consumer", 0}),
           "node");
    slots_.resize(kConcurrentJobs);
    for (auto& s : slots_) StartJob(s);
  }

  // Settles one record; now and then a job finishes and another starts.
  void Step() {
    Slot& s = slots_[next_slot_++ % slots_.size()];
    const std::string& node = s.nodes[s.records % s.nodes.size()];
    Keep(acc_.RecordUsage({s.job, 0, node, ++seq_, kRecordGpuMs, false}), "usage");
    ++settled_;
    if (++s.records == kRecordsPerJob) {
      Keep(acc_.EndAttempt(s.job, 0, {}, ++now_), "end");
      Keep(acc_.CloseJob(s.job), "close");
      if (sink_) forget_.push_back(s.job);
      else if (gm::Status st = acc_.ForgetJob(s.job); !st.ok()) Die(st, "forget");
      StartJob(s);
    }
  }

  void ForgetReleased() {
    for (int64_t job : forget_)
      if (gm::Status st = acc_.ForgetJob(job); !st.ok()) Die(st, "forget");
    forget_.clear();
  }
  int64_t settled() const { return settled_; }
  size_t logged() const { return logged_; }

 private:
  struct Slot {
    int64_t job = 0;
    std::vector<std::string> nodes;
    int records = 0;
  };

  static std::string User(int u) { return "user:u" + std::to_string(u); }
  static std::string Node(int n) { return "n" + std::to_string(n); }

  void StartJob(Slot& s) {
    s.job = ++job_;
    s.records = 0;
    s.nodes.clear();
    HoldRequest r;
    r.job_id = s.job;
    r.payer_wallet = User(static_cast<int>(s.job % kUsers));
    r.time_limit_ms = 24 * 3'600'000LL;
    int width = 1 + static_cast<int>(s.job % 2);
    for (int i = 0; i < width; ++i) {
      std::string node = Node(static_cast<int>((s.job * 7 + i * 13) % kNodes));
      r.nodes.push_back({node, "", (1 + s.job % 5) * T, 2});
      s.nodes.push_back(node);
    }
    for (const auto& n : r.nodes) r.amount += ChargeFor(n.price_per_gpu_hour, n.gpus, r.time_limit_ms);
    Keep(acc_.StartAttempt(r), "hold");
  }

  void Keep(gm::Result<Effects> r, const char* what) {
    if (!r.ok()) Die(r.status(), what);
    logged_ += r->txs.size();
    if (txs_)
      for (auto& t : r->txs) txs_->push_back(std::move(t));
    if (epochs_)
      for (auto& e : r->epochs) epochs_->push_back(std::move(e));
    if (sink_) sink_->push_back(std::move(r).value());
  }

  Accounting& acc_;
  std::vector<LoggedTx>* txs_;
  std::vector<Epoch>* epochs_;
  std::vector<Effects>* sink_;
  std::vector<int64_t> forget_;
  std::vector<Slot> slots_;
  size_t next_slot_ = 0;
  int64_t job_ = 0, seq_ = 0, now_ = 0, settled_ = 0;
  size_t logged_ = 0;
};

AccountingConfig Config() {
  AccountingConfig c;
  c.audit.epoch_max_txs = 1000;
  return c;
}

// The escrow book and ledger alone, without the audit trail: where the time goes.
double BookOnlyPerSecond(int64_t n) {
  Ledger ledger;
  if (auto s = ledger.Apply(MintTx("user:u", 1'000'000'000 * T, "m")); !s.ok()) Die(s, "mint");
  EscrowBook book;
  int64_t job = 0, seq = 0;
  auto start = [&] {
    ++job;
    HoldRequest r{job, 0, "user:u", 0, 24 * 3'600'000LL, {{"n1", "provider:a", 2 * T, 2}, {"n2", "provider:b", 3 * T, 2}}};
    r.amount = ChargeFor(2 * T, 2, r.time_limit_ms) + ChargeFor(3 * T, 2, r.time_limit_ms);
    if (auto h = book.Hold(ledger, r); !h.ok()) Die(h.status(), "hold");
  };
  start();
  auto t0 = Clock::now();
  for (int64_t i = 0; i < n; ++i) {
    auto s = book.SettleUsage(ledger, {job, 0, i % 2 ? "n1" : "n2", ++seq, kRecordGpuMs, false});
    if (!s.ok()) Die(s.status(), "settle");
    if ((i + 1) % kRecordsPerJob == 0) {
      if (auto st = book.EndAttempt(job, 0); !st.ok()) Die(st, "end");
      if (auto r = book.Release(ledger, job); !r.ok()) Die(r.status(), "release");
      if (auto st = book.Forget(job); !st.ok()) Die(st, "forget");
      start();
    }
  }
  return static_cast<double>(n) / Seconds(t0, Clock::now());
}

// The usage row gmctld writes next to each settled record (sacct, sreport).
gm::UsageRow UsageRowOf(const LoggedTx& t) {
  gm::UsageRow u;
  u.ref = t.tx.ref;
  u.job_id = gm::JobOfTx(t.tx);
  u.node_id = "n";
  u.payer = "u";
  u.gpu_model = "H100";
  u.gpu_ms = kRecordGpuMs;
  for (const auto& e : t.tx.entries) {
    AccountType ty = TypeOf(e.account);
    if (ty == AccountType::kEscrow) u.charged = -e.amount;
    else if (ty == AccountType::kProvider) u.provider_share = e.amount, u.provider = e.account.substr(9);
    else if (ty == AccountType::kTreasury || ty == AccountType::kBurn) u.fee += e.amount;
    if (ty == AccountType::kBurn) u.burned = e.amount;
  }
  return u;
}

struct StoreFigures {
  double records_per_s = 0;
  double read_1m_s = 0;
};

// Records settled by the core and stored through LedgerStore in batches.
gm::Result<StoreFigures> StoreRate(const std::string& spec, int64_t records, int batch, const TestEd25519& key) {
  GM_ASSIGN_OR_RETURN(auto db, gm::OpenDatabase(spec));
  gm::LedgerStore store(*db);
  GM_RETURN_IF_ERROR(store.Migrate());
  Accounting acc(Config(), key.signer());
  std::vector<Effects> fx;
  Workload w(acc, nullptr, nullptr, &fx);
  int64_t now = 0;
  auto flush = [&]() -> gm::Status {
    std::vector<const Effects*> ptrs;
    std::vector<gm::UsageRow> usage;
    for (const auto& f : fx) {
      ptrs.push_back(&f);
      for (const auto& t : f.txs)
        if (t.tx.kind == "usage") usage.push_back(UsageRowOf(t));
    }
    gm::SqlTransaction tx(*db);
    GM_RETURN_IF_ERROR(tx.begin_status());
    GM_RETURN_IF_ERROR(store.Save(ptrs, acc, ++now, usage));
    GM_RETURN_IF_ERROR(tx.Commit());
    fx.clear();
    w.ForgetReleased();
    return gm::Status::OK();
  };
  GM_RETURN_IF_ERROR(flush());  // genesis, deposits, nodes, the first holds
  auto t0 = Clock::now();
  for (int64_t i = 0; i < records; ++i) {
    w.Step();
    if ((i + 1) % batch == 0) GM_RETURN_IF_ERROR(flush());
  }
  GM_RETURN_IF_ERROR(flush());
  StoreFigures f;
  f.records_per_s = static_cast<double>(records) / Seconds(t0, Clock::now());
  double read_s = 0;
  GM_ASSIGN_OR_RETURN(VerifyReport v, store.Verify(key.verifier(), 5, &read_s));
  if (!v.ok()) return gm::Status::Internal("the stored chain does not verify: " + v.problems[0].ToString());
  f.read_1m_s = read_s * 1e6 / static_cast<double>(v.transactions);
  return f;
}

std::string OrNull(double v, const char* fmt) {
  if (v <= 0) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t records = 500'000, verify_txs = 1'000'000, store_records = 100'000;
  int batch = 5000;
  std::string pg_conn;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--records")) records = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--verify-txs")) verify_txs = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--store-records")) store_records = std::atoll(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::max(1, std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--pg")) pg_conn = argv[i + 1];
  }
  TestEd25519 key;

  // 1. Settlements through the facade: the best of kRounds rounds, so that a
  // neighbour's burst on a shared machine does not decide the figure.
  constexpr int kRounds = 5;
  std::vector<double> rates;
  {
    Accounting acc(Config(), key.signer());
    Workload w(acc, nullptr, nullptr);
    for (int i = 0; i < 20'000; ++i) w.Step();  // warm up
    for (int round = 0; round < kRounds; ++round) {
      auto t0 = Clock::now();
      for (int64_t i = 0; i < records / kRounds; ++i) w.Step();
      rates.push_back(static_cast<double>(records / kRounds) / Seconds(t0, Clock::now()));
    }
  }
  std::sort(rates.begin(), rates.end());
  double settle_rate = rates.back(), settle_median = rates[rates.size() / 2];
  double book_rate = 0;
  for (int round = 0; round < kRounds; ++round) book_rate = std::max(book_rate, BookOnlyPerSecond(records / kRounds));

  // 2. A chain of verify_txs transactions, then VerifyChain over it.
  std::vector<LoggedTx> txs;
  std::vector<Epoch> epochs;
  txs.reserve(static_cast<size_t>(verify_txs) + 4096);
  Accounting acc(Config(), key.signer());
  Workload w(acc, &txs, &epochs);
  auto g0 = Clock::now();
  while (static_cast<int64_t>(w.logged()) < verify_txs) w.Step();
  if (auto e = acc.CloseEpoch(); e.ok())
    for (auto& x : e->epochs) epochs.push_back(x);
  double gen_s = Seconds(g0, Clock::now());
  VerifyOptions o;
  o.verify = key.verifier();
  o.stored_balances = &acc.ledger().balances();
  constexpr int kVerifyRounds = 3;
  std::vector<double> verify_times;
  VerifyReport report;
  for (int round = 0; round < kVerifyRounds; ++round) {
    auto v0 = Clock::now();
    report = VerifyChain(txs, epochs, o);
    verify_times.push_back(Seconds(v0, Clock::now()));
  }
  std::sort(verify_times.begin(), verify_times.end());
  double verify_s = verify_times.front();
  if (!report.ok()) {
    std::fprintf(stderr, "bench_ledger: the generated chain does not verify: %s\n",
                 report.problems[0].ToString().c_str());
    return 1;
  }
  double verify_1m_s = verify_s * 1e6 / static_cast<double>(txs.size());

  std::printf("bench_ledger: pure accounting core, one thread\n");
  std::printf("%-62s %14s %10s\n", "figure", "value", "target");
  std::printf("%-62s %14.0f %10s\n", "settlements/s (Accounting::RecordUsage, audit + signed epochs)", settle_rate,
              ">= 100000");
  std::printf("%-62s %14.0f %10s\n", "  median of the rounds", settle_median, "");
  std::printf("%-62s %14.0f %10s\n", "settlements/s (EscrowBook + Ledger only, no audit)", book_rate, "");
  std::printf("%-62s %14zu %10s\n", "transactions verified", txs.size(), "");
  std::printf("%-62s %14zu %10s\n", "epochs verified (Ed25519 signatures)", epochs.size(), "");
  std::printf("%-62s %14.3f %10s\n", "VerifyChain time (s)", verify_s, "");
  std::printf("%-62s %14.3f %10s\n", "verify, scaled to 1,000,000 transactions (s)", verify_1m_s, "< 2");
  std::printf("%-62s %14.3f %10s\n", "  slowest of the rounds (s)", verify_times.back(), "");
  std::printf("%-62s %14.3f %10s\n", "generating the chain through the facade (s, not a target)", gen_s, "");
  std::printf("%-62s %14lld %10s\n", "supply minted (micro-tokens)", static_cast<long long>(report.supply.minted), "");
  // 3. Persisted: the same workload through the real store.
  namespace fs = std::filesystem;
  fs::path tmp = fs::temp_directory_path() / ("bench-ledger-" + gm::RandomHex(4));
  fs::create_directories(tmp);
  auto lite = StoreRate("sqlite:" + (tmp / "ledger.db").string(), store_records, batch, key);
  fs::remove_all(tmp);
  if (!lite.ok()) Die(lite.status(), "sqlite store");
  StoreFigures pg;
  if (pg_conn.empty()) {
    auto server = gm::testing::PgServer::Get();
    if (server.ok()) {
      auto conn = (*server)->NewDatabase();
      if (conn.ok()) pg_conn = *conn;
      else std::fprintf(stderr, "bench_ledger: no PostgreSQL database: %s\n", conn.status().ToString().c_str());
    } else {
      std::fprintf(stderr, "bench_ledger: no PostgreSQL server: %s\n", server.status().ToString().c_str());
    }
  }
  if (!pg_conn.empty()) {
    auto p = StoreRate(pg_conn, store_records / 2, batch, key);
    if (!p.ok()) Die(p.status(), "postgresql store");
    pg = *p;
  }
  std::printf("%-62s %14.0f %10s\n", "records/s settled and stored, SQLite (batches of --batch)", lite->records_per_s,
              ">= 20000");
  std::printf("%-62s %14s %10s\n", "records/s settled and stored, PostgreSQL", OrNull(pg.records_per_s, "%.0f").c_str(),
              ">= 5000");
  std::printf("%-62s %14.3f %10s\n", "reading the chain from SQLite, scaled to 1,000,000 txs (s)", lite->read_1m_s, "");
  std::printf("%-62s %14s %10s\n", "reading the chain from PostgreSQL, scaled to 1,000,000 txs (s)",
              OrNull(pg.read_1m_s, "%.3f").c_str(), "");
  std::printf("{\"settlements_per_s\": %.0f, \"sqlite_records_per_s\": %.0f, \"pg_records_per_s\": %s, "
              "\"verify_1m_s\": %.3f, \"sqlite_read_1m_s\": %.3f}\n",
              settle_rate, lite->records_per_s, OrNull(pg.records_per_s, "%.0f").c_str(), verify_1m_s, lite->read_1m_s);
  return 0;
}
