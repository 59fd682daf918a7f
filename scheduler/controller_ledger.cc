// gmctld's money: the accounting core wired to the store and the API. Every
// accounting call's Effects are stored by Persist inside the caller's
// database transaction, together with the job or node change that caused
// them (accounting/accounting.h lists which call answers which event).
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/http.h"
#include "common/money.h"
#include "scheduler/controller.h"

namespace gm {

namespace fs = std::filesystem;
using json = nlohmann::json;
using sched::Job;

namespace {

int64_t ParamInt(const httplib::Request& r, const char* key, int64_t dflt) {
  if (!r.has_param(key)) return dflt;
  const std::string v = r.get_param_value(key);
  try {
    size_t used = 0;
    int64_t x = std::stoll(v, &used);
    if (used != v.size()) throw std::invalid_argument(v);
    return x;
  } catch (...) {
    throw std::invalid_argument(std::string("'") + key + "' must be an integer, not '" + v + "'");
  }
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

json ReportJson(const acct::VerifyReport& r) {
  json problems = json::array();
  for (const auto& p : r.problems)
    problems.push_back({{"epoch", p.epoch}, {"tx_id", p.tx_id}, {"account", p.account}, {"check", p.check},
                        {"detail", p.detail}, {"text", p.ToString()}});
  return json{{"ok", r.ok()}, {"transactions", r.transactions}, {"epochs", r.epochs}, {"unsealed", r.unsealed},
              {"supply", r.supply}, {"problems", problems}, {"truncated", r.truncated}};
}

}  // namespace

// ---- start-up ------------------------------------------------------------------------

Status Controller::OpenAccounting() {
  GM_RETURN_IF_ERROR(acct::ValidateConfig(cfg_.accounting));
  // The controller's Ed25519 key signs every audit epoch; its public key is
  // what auditors check the signatures with (STATE/controller.pub).
  std::string key_path = cfg_.state_dir + "/controller.key";
  if (!fs::exists(key_path)) GM_RETURN_IF_ERROR(GenerateEd25519Key(key_path));
  GM_ASSIGN_OR_RETURN(SigningKey key, LoadSigningKey(key_path));
  signing_key_ = std::make_unique<SigningKey>(std::move(key));
  controller_pubkey_ = signing_key_->PublicKeyHex();
  {
    std::ofstream pub(cfg_.state_dir + "/controller.pub");
    pub << controller_pubkey_ << "\n";
  }
  const SigningKey* signer = signing_key_.get();
  acct_ = std::make_unique<acct::Accounting>(cfg_.accounting,
                                             [signer](const std::string& m) { return signer->Sign(m); });
  LedgerStore& ls = store_->ledger();
  GM_ASSIGN_OR_RETURN(acct::AccountingSnapshot snap, ls.LoadSnapshot());
  Booked b;
  if (!snap.genesis_done) {
    if (!snap.open_txs.empty() || snap.last_epoch)
      return Status::Corruption("the ledger has transactions but no genesis");
    GM_RETURN_IF_ERROR(Book(acct_->ApplyGenesis(), b));
    spdlog::info("genesis: minted {} tokens ({} to the rewards pool)",
                 FormatTokens(cfg_.accounting.genesis.total_supply),
                 FormatTokens(acct_->ledger().Balance(acct::kRewardsPoolAccount)));
  } else {
    Status s = acct_->Restore(snap);
    if (!s.ok()) return Status::Corruption("the stored ledger is inconsistent: " + s.message());
  }
  Status inv = acct_->ledger().CheckInvariants();
  if (!inv.ok()) return Status::Corruption("the ledger does not add up: " + inv.message());
  // Nodes registered before accounting knew them (or after a lost write).
  for (const auto& n : core_.nodes())
    if (!acct_->FindNode(n.id))
      GM_RETURN_IF_ERROR(Book(acct_->UpsertNode({n.id, acct::ProviderWallet(n.provider), TierOf(n),
                                                 static_cast<int64_t>(n.tflops * 1000)}),
                              b));
  {
    SqlTransaction tx(store_->db());
    GM_RETURN_IF_ERROR(tx.begin_status());
    Persist(b);
    GM_RETURN_IF_ERROR(tx.Commit());
  }
  GM_ASSIGN_OR_RETURN(money_, ls.LoadJobMoney());
  int64_t now = clock_->NowUnixMs();
  last_epoch_close_ms_ = now;
  GM_ASSIGN_OR_RETURN(next_reward_ms_, ls.Meta("next_reward_ms", now + cfg_.reward_epoch_seconds * 1000));
  acct::SupplyReport sup = acct_->ledger().Supply();
  spdlog::info("ledger: {} transactions, supply minted {} burned {} (controller key {})",
               acct_->audit().next_tx_id() - 1, FormatTokens(sup.minted), FormatTokens(sup.burned),
               controller_pubkey_.substr(0, 16));
  return Status::OK();
}

// ---- booking and persistence -------------------------------------------------------------

Status Controller::Book(Result<acct::Effects> r, Booked& b) {
  if (!r.ok()) return r.status();
  b.effects.push_back(std::move(r).value());
  return Status::OK();
}

void Controller::Persist(Booked& b) {
  std::vector<const acct::Effects*> batch;
  for (const auto& fx : b.effects) batch.push_back(&fx);
  CheckOk(store_->ledger().Save(batch, *acct_, clock_->NowUnixMs(), b.usage), "save ledger");
  std::set<std::string> nodes;
  for (const auto& fx : b.effects) {
    for (const auto& t : fx.txs)
      if (int64_t job = JobOfTx(t.tx)) AddToJobMoney(t.tx, job, money_[job]);
    nodes.insert(fx.nodes.begin(), fx.nodes.end());
  }
  for (const auto& n : nodes) SyncNode(n);
}

void Controller::SyncNode(const std::string& id) {
  const acct::NodeAccount* a = acct_->FindNode(id);
  const sched::Node* n = core_.FindNode(id);
  if (!a || !n) return;
  double rep = acct_->Reputation(id);
  // The matcher asks for level 1 unless a job or partition wants more; a
  // verified node without stake is matched as level 1 (see INSTALL.md).
  int trust = std::max(1, acct_->Trust(id));
  Micros stake = acct::BondedStake(acct_->ledger(), id);
  bool ban = a->reputation.banned && n->verification != sched::NodeTrust::kBanned;
  bool drain = a->reputation.draining && !n->drain;
  if (rep == n->reputation && trust == n->trust_level && stake == n->stake && !ban && !drain) return;
  core_.MutateNode(id, [&](sched::Node& m) {
    m.reputation = rep;
    m.trust_level = trust;
    m.stake = stake;
    if (ban) m.verification = sched::NodeTrust::kBanned;
    if (drain) {
      m.drain = true;
      m.drain_reason = "failure rate over the limit: drained for review";
    }
  });
  CheckOk(store_->SaveNode(*core_.FindNode(id)), "save node");
  if (ban) spdlog::warn("node {} is BANNED (forged usage record)", n->name);
  if (drain) spdlog::warn("node {} drained for review (failure rate)", n->name);
}

std::string Controller::TierOf(const sched::Node& n) const {
  // Configured first (case-insensitive substring of the GPU model), then the
  // built-in rule: flagship data-centre parts, other data-centre parts, the rest.
  std::string model = Lower(n.gpu_model);
  for (const auto& [pattern, tier] : cfg_.gpu_tiers)
    if (!pattern.empty() && model.find(Lower(pattern)) != std::string::npos) return tier;
  for (const char* f : {"h100", "h200", "b100", "b200", "gb200", "mi300"})
    if (model.find(f) != std::string::npos) return "flagship";
  for (const char* d : {"a100", "a800", "h800", "l40", "a40", "a30", "a10", "l4", "v100", "t4", "mi250", "mi210"})
    if (model.find(d) != std::string::npos) return "datacenter";
  return "consumer";
}

void Controller::SettleServed(const Job& job, int64_t served_ms, bool provider_fault, Booked& b) {
  // The batch node's signed record covers the whole gang (every node of a
  // job serves the same wall time); each allocated node is settled as its
  // own record, id NODE:ATTEMPT+1 within the job, so an attempt is settled
  // once per node however often its end is reported.
  const acct::EscrowState* e = acct_->escrow().Find(job.id);
  for (const auto& a : job.alloc) {
    int64_t gpu_ms = static_cast<int64_t>(a.gpu_indices.size()) * served_ms;
    if (gpu_ms <= 0) continue;
    acct::UsageRecord rec{job.id, job.attempt, a.node_id, job.attempt + 1, gpu_ms, provider_fault};
    auto r = acct_->RecordUsage(rec);
    if (r.status().code() == Status::Code::kAlreadyExists) continue;  // settled before
    if (!r.ok()) {
      spdlog::warn("job {}: usage of node {} not settled: {}", job.id, a.node_id, r.status().ToString());
      continue;
    }
    for (const auto& t : r->txs) {
      const sched::Node* n = core_.FindNode(a.node_id);
      UsageRow u{t.tx.ref, clock_->NowUnixMs(), job.id, a.node_id, job.payer, n ? n->provider : "",
                 n ? n->gpu_model : "", gpu_ms, 0, 0, 0, 0};
      for (const auto& en : t.tx.entries) {
        acct::AccountType ty = acct::TypeOf(en.account);
        if (en.account == acct::EscrowAccount(job.id)) u.charged = -en.amount;
        else if (ty == acct::AccountType::kProvider) u.provider_share += en.amount;
        else if (ty == acct::AccountType::kTreasury) u.fee += en.amount;
        else if (ty == acct::AccountType::kBurn) {
          u.fee += en.amount;
          u.burned += en.amount;
        }
      }
      // GPU-ms over the attempt's limit are not charged: report what was.
      if (e)
        for (const auto& m : e->meters)
          if (m.node.node_id == a.node_id && m.ignored_gpu_ms > 0) u.gpu_ms = std::max<int64_t>(0, gpu_ms - m.ignored_gpu_ms);
      b.usage.push_back(std::move(u));
    }
    b.effects.push_back(std::move(r).value());
  }
}

void Controller::EndAttempt(const Job& job, const std::vector<std::string>& faulty, Booked& b) {
  const acct::EscrowState* e = acct_->escrow().Find(job.id);
  if (!e || !e->attempt_open) return;  // never started in accounting (a refused start)
  Status s = Book(acct_->EndAttempt(job.id, e->attempt, faulty, clock_->NowUnixMs()), b);
  if (!s.ok()) spdlog::warn("job {}: end of attempt {} not booked: {}", job.id, e->attempt, s.ToString());
}

void Controller::CloseJobIfOver(const Job& job, Booked& b) {
  if (!sched::IsTerminal(job.state)) return;
  const acct::EscrowState* e = acct_->escrow().Find(job.id);
  if (!e || e->released) return;
  if (e->attempt_open) EndAttempt(job, {}, b);
  Status s = Book(acct_->CloseJob(job.id), b);
  if (!s.ok()) spdlog::error("job {}: its hold was not released: {}", job.id, s.ToString());
}

void Controller::ForgetIfReleased(int64_t job_id) {
  const acct::EscrowState* e = acct_->escrow().Find(job_id);
  if (e && e->released) (void)acct_->ForgetJob(job_id);  // stored: keep memory bounded
}

void Controller::Forged(const std::string& node_id, const std::string& record_id, const std::string& why) {
  Booked b;
  Status s = Book(acct_->ForgedRecord(node_id, record_id, why, clock_->NowUnixMs()), b);
  if (!s.ok()) {
    if (s.code() != Status::Code::kAlreadyExists) spdlog::warn("node {}: forgery not booked: {}", node_id, s.ToString());
    return;
  }
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  Persist(b);
  CheckOk(tx.Commit(), "commit");
  spdlog::warn("node {} sent a forged usage record {}: slashed 50 % and banned", node_id, record_id);
}

void Controller::PeriodicLedgerWork(int64_t now) {
  Booked b;
  // An audit epoch closes at epoch_max_txs transactions (the core does that)
  // or after epoch_seconds, whichever comes first.
  if (now - last_epoch_close_ms_ >= cfg_.epoch_seconds * 1000) {
    last_epoch_close_ms_ = now;
    if (acct_->audit().open_count() > 0) CheckOk(Book(acct_->CloseEpoch(), b), "close epoch");
  }
  bool reward = now >= next_reward_ms_;
  if (reward) {
    CheckOk(Book(acct_->EmitRewards(now), b), "emit rewards");
    next_reward_ms_ = now + cfg_.reward_epoch_seconds * 1000;
  }
  if (b.effects.empty()) return;
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  Persist(b);
  if (reward) CheckOk(store_->ledger().SetMeta("next_reward_ms", next_reward_ms_), "save reward time");
  CheckOk(tx.Commit(), "commit");
  for (const auto& fx : b.effects) {
    for (const auto& e : fx.epochs)
      spdlog::info("audit epoch {} sealed: transactions {}..{}, root {}", e.number, e.first_tx_id, e.last_tx_id,
                   e.chain_root.substr(0, 16));
    if (fx.rewards)
      spdlog::info("reward epoch {}: paid {} of an emission of {}", fx.rewards->epoch, FormatTokens(fx.rewards->paid),
                   FormatTokens(fx.rewards->emission));
  }
}

// ---- API ------------------------------------------------------------------------------------

void Controller::LedgerRoutes(httplib::Server& s) {
  auto bind = [this](auto fn) {
    return [this, fn](const httplib::Request& r, const Caller& c) { return (this->*fn)(r, c); };
  };
  const std::vector<std::string> api = {"api"};
  Handle(s, "GET", "/api/v1/ledger/supply", api, bind(&Controller::LedgerSupply));
  Handle(s, "GET", "/api/v1/ledger/verify", api, bind(&Controller::LedgerVerify));
  Handle(s, "GET", R"(/api/v1/ledger/epochs/(-?\d+))", api, bind(&Controller::LedgerExport));
  Handle(s, "GET", R"(/api/v1/ledger/tx/(-?\d+)/proof)", api, bind(&Controller::LedgerProve));
  Handle(s, "GET", "/api/v1/rewards/preview", api, bind(&Controller::RewardsPreview));
  Handle(s, "POST", "/api/v1/stake/(stake|unstake|withdraw)", api, bind(&Controller::StakeOp));
  Handle(s, "GET", "/api/v1/reports", api, bind(&Controller::Report));
}

Result<json> Controller::LedgerSupply(const httplib::Request& r, const Caller& c) {
  const acct::Ledger& l = acct_->ledger();
  json j = l.Supply();  // minted, burned, circulating, sum_of_balances
  j["balanced"] = l.Supply().balanced();
  j["treasury"] = l.Balance(acct::kTreasuryAccount);
  j["rewards_pool"] = l.Balance(acct::kRewardsPoolAccount);
  j["transactions"] = acct_->audit().next_tx_id() - 1;
  j["epochs"] = acct_->audit().last_epoch() ? acct_->audit().last_epoch()->number : 0;
  return j;
}

Result<json> Controller::LedgerVerify(const httplib::Request& r, const Caller& c) {
  if (c.role != "admin") return Status::PermissionDenied("only an admin may verify the ledger");
  // The key to check signatures with: the controller's own, or one the
  // auditor names (?pubkey=HEX, compared out of band with STATE/controller.pub).
  std::string pubkey = r.has_param("pubkey") ? r.get_param_value("pubkey") : controller_pubkey_;
  auto bytes = HexToBytes(pubkey);
  if (!bytes || bytes->size() != 32) return Status::InvalidArgument("pubkey must be 64 hex digits (an Ed25519 key)");
  int64_t max_problems = std::clamp<int64_t>(ParamInt(r, "max_problems", 20), 1, 1000);
  double read_s = 0;
  auto t0 = std::chrono::steady_clock::now();
  GM_ASSIGN_OR_RETURN(acct::VerifyReport report,
                      store_->ledger().Verify(
                          [pubkey](const std::string& m, const std::string& sig) { return VerifyEd25519(pubkey, m, sig); },
                          static_cast<size_t>(max_problems), &read_s));
  double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  json j = ReportJson(report);
  j["pubkey"] = pubkey;
  j["read_s"] = read_s;
  j["verify_s"] = total_s - read_s;
  return j;
}

Result<json> Controller::LedgerExport(const httplib::Request& r, const Caller& c) {
  if (c.role != "admin") return Status::PermissionDenied("only an admin may export epochs");
  int64_t number = std::stoll(r.matches[1]);
  if (number < 1) return Status::InvalidArgument("epoch numbers start at 1");
  GM_ASSIGN_OR_RETURN(auto epoch, store_->ledger().LoadEpoch(number));
  if (!epoch) {
    int64_t last = acct_->audit().last_epoch() ? acct_->audit().last_epoch()->number : 0;
    return Status::NotFound("no epoch " + std::to_string(number) + " (the last sealed epoch is " +
                            std::to_string(last) + ")");
  }
  GM_ASSIGN_OR_RETURN(auto txs, store_->ledger().LoadTxs(epoch->first_tx_id, epoch->last_tx_id));
  GM_ASSIGN_OR_RETURN(json out, acct::ExportEpoch(*epoch, txs));
  out["pubkey"] = controller_pubkey_;
  return out;
}

Result<json> Controller::LedgerProve(const httplib::Request& r, const Caller& c) {
  if (c.role != "admin") return Status::PermissionDenied("only an admin may print proofs");
  int64_t id = std::stoll(r.matches[1]);
  if (id < 1) return Status::InvalidArgument("transaction ids start at 1");
  if (id >= acct_->audit().next_tx_id()) return Status::NotFound("no transaction " + std::to_string(id));
  GM_ASSIGN_OR_RETURN(auto epoch, store_->ledger().EpochOf(id));
  if (!epoch)
    return Status::FailedPrecondition("transaction " + std::to_string(id) +
                                      " is not sealed in an epoch yet (epochs close every " +
                                      std::to_string(cfg_.accounting.audit.epoch_max_txs) + " transactions or " +
                                      std::to_string(cfg_.epoch_seconds) + " s)");
  GM_ASSIGN_OR_RETURN(auto txs, store_->ledger().LoadTxs(epoch->first_tx_id, epoch->last_tx_id));
  GM_ASSIGN_OR_RETURN(acct::InclusionProof proof, acct::Prove(*epoch, txs, id));
  json tx;
  for (const auto& t : txs)
    if (t.id == id) {
      json entries = json::array();
      for (const auto& e : t.tx.entries) entries.push_back({{"account", e.account}, {"amount", e.amount}});
      tx = {{"id", t.id}, {"kind", t.tx.kind}, {"ref", t.tx.ref}, {"memo", t.tx.memo}, {"entries", entries}};
    }
  return json{{"transaction", tx}, {"proof", proof}, {"epoch", *epoch},
              {"signed_message", acct::EpochMessage(*epoch)}, {"pubkey", controller_pubkey_}};
}

Result<json> Controller::RewardsPreview(const httplib::Request& r, const Caller& c) {
  GM_ASSIGN_OR_RETURN(acct::RewardPreview p, acct_->PreviewRewards());
  json j = p;
  j["text"] = acct::FormatRewardPreview(p);
  j["next_emission_ms"] = next_reward_ms_;
  return j;
}

Result<json> Controller::StakeOp(const httplib::Request& r, const Caller& c) {
  std::string op = r.matches[1];
  GM_ASSIGN_OR_RETURN(json b, ParseJsonBody(r));
  std::string node_ref = b.value("node", "");
  const sched::Node* n = core_.FindNode(node_ref);
  if (!n)
    for (const auto& m : core_.nodes())
      if (m.name == node_ref) n = &m;
  if (!n) return Status::NotFound("no node '" + node_ref + "' (give its id or name)");
  if (n->provider != c.account)
    return Status::PermissionDenied("only the node's provider (" + n->provider + ") may " + op + " its stake");
  Micros amount = 0;
  if (op != "withdraw") {
    if (!b.contains("amount") || !b["amount"].is_number_integer() || b["amount"].get<int64_t>() <= 0)
      return Status::InvalidArgument("'amount' must be a positive integer of micro-tokens");
    amount = b["amount"].get<int64_t>();
  }
  bool early = b.value("early", false);
  int64_t now = clock_->NowUnixMs();
  Booked bk;
  if (op == "stake") GM_RETURN_IF_ERROR(Book(acct_->Stake(n->id, amount, now), bk));
  else if (op == "unstake") GM_RETURN_IF_ERROR(Book(acct_->Unstake(n->id, amount, early, now), bk));
  else GM_RETURN_IF_ERROR(Book(acct_->Withdraw(n->id, now), bk));
  std::string id = n->id;
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  Persist(bk);
  CheckOk(tx.Commit(), "commit");
  const acct::NodeAccount* a = acct_->FindNode(id);
  json unbonding = json::array();
  for (const auto& u : a->stake.unbonding) unbonding.push_back({{"amount", u.amount}, {"release_at_ms", u.release_at_ms}});
  json txs = json::array();
  for (const auto& fx : bk.effects)
    for (const auto& t : fx.txs) txs.push_back({{"id", t.id}, {"kind", t.tx.kind}, {"ref", t.tx.ref}});
  spdlog::info("node {}: {} by {}", id, op, c.account);
  return json{{"node_id", id},
              {"op", op},
              {"bonded", acct::BondedStake(acct_->ledger(), id)},
              {"unbonding", acct_->ledger().Balance(acct::UnbondingAccount(id))},
              {"unbonding_parts", unbonding},
              {"wallet", acct_->ledger().Balance(acct::ProviderWallet(c.account))},
              {"trust_level", acct_->Trust(id)},
              {"transactions", txs}};
}

namespace {

// The period a moment falls in (UTC): its label and its bounds.
struct Period {
  std::string label;
  int64_t start_ms = 0, end_ms = 0;
};

Period PeriodOf(int64_t t_ms, const std::string& unit) {
  constexpr int64_t kDay = 86'400'000;
  int64_t day = t_ms >= 0 ? t_ms / kDay : (t_ms - kDay + 1) / kDay;
  auto label = [](int64_t ms, const char* fmt) {
    time_t s = ms / 1000;
    struct tm tm;
    gmtime_r(&s, &tm);
    char buf[32];
    strftime(buf, sizeof buf, fmt, &tm);
    return std::string(buf);
  };
  if (unit == "day") return {label(day * kDay, "%Y-%m-%d"), day * kDay, (day + 1) * kDay};
  if (unit == "week") {  // weeks start on Monday (1970-01-01 was a Thursday)
    int64_t monday = day - ((day + 3) % 7 + 7) % 7;
    return {label(monday * kDay, "%Y-%m-%d"), monday * kDay, (monday + 7) * kDay};
  }
  time_t s = t_ms / 1000;
  struct tm tm;
  gmtime_r(&s, &tm);
  struct tm first = {};
  first.tm_year = tm.tm_year;
  first.tm_mon = tm.tm_mon;
  first.tm_mday = 1;
  int64_t start = static_cast<int64_t>(timegm(&first)) * 1000;
  first.tm_mon += 1;
  int64_t end = static_cast<int64_t>(timegm(&first)) * 1000;
  return {label(start, "%Y-%m"), start, end};
}

}  // namespace

Result<json> Controller::Report(const httplib::Request& r, const Caller& c) {
  std::string unit = r.has_param("period") ? r.get_param_value("period") : "day";
  if (unit != "day" && unit != "week" && unit != "month")
    return Status::InvalidArgument("period must be day, week or month, not '" + unit + "'");
  int64_t now = clock_->NowUnixMs();
  int64_t to = ParamInt(r, "to_ms", now + 1);
  int64_t from = ParamInt(r, "from_ms", to - 30LL * 86'400'000);
  if (from >= to) return Status::InvalidArgument("from_ms must be before to_ms");
  bool admin = c.role == "admin";
  GM_ASSIGN_OR_RETURN(auto rows, store_->ledger().LoadUsage(from, to));
  struct Spend { std::set<int64_t> jobs; int64_t gpu_ms = 0; Micros charged = 0, fee = 0, burned = 0; };
  struct Earn { int64_t gpu_ms = 0; Micros earned = 0; };
  std::map<std::pair<std::string, std::string>, Spend> spend;   // (period, user)
  std::map<std::pair<std::string, std::string>, Earn> earn;     // (period, provider)
  std::map<std::pair<std::string, std::string>, int64_t> used;  // (period, model) → GPU-ms
  std::map<std::string, Period> periods;
  Micros total_charged = 0, total_fee = 0, total_burned = 0;
  for (const auto& u : rows) {
    Period p = PeriodOf(u.time_ms, unit);
    periods[p.label] = p;
    if (admin || u.payer == c.account) {
      Spend& s = spend[{p.label, u.payer}];
      s.jobs.insert(u.job_id);
      s.gpu_ms += u.gpu_ms;
      s.charged += u.charged;
      s.fee += u.fee;
      s.burned += u.burned;
    }
    if (admin || u.provider == c.account) {
      Earn& e = earn[{p.label, u.provider}];
      e.gpu_ms += u.gpu_ms;
      e.earned += u.provider_share;
    }
    used[{p.label, u.gpu_model.empty() ? "(none)" : u.gpu_model}] += u.gpu_ms;
    if (admin) {
      total_charged += u.charged;
      total_fee += u.fee;
      total_burned += u.burned;
    }
  }
  // Capacity: the GPUs of each model registered now, over the part of each
  // period inside [from, to).
  std::map<std::string, int64_t> gpus_of;
  for (const auto& n : core_.nodes()) gpus_of[n.gpu_model.empty() ? "(none)" : n.gpu_model] += n.gpus;
  json user_spend = json::array(), provider_earnings = json::array(), utilisation = json::array();
  for (const auto& [k, s] : spend)
    user_spend.push_back({{"period", k.first}, {"user", k.second}, {"jobs", s.jobs.size()}, {"gpu_ms", s.gpu_ms},
                          {"charged", s.charged}, {"fee", s.fee}, {"burned", s.burned}});
  for (const auto& [k, e] : earn)
    provider_earnings.push_back({{"period", k.first}, {"provider", k.second}, {"gpu_ms", e.gpu_ms}, {"earned", e.earned}});
  for (const auto& [k, ms] : used) {
    const Period& p = periods[k.first];
    int64_t span = std::min(p.end_ms, to) - std::max(p.start_ms, from);
    int64_t capacity = gpus_of[k.second] * std::max<int64_t>(0, span);
    int64_t bp = capacity > 0 ? static_cast<int64_t>(static_cast<__int128>(ms) * 10'000 / capacity) : 0;
    utilisation.push_back({{"period", k.first}, {"gpu_model", k.second}, {"gpu_ms", ms},
                           {"capacity_gpu_ms", capacity}, {"utilisation_bp", bp}});
  }
  json out{{"period", unit}, {"from_ms", from}, {"to_ms", to}, {"user_spend", user_spend},
           {"provider_earnings", provider_earnings}, {"utilisation", utilisation}};
  if (admin) out["totals"] = {{"charged", total_charged}, {"fee", total_fee}, {"burned", total_burned}};
  return out;
}

}  // namespace gm
