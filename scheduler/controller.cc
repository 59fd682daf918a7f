// gmctld: state directory, TLS, persistence, API routes, timers.
#include "scheduler/controller.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "common/bundle.h"
#include "common/crypto.h"
#include "common/http.h"
#include "common/money.h"
#include "common/signing.h"
#include "common/usage_record.h"
#include <openssl/rand.h>
#include "scheduler/begin_time.h"
#include "scheduler/state_json.h"

namespace gm {

namespace fs = std::filesystem;
using json = nlohmann::json;
using sched::Job;
using sched::JobState;

namespace {

const std::regex kNameRe("^[a-z_][a-z0-9_.-]{0,31}$");

Status WriteFileAtomic(const std::string& path, const std::string& bytes, mode_t mode) {
  std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "w");
  if (!f) return Status::IOError("cannot write " + tmp + ": " + strerror(errno));
  fchmod(fileno(f), mode);
  bool ok = fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && fflush(f) == 0 &&
            fsync(fileno(f)) == 0;
  fclose(f);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0)
    return Status::IOError("cannot write " + path + ": " + strerror(errno));
  return Status::OK();
}

int64_t QueryInt(const httplib::Request& r, const char* key, int64_t dflt) {
  if (!r.has_param(key)) return dflt;
  try {
    return std::stoll(r.get_param_value(key));
  } catch (...) {
    return dflt;
  }
}

}  // namespace

Controller::Controller(ControllerConfig cfg, std::unique_ptr<Clock> clock)
    : cfg_(std::move(cfg)), clock_(std::move(clock)), core_(cfg_.sched) {
  if (!cfg_.site_rtts.empty()) core_.SetSiteRtts(cfg_.site_rtts);
}

Controller::~Controller() {
  Stop();
  if (ticker_.joinable()) ticker_.join();
}

void Controller::CheckOk(const Status& s, const char* what) {
  // Memory and database would disagree from here on: stop, and let the
  // restart reload the last committed state.
  if (s.ok()) return;
  spdlog::critical("{}: {}; stopping so that a restart reloads committed state", what,
                   s.ToString());
  std::abort();
}

Status Controller::Open() {
  if (cfg_.state_dir.empty()) return Status::InvalidArgument("no state directory given");
  std::error_code ec;
  fs::create_directories(cfg_.state_dir, ec);
  if (ec) return Status::IOError("cannot create " + cfg_.state_dir + ": " + ec.message());
  chmod(cfg_.state_dir.c_str(), 0700);
  fs::create_directories(fs::path(cfg_.state_dir) / "outputs", ec);
  std::string crt = cfg_.state_dir + "/tls.crt", key = cfg_.state_dir + "/tls.key";
  if (!fs::exists(crt) || !fs::exists(key)) {
    GM_RETURN_IF_ERROR(WriteSelfSignedCert(crt, key, "gmctld", cfg_.tls_names, 3650));
    spdlog::info("created TLS certificate {}", crt);
  }
  std::string spec = cfg_.database.empty() ? "sqlite:" + cfg_.state_dir + "/gridmint.db" : cfg_.database;
  GM_ASSIGN_OR_RETURN(auto db, OpenDatabase(spec));
  spdlog::info("database: {}", db->Dialect());
  store_ = std::make_unique<ControllerStore>(std::move(db));
  GM_RETURN_IF_ERROR(store_->Migrate());

  GM_ASSIGN_OR_RETURN(auto accounts, store_->LoadAccounts());
  for (auto& a : accounts) accounts_[a.name] = a;
  GM_ASSIGN_OR_RETURN(auto tokens, store_->LoadTokens());
  for (auto& t : tokens) tokens_[t.hash] = t;
  GM_ASSIGN_OR_RETURN(next_job_id_, store_->GetCounter("next_job_id", 1));
  GM_ASSIGN_OR_RETURN(next_node_id_, store_->GetCounter("next_node_id", 1));
  int64_t now = clock_->NowUnixMs();
  GM_ASSIGN_OR_RETURN(auto nodes, store_->LoadNodes());
  for (auto& n : nodes) {
    n.last_heartbeat_ms = now;  // each node gets a full timeout to show it is alive
    core_.UpsertNode(n);
  }
  GM_ASSIGN_OR_RETURN(auto usage, store_->LoadFairShare());
  for (const auto& [account, value, as_of] : usage) core_.fairshare().Restore(account, value, as_of);
  GM_ASSIGN_OR_RETURN(auto jobs, store_->LoadJobs());
  for (auto& j : jobs) core_.Restore(std::move(j));

  // The accounting core: genesis on a fresh store, else its stored state,
  // checked (balances, supply, escrows against their books) before serving.
  GM_RETURN_IF_ERROR(OpenAccounting());

  if (!accounts_.count("admin")) {
    std::string token;
    SqlTransaction tx(store_->db());
    GM_RETURN_IF_ERROR(tx.begin_status());
    AccountRow admin{"admin", "admin"};
    GM_RETURN_IF_ERROR(store_->CreateAccount(admin, now));
    accounts_["admin"] = admin;
    GM_RETURN_IF_ERROR(IssueToken("admin", "api", "", &token));
    GM_RETURN_IF_ERROR(tx.Commit());
    GM_RETURN_IF_ERROR(WriteFileAtomic(cfg_.state_dir + "/admin.token", token + "\n", 0600));
    spdlog::info("created admin account; its token is in {}/admin.token", cfg_.state_dir);
  }
  GM_ASSIGN_OR_RETURN(auto drains, store_->LoadNodeDrains());
  for (auto& d : drains) drains_[d.node_id] = d;
  GM_ASSIGN_OR_RETURN(auto detaches, store_->LoadNodeDetaches());
  for (auto& d : detaches) detaches_[d.node_id] = d;
  GM_ASSIGN_OR_RETURN(auto keys, store_->LoadNodeKeys());
  for (const auto& [node, pubkey, seq] : keys) node_keys_[node] = NodeKey{pubkey, seq};
  for (const auto& n : core_.nodes())
    if (n.verification == sched::NodeTrust::kPending && !Detached(n.id)) IssueChallenges(n.id, {kChallengeMatmul, kChallengeMemory, kChallengePow});
  // Generations handed out by an earlier life of the controller are below this,
  // so no worker's `since` can match a fresh count and sleep through new work.
  gen_base_ = static_cast<uint64_t>(now) * 1000;
  spdlog::info("state loaded: {} nodes, {} jobs, next job id {}", core_.nodes().size(),
               core_.jobs().size(), next_job_id_);
  return Status::OK();
}

Status Controller::IssueToken(const std::string& account, const std::string& kind,
                              const std::string& node_id, std::string* token) {
  *token = NewApiToken();
  TokenRow row{Sha256Hex(*token), account, kind, node_id};
  GM_RETURN_IF_ERROR(store_->AddToken(row, clock_->NowUnixMs()));
  tokens_[row.hash] = row;
  return Status::OK();
}

Result<Controller::Caller> Controller::Authenticate(const httplib::Request& req) {
  std::string token = BearerToken(req);
  if (token.empty())
    return Status::Unauthenticated("no API token: send 'Authorization: Bearer TOKEN' (gm reads GM_TOKEN)");
  auto it = tokens_.find(Sha256Hex(token));
  if (it == tokens_.end()) return Status::Unauthenticated("invalid API token");
  const TokenRow& t = it->second;
  auto acc = accounts_.find(t.account);
  if (acc == accounts_.end()) return Status::Unauthenticated("token of a deleted account");
  return Caller{t.account, acc->second.role, t.kind, t.node_id};
}

void Controller::Handle(httplib::Server& s, const char* method, const std::string& pattern,
                        std::vector<std::string> kinds, Handler h) {
  auto wrapped = [this, kinds, h](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu_);
    auto caller = Authenticate(req);
    if (!caller.ok()) return ReplyError(res, caller.status());
    if (std::find(kinds.begin(), kinds.end(), caller->kind) == kinds.end())
      return ReplyError(res, Status::PermissionDenied("this token (" + caller->kind +
                                                      ") may not call " + req.path));
    Result<json> out = Status::Internal("handler threw");
    try {
      out = h(req, *caller);
    } catch (const std::exception& e) {
      out = Status::InvalidArgument(std::string("bad request: ") + e.what());
    }
    if (!out.ok()) return ReplyError(res, out.status());
    ReplyJson(res, *out);
  };
  std::string m = method;
  if (m == "GET") s.Get(pattern, wrapped);
  else if (m == "POST") s.Post(pattern, wrapped);
}

void Controller::Routes(httplib::Server& s) {
  auto bind = [this](auto fn) {
    return [this, fn](const httplib::Request& r, const Caller& c) { return (this->*fn)(r, c); };
  };
  const std::vector<std::string> api = {"api"}, node = {"node"}, any = {"api", "node"};
  Handle(s, "POST", "/api/v1/jobs", api, bind(&Controller::SubmitJob));
  Handle(s, "GET", "/api/v1/jobs", api, bind(&Controller::ListJobs));
  Handle(s, "GET", R"(/api/v1/jobs/(\d+))", api, bind(&Controller::GetJob));
  Handle(s, "POST", R"(/api/v1/jobs/(\d+)/cancel)", api, bind(&Controller::CancelJob));
  Handle(s, "POST", R"(/api/v1/jobs/(\d+)/(hold|release|requeue|update))", api, bind(&Controller::ControlJob));
  Handle(s, "GET", "/api/v1/priority", api, bind(&Controller::PriorityList));
  Handle(s, "GET", "/api/v1/market", api, bind(&Controller::Market));
  Handle(s, "GET", R"(/api/v1/jobs/(\d+)/outputs)", api, bind(&Controller::ListOutputs));
  Handle(s, "GET", "/api/v1/nodes", any, bind(&Controller::ListNodes));
  Handle(s, "GET", "/api/v1/wallet", api, bind(&Controller::Wallet));
  Handle(s, "GET", "/api/v1/whoami", any, bind(&Controller::WhoAmI));
  Handle(s, "POST", "/api/v1/admin/accounts", api, bind(&Controller::CreateAccount));
  Handle(s, "POST", "/api/v1/admin/tokens", api, bind(&Controller::NewToken));
  Handle(s, "POST", "/api/v1/admin/enroll-tokens", api, bind(&Controller::NewEnrollToken));
  Handle(s, "POST", "/api/v1/admin/mint", api, bind(&Controller::Mint));
  Handle(s, "POST", "/api/v1/nodes/register", {"enroll", "node"}, bind(&Controller::RegisterNode));
  Handle(s, "POST", R"(/api/v1/nodes/([\w.-]+)/heartbeat)", node, bind(&Controller::Heartbeat));
  Handle(s, "POST", R"(/api/v1/jobs/(\d+)/outputs)", node, bind(&Controller::UploadOutput));
  Handle(s, "POST", "/api/v1/blobs", api, bind(&Controller::UploadBlob));
  Handle(s, "POST", "/api/v1/usage", node, bind(&Controller::SubmitUsage));
  Handle(s, "POST", R"(/api/v1/nodes/([\w.-]+)/challenges/([0-9a-f]+))", node, bind(&Controller::AnswerChallenge));
  Handle(s, "GET", R"(/api/v1/nodes/([\w.-]+)/history)", api, bind(&Controller::NodeHistory));
  Handle(s, "POST", R"(/api/v1/nodes/([\w.-]+)/(drain|resume|detach))", api, bind(&Controller::NodeAction));
  LedgerRoutes(s);
  s.Get(R"(/api/v1/jobs/(\d+)/bundle/([0-9a-f]{64}))",
        [this](const httplib::Request& r, httplib::Response& res) { DownloadJobBlob(r, res); });
  s.Get(R"(/api/v1/nodes/([\w.-]+)/work)",
        [this](const httplib::Request& r, httplib::Response& res) { PollWork(r, res); });
  s.Get(R"(/api/v1/jobs/(\d+)/output)",
        [this](const httplib::Request& r, httplib::Response& res) { DownloadOutput(r, res); });
}

// ---- jobs ------------------------------------------------------------------

Result<json> Controller::SubmitJob(const httplib::Request& r, const Caller& c) {
  GM_ASSIGN_OR_RETURN(json body, ParseJsonBody(r));
  if (!body.contains("spec") || !body["spec"].is_object())
    return Status::InvalidArgument("request needs a 'spec' object");
  JobSpec spec;
  try {
    spec = body["spec"].get<JobSpec>();
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("invalid job spec: ") + e.what());
  }
  // GridMint's own variables (GM_TOKEN above all) are credentials of the
  // submitter: they are never stored with a job nor sent to a provider.
  std::erase_if(spec.environment, [](const auto& kv) { return kv.first.rfind("GM_", 0) == 0; });
  if (spec.script.rfind("#!", 0) != 0)
    return Status::InvalidArgument("the batch script must start with #! and an interpreter");
  if (static_cast<int64_t>(spec.script.size()) > cfg_.max_script_bytes)
    return Status::InvalidArgument("batch script of " + std::to_string(spec.script.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(cfg_.max_script_bytes));
  if (spec.nodes_min < 1 || spec.nodes_max < spec.nodes_min)
    return Status::InvalidArgument("invalid node count");
  GM_RETURN_IF_ERROR(CheckBundle(spec, c.account));
  for (const auto& p : spec.stage_out)
    if (auto safe = SafeRelativePath(p); !safe.ok())
      return Status::InvalidArgument("--gm-stage-out: " + safe.status().message());
  if (spec.submit_user.empty()) spec.submit_user = c.account;
  int64_t eligible = 0;
  if (!spec.begin.empty()) {
    time_t t = time(nullptr);
    struct tm lt;
    localtime_r(&t, &lt);
    GM_ASSIGN_OR_RETURN(eligible, sched::ResolveBeginTime(spec.begin, clock_->NowUnixMs(), lt.tm_gmtoff));
  }
  // An array is one job per task (Slurm gives each its own id); the first
  // task's id is the array's (%A, SLURM_ARRAY_JOB_ID).
  std::vector<int> tasks = spec.array_tasks;
  if (tasks.empty()) tasks.push_back(-1);
  int64_t first = next_job_id_;
  int64_t now = clock_->NowUnixMs();
  std::vector<int64_t> ids;
  for (int t : tasks) {
    Job job;
    job.id = first + static_cast<int64_t>(ids.size());
    job.spec = spec;
    job.user = c.account;
    job.payer = c.account;
    job.eligible_ms = eligible;
    if (t >= 0) {
      job.array_job_id = first;
      job.array_task_id = t;
    }
    Status s = core_.Submit(std::move(job), now);
    if (!s.ok()) {
      for (int64_t id : ids) core_.Forget(id);
      return s;
    }
    ids.push_back(first + static_cast<int64_t>(ids.size()));
  }
  next_job_id_ = first + static_cast<int64_t>(ids.size());
  Job& stored = *core_.FindJob(first);
  json warnings = json::array();
  sched::Feasibility f = core_.CheckFeasible(stored);
  if (!f.ever)
    warnings.push_back("no node in the federation can satisfy this request now (" + f.reason +
                       "); the job stays pending until one can");
  {
    SqlTransaction tx(store_->db());
    CheckOk(tx.begin_status(), "begin");
    for (int64_t id : ids) CheckOk(store_->SaveJob(*core_.FindJob(id)), "save job");
    CheckOk(store_->SetCounter("next_job_id", next_job_id_), "save counter");
    CheckOk(tx.Commit(), "commit");
  }
  spdlog::info("job {} submitted by {} ({} task(s), {} node(s), {} GPU(s)/node)", first, c.account,
               ids.size(), stored.spec.nodes_min, stored.spec.GpusPerNode());
  RunSchedule();
  return json{{"job_id", first}, {"job_ids", ids}, {"state", sched::JobStateName(stored.state)},
              {"reason", stored.reason}, {"warnings", warnings}};
}

json Controller::Summary(const Job& job) const {
  json j = sched::JobSummary(job, [this](const std::string& id) { return core_.FindNode(id); });
  auto it = money_.find(job.id);
  JobMoney m = it == money_.end() ? JobMoney{} : it->second;
  j["charged"] = m.charged;
  j["fee"] = m.fee;
  j["burned"] = m.burned;
  j["refunded"] = m.refunded;
  j["providers"] = m.providers;
  j["escrow"] = acct_->ledger().Balance(acct::EscrowAccount(job.id));  // what its hold keeps now
  return j;
}

bool Controller::CanSee(const Caller& c, const Job& job) const {
  return c.role == "admin" || c.account == job.user;
}

Result<Job*> Controller::JobFromPath(const httplib::Request& r, const Caller& c) {
  int64_t id = std::stoll(r.matches[1]);
  Job* job = core_.FindJob(id);
  if (!job || !CanSee(c, *job)) return Status::NotFound("Invalid job id specified: " + std::to_string(id));
  return job;
}

Result<json> Controller::ListJobs(const httplib::Request& r, const Caller& c) {
  json out = json::array();
  auto reserved = core_.reservation();
  for (const auto& [id, job] : core_.jobs()) {
    out.push_back(Summary(job));
    if (reserved && reserved->job_id == id) {  // squeue --start's SCHEDNODES
      std::vector<std::string> names;
      for (const auto& n : reserved->node_ids)
        if (const auto* node = core_.FindNode(n)) names.push_back(node->name);
      out.back()["sched_nodes"] = names;
    }
  }
  return json{{"jobs", out}, {"now_ms", clock_->NowUnixMs()}};
}

Result<json> Controller::GetJob(const httplib::Request& r, const Caller& c) {
  GM_ASSIGN_OR_RETURN(Job * job, JobFromPath(r, c));
  json j = Summary(*job);
  j["spec"] = job->spec;
  // Every ledger transaction of the job: holds and top-ups, one per settled
  // usage record, partial releases at requeues, the final release.
  GM_ASSIGN_OR_RETURN(auto txs, store_->ledger().JobTxs(job->id));
  json transactions = json::array();
  for (const auto& t : txs) {
    json entries = json::array();
    for (const auto& e : t.tx.entries) entries.push_back({{"account", e.account}, {"amount", e.amount}});
    transactions.push_back({{"id", t.id}, {"kind", t.tx.kind}, {"ref", t.tx.ref}, {"memo", t.tx.memo},
                            {"entries", entries}});
  }
  j["transactions"] = transactions;
  return j;
}

Result<json> Controller::CancelJob(const httplib::Request& r, const Caller& c) {
  GM_ASSIGN_OR_RETURN(Job * job, JobFromPath(r, c));
  if (sched::IsTerminal(job->state))
    return Status::FailedPrecondition("Job/step already completing or completed");
  json body = json::parse(r.body.empty() ? "{}" : r.body, nullptr, false);
  std::string sig = body.is_object() ? body.value("signal", "") : "";
  if (!sig.empty()) {
    static const std::set<std::string> kSignals = {"HUP", "INT", "QUIT", "USR1", "USR2", "TERM", "KILL",
                                                   "CONT", "STOP", "TSTP", "ALRM", "URG"};
    if (!kSignals.count(sig)) return Status::InvalidArgument("Invalid signal '" + sig + "'");
    if (job->state != JobState::kRunning)
      return Status::FailedPrecondition("Job is pending execution: it has no process to signal");
    signals_[job->id].emplace_back(next_signal_seq_++, sig);
    TouchJobNodes(*job);
    return json{{"job_id", job->id}, {"state", sched::JobStateName(job->state)}, {"signal", sig}};
  }
  int64_t now = clock_->NowUnixMs();
  bool ended = core_.Cancel(job->id, now);
  Booked b;
  if (ended) CloseJobIfOver(*job, b);  // a requeued job's carried-over hold goes back
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  Persist(b);
  CheckOk(store_->SaveJob(*job), "save job");
  CheckOk(tx.Commit(), "commit");
  ForgetIfReleased(job->id);
  if (!ended) TouchJobNodes(*job);
  spdlog::info("job {} cancel requested by {}", job->id, c.account);
  if (ended) RunSchedule();  // a cancelled job may satisfy another's dependency
  return json{{"job_id", job->id}, {"state", sched::JobStateName(job->state)}};
}

Result<json> Controller::ControlJob(const httplib::Request& r, const Caller& c) {
  GM_ASSIGN_OR_RETURN(Job * job, JobFromPath(r, c));
  std::string what = r.matches[2];
  bool admin = c.role == "admin";
  int64_t now = clock_->NowUnixMs();
  if (what == "hold") {
    GM_RETURN_IF_ERROR(core_.Hold(job->id, admin));
  } else if (what == "release") {
    GM_RETURN_IF_ERROR(core_.Release(job->id, admin));
  } else if (what == "update") {
    GM_ASSIGN_OR_RETURN(json b, ParseJsonBody(r));
    sched::JobUpdate u;
    if (b.contains("time_limit_s")) u.time_limit_s = b["time_limit_s"].get<int64_t>();
    if (b.contains("nice")) {
      u.nice = b["nice"].get<int>();
      if (*u.nice < 0 && !admin) return Status::PermissionDenied("only an admin may set a negative nice");
    }
    if (b.contains("qos")) u.qos = b["qos"].get<std::string>();
    if (b.contains("partition")) u.partition = b["partition"].get<std::string>();
    if (b.contains("max_price")) u.max_price = b["max_price"].get<Micros>();
    if (u.time_limit_s && !admin && *u.time_limit_s > job->time_limit_s)
      return Status::PermissionDenied("only an admin may raise a job's time limit");
    GM_RETURN_IF_ERROR(core_.Update(job->id, u));
  } else {  // requeue: the attempt so far is the user's choice, so it is charged
    if (job->state != JobState::kRunning && job->state != JobState::kCompleting)
      return Status::FailedPrecondition("Job is not running: only a running job can be requeued");
    std::vector<std::string> nodes;
    for (const auto& a : job->alloc) nodes.push_back(a.node_id);
    Booked b;
    SettleServed(*job, std::max<int64_t>(0, now - job->start_ms), /*provider_fault=*/false, b);
    EndAttempt(*job, {}, b);
    core_.Requeue(job->id, now, "requeued by " + c.account, /*provider_fault=*/false);
    CloseJobIfOver(*job, b);
    SqlTransaction tx(store_->db());
    CheckOk(tx.begin_status(), "begin");
    Persist(b);
    CheckOk(store_->SaveJob(*job), "save job");
    CheckOk(tx.Commit(), "commit");
    ForgetIfReleased(job->id);
    SaveFairShare(job->payer);
    for (const auto& n : nodes) Touch(n);
  }
  CheckOk(store_->SaveJob(*job), "save job");
  spdlog::info("job {}: {} by {}", job->id, what, c.account);
  RunSchedule();
  return json{{"job_id", job->id}, {"state", sched::JobStateName(job->state)}, {"reason", job->reason}};
}

Result<json> Controller::Market(const httplib::Request& r, const Caller& c) {
  return sched::MarketSummary(core_.nodes(), core_.jobs());
}

Result<json> Controller::PriorityList(const httplib::Request& r, const Caller& c) {
  int64_t now = clock_->NowUnixMs();
  const auto& w = core_.options().priority;
  json out = json::array();
  for (const auto& [id, job] : core_.jobs()) {
    if (job.state != JobState::kPending) continue;
    auto f = core_.Priority(job, now);
    // Weighted factors as sprio shows them by default, and the normalised
    // ones (each in [0, 1]) for sprio -n. GridMint has no site (admin) factor.
    std::string partition = job.spec.partition;
    if (partition.empty())
      if (const sched::Partition* p = core_.FindPartition("")) partition = p->name;
    out.push_back({{"id", id}, {"user", job.user}, {"account", job.payer}, {"partition", partition},
                   {"qos_name", job.spec.qos.empty() ? "normal" : job.spec.qos},
                   {"held", job.held_by_admin || job.spec.hold},
                   {"priority", f.total}, {"site", 0}, {"age", w.age * f.age}, {"fairshare", w.fairshare * f.fairshare},
                   {"job_size", w.job_size * f.job_size}, {"qos", w.qos * f.qos}, {"nice", f.nice},
                   {"factors", {{"age", f.age}, {"fairshare", f.fairshare}, {"job_size", f.job_size}, {"qos", f.qos}}}});
  }
  return json{{"jobs", out},
              {"weights", {{"site", 1}, {"age", w.age}, {"fairshare", w.fairshare}, {"job_size", w.job_size},
                           {"qos", w.qos}}}};
}

// ---- nodes and work ---------------------------------------------------------

Result<json> Controller::RegisterNode(const httplib::Request& r, const Caller& c) {
  GM_ASSIGN_OR_RETURN(json b, ParseJsonBody(r));
  sched::Node n;
  n.name = b.at("name").get<std::string>();
  if (!std::regex_match(n.name, std::regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")))
    return Status::InvalidArgument("invalid node name '" + n.name + "'");
  n.provider = c.account;
  n.gpu_model = b.value("gpu_model", "");
  n.gpus = b.value("gpus", 0);
  n.gpu_mem_mb = b.value("gpu_mem_mb", int64_t{0});
  n.declared = b.value("declared", true);
  n.cpus = b.value("cpus", 1);
  n.mem_mb = b.value("mem_mb", int64_t{0});
  n.price = b.value("price", Micros{0});
  n.region = b.value("region", "default");
  n.site = b.value("site", "default");
  if (n.gpus < 0 || n.gpus > 64 || n.cpus < 1 || n.price < 0)
    return Status::InvalidArgument("implausible hardware or price in registration");
  if (n.gpus > 0 && n.gpu_model.empty())
    return Status::InvalidArgument("a node with GPUs must name their model");
  std::string pubkey = b.value("pubkey", "");
  auto key_bytes = HexToBytes(pubkey);
  if (!key_bytes || key_bytes->size() != 32)
    return Status::InvalidArgument("registration needs 'pubkey': the node's Ed25519 public key, 64 hex digits");
  int64_t now = clock_->NowUnixMs();
  n.last_heartbeat_ms = now;
  n.up = true;
  std::string token;
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  if (c.kind == "node") {
    const sched::Node* old = core_.FindNode(c.node_id);
    if (!old) return Status::NotFound("node " + c.node_id + " is not registered");
    n.id = old->id;
    n.drain = old->drain;
    n.drain_reason = old->drain_reason;
    n.verification = old->verification;
    n.reputation = old->reputation;
    n.trust_level = old->trust_level;
    n.tflops = old->tflops;
    n.stake = old->stake;
    if (n.name != old->name)
      return Status::InvalidArgument("a node cannot change its name (" + old->name + ")");
  } else {
    const sched::Node* revived = nullptr;
    for (const auto& other : core_.nodes()) {
      if (other.name != n.name) continue;
      // A provider may attach a machine again under the name of its own
      // detached node: the same node id, a fresh identity and verification.
      if (Detached(other.id) && other.provider == c.account) {
        revived = &other;
        continue;
      }
      return Status::AlreadyExists("a node named '" + n.name + "' is already registered" +
                                   (Detached(other.id) ? " (detached, by another provider)" : ""));
    }
    if (revived) {
      n.id = revived->id;
      n.reputation = revived->reputation;
      n.stake = revived->stake;
      detaches_.erase(n.id);
      drains_.erase(n.id);
      CheckOk(store_->DeleteNodeDetach(n.id), "save node detach");
      CheckOk(store_->DeleteNodeDrain(n.id), "save node drain");
      node_keys_.erase(n.id);
      NodeEvent(n.id, "reattached", {{"by", c.account}});
    } else {
      n.id = "n" + std::to_string(next_node_id_++);
      CheckOk(store_->SetCounter("next_node_id", next_node_id_), "save counter");
    }
    CheckOk(IssueToken(c.account, "node", n.id, &token), "issue node token");
    n.verification = cfg_.verify_nodes ? sched::NodeTrust::kPending : sched::NodeTrust::kVerified;
  }
  if (n.verification == sched::NodeTrust::kRejected || n.verification == sched::NodeTrust::kBanned)
    return Status::PermissionDenied("node " + n.name + " is " + sched::NodeTrustName(n.verification) +
                                    "; it cannot serve jobs");
  auto known = node_keys_.find(n.id);
  if (known != node_keys_.end() && known->second.pubkey != pubkey)
    return Status::PermissionDenied("node " + n.name + " registered with a different key before");
  if (known == node_keys_.end()) {
    node_keys_[n.id] = NodeKey{pubkey, 0};
    CheckOk(store_->SaveNodeKey(n.id, pubkey, 0), "save node key");
  }
  Booked booked;
  GM_RETURN_IF_ERROR(Book(acct_->UpsertNode({n.id, acct::ProviderWallet(n.provider), TierOf(n),
                                             static_cast<int64_t>(n.tflops * 1000)}),
                          booked));
  core_.UpsertNode(n);
  Persist(booked);
  CheckOk(store_->SaveNode(*core_.FindNode(n.id)), "save node");
  CheckOk(tx.Commit(), "commit");
  spdlog::info("node {} ({}) registered by {}: {} x {} at {}/GPU-h, site {}", n.name, n.id,
               c.account, n.gpus, n.gpu_model.empty() ? "-" : n.gpu_model, FormatTokens(n.price),
               n.site);
  if (n.verification == sched::NodeTrust::kPending && challenges_[n.id].empty())
    IssueChallenges(n.id, {kChallengeMatmul, kChallengeMemory, kChallengePow});
  Touch(n.id);
  RunSchedule();
  json out{{"node_id", n.id}, {"name", n.name}, {"verification", sched::NodeTrustName(n.verification)}};
  if (!token.empty()) out["node_token"] = token;
  return out;
}

Result<json> Controller::Heartbeat(const httplib::Request& r, const Caller& c) {
  std::string id = r.matches[1];
  if (id != c.node_id) return Status::PermissionDenied("a node may only heartbeat for itself");
  const sched::Node* n = core_.FindNode(id);
  if (!n) return Status::NotFound("node " + id + " is not registered");
  if (!n->up)
    return Status::FailedPrecondition("node " + n->name + " is DOWN: register again");
  int64_t now = clock_->NowUnixMs();
  core_.Heartbeat(id, now);
  Booked b;
  if (Book(acct_->Heartbeat(id, now), b).ok()) {  // uptime for reputation and rewards
    SqlTransaction tx(store_->db());
    CheckOk(tx.begin_status(), "begin");
    Persist(b);
    CheckOk(tx.Commit(), "commit");
  }
  return json::object();
}

json Controller::LaunchPayload(const Job& job) {
  std::vector<std::string> names;
  for (const auto& a : job.alloc) names.push_back(core_.FindNode(a.node_id)->name);
  return json{{"job_id", job.id},
              {"attempt", job.attempt},
              {"user", job.user},
              {"account", job.spec.account.empty() ? job.payer : job.spec.account},
              {"partition", job.spec.partition},
              {"spec", job.spec},
              {"node_names", names},
              {"node_index", 0},
              {"gpu_indices", job.alloc[0].gpu_indices},
              {"cpus", job.alloc[0].cpus},
              {"time_limit_s", job.time_limit_s},
              {"kill_grace_s", cfg_.sched.kill_grace_s},
              {"array_job_id", job.array_job_id},
              {"array_task_id", job.array_task_id}};
}

json Controller::WorkFor(const std::string& node_id) {
  json jobs = json::array();
  for (const auto& ch : challenges_[node_id])
    jobs.push_back({{"action", "challenge"}, {"challenge_id", ch.id}, {"spec", ChallengeSpecToJson(ch.spec)}});
  const sched::Node* n = core_.FindNode(node_id);
  if (!n) return jobs;
  for (int64_t id : n->jobs) {
    const Job* job = core_.FindJob(id);
    if (!job || job->alloc.empty() || job->alloc[0].node_id != node_id) continue;
    if (job->state == JobState::kRunning) {
      json item{{"job_id", id}, {"attempt", job->attempt}, {"action", "run"}, {"launch", LaunchPayload(*job)}};
      auto sig = signals_.find(id);
      if (sig != signals_.end()) item["signals"] = sig->second;
      jobs.push_back(std::move(item));
    }
    else if (job->state == JobState::kCompleting)
      jobs.push_back({{"job_id", id}, {"attempt", job->attempt}, {"action", "stop"},
                      {"why", sched::JobStateName(job->completing_to)}});
  }
  return jobs;
}

void Controller::PollWork(const httplib::Request& r, httplib::Response& res) {
  std::unique_lock<std::mutex> lock(mu_);
  auto caller = Authenticate(r);
  if (!caller.ok()) return ReplyError(res, caller.status());
  std::string id = r.matches[1];
  if (caller->kind != "node" || caller->node_id != id)
    return ReplyError(res, Status::PermissionDenied("a node may only fetch its own work"));
  node_gen_.try_emplace(id, gen_base_);
  uint64_t since = static_cast<uint64_t>(QueryInt(r, "since", 0));
  int64_t wait_s = std::clamp<int64_t>(QueryInt(r, "wait", 0), 0, 60);
  // Level-triggered: the answer is the node's whole desired state, so a lost
  // answer costs nothing but the next poll.
  work_cv_.wait_for(lock, std::chrono::seconds(wait_s),
                    [&] { return stopping_ || node_gen_[id] != since; });
  ReplyJson(res, json{{"gen", node_gen_[id]}, {"jobs", WorkFor(id)}});
}

void Controller::Touch(const std::string& node_id) {
  ++node_gen_.try_emplace(node_id, gen_base_).first->second;
  work_cv_.notify_all();
}

void Controller::TouchJobNodes(const Job& job) {
  for (const auto& a : job.alloc) Touch(a.node_id);
}

// ---- job ends and money -------------------------------------------------------

void Controller::RunSchedule() {
  std::map<std::string, Micros> promised;  // holds decided in this pass, per payer
  auto can_hold = [&](const Job& job, Micros amount) {
    // A requeued job's hold carries over: only the difference is needed.
    Micros have = 0;
    if (const acct::EscrowState* e = acct_->escrow().Find(job.id); e && !e->released) have = e->held;
    Micros need = amount - have;
    if (need <= 0) return true;
    std::string wallet = acct::UserWallet(job.payer);
    Micros avail = acct_->ledger().Balance(wallet) + acct_->ledger().CreditLimit(wallet) - promised[job.payer];
    if (avail < need) return false;
    promised[job.payer] += need;
    return true;
  };
  auto decisions = core_.Schedule(clock_->NowUnixMs(), can_hold);
  for (const auto& d : decisions) StartJob(d);
  // Pending reasons may have changed; persisting them is cheap and keeps
  // squeue's answer the same across a restart.
}

void Controller::StartJob(const sched::StartDecision& d) {
  Job& job = *core_.FindJob(d.job_id);
  acct::HoldRequest req;
  req.job_id = job.id;
  req.attempt = job.attempt;
  req.payer_wallet = acct::UserWallet(job.payer);
  req.amount = d.hold;
  req.time_limit_ms = job.time_limit_s * 1000;
  // The price is per GPU-hour: nodes without GPUs in the job cost nothing and
  // are not part of its escrow; a job without GPUs has none at all.
  for (const auto& a : job.alloc)
    if (!a.gpu_indices.empty())
      req.nodes.push_back({a.node_id, "", a.price, static_cast<int>(a.gpu_indices.size())});
  Booked b;
  if (Status s = req.nodes.empty() ? Status::OK() : Book(acct_->StartAttempt(req), b); !s.ok()) {
    // can_hold said yes, so this is a node accounting refuses (banned) or a
    // race with another hold: the job goes back to the queue, uncharged.
    spdlog::error("job {}: accounting refused its start: {}", job.id, s.ToString());
    core_.Requeue(job.id, clock_->NowUnixMs(), "accounting refused the start: " + s.message(),
                  /*provider_fault=*/true);
    CheckOk(store_->SaveJob(job), "save job");
    return;
  }
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  Persist(b);
  CheckOk(store_->SaveJob(job), "save job");
  CheckOk(tx.Commit(), "commit");
  std::string names;
  for (const auto& a : job.alloc) names += (names.empty() ? "" : ",") + core_.FindNode(a.node_id)->name;
  spdlog::info("job {} started on {} (attempt {}, hold {})", job.id, names, job.attempt,
               FormatTokens(d.hold));
  TouchJobNodes(job);
}

void Controller::EndJob(int64_t job_id, JobState state, int exit_code, int signal,
                        int64_t served_ms, bool provider_fault) {
  Job& job = *core_.FindJob(job_id);
  std::vector<std::string> nodes;
  for (const auto& a : job.alloc) nodes.push_back(a.node_id);
  Booked b;
  SettleServed(job, served_ms, provider_fault, b);
  // A provider fault at the end (launch failed, never reported) is the batch node's.
  EndAttempt(job, provider_fault && !job.alloc.empty() ? std::vector<std::string>{job.alloc[0].node_id}
                                                       : std::vector<std::string>{},
             b);
  core_.FinishJob(job_id, state, exit_code, signal, clock_->NowUnixMs());
  CloseJobIfOver(job, b);
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  Persist(b);
  CheckOk(store_->SaveJob(job), "save job");
  CheckOk(tx.Commit(), "commit");
  ForgetIfReleased(job_id);
  spdlog::info("job {} ended {} (exit {}:{})", job_id, sched::JobStateName(job.state), exit_code,
               signal);
  SaveFairShare(job.payer);
  signals_.erase(job_id);
  for (const auto& n : nodes) Touch(n);
  RunSchedule();
}

void Controller::SaveFairShare(const std::string& account) {
  auto it = core_.fairshare().raw().find(account);
  if (it == core_.fairshare().raw().end()) return;
  CheckOk(store_->SaveFairShare(account, it->second.first, it->second.second), "save fair-share");
}

void Controller::RequeueJob(int64_t job_id, const std::string& why) {
  Job& job = *core_.FindJob(job_id);
  std::vector<std::string> nodes, faulty;
  for (const auto& a : job.alloc) {
    nodes.push_back(a.node_id);
    const sched::Node* n = core_.FindNode(a.node_id);
    if (!n || !n->up) faulty.push_back(a.node_id);
  }
  int64_t now = clock_->NowUnixMs();
  Booked b;
  // Nodes that stopped answering lose 5 % of their stake (once per attempt);
  // a job lost with a restarted worker is the batch node's fault, unslashed.
  for (const auto& f : faulty) {
    Status s = Book(acct_->NodeTimedOut(f, job_id, job.attempt, now), b);
    if (!s.ok() && s.code() != Status::Code::kAlreadyExists)
      spdlog::warn("job {}: timeout of node {} not booked: {}", job_id, f, s.ToString());
  }
  if (faulty.empty() && !nodes.empty()) faulty.push_back(nodes[0]);
  // Time lost to a provider's fault is not charged; the hold carries over to
  // the next attempt, or goes back when the job ends here.
  EndAttempt(job, faulty, b);
  if (job.spec.requeue == false) {
    core_.FinishJob(job_id, JobState::kNodeFail, 0, 0, now);  // --no-requeue: NODE_FAIL
  } else {
    core_.Requeue(job_id, now, why, /*provider_fault=*/true);
  }
  CloseJobIfOver(job, b);
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  Persist(b);
  CheckOk(store_->SaveJob(job), "save job");
  CheckOk(tx.Commit(), "commit");
  ForgetIfReleased(job_id);
  if (job.spec.requeue == false) {
    spdlog::warn("job {} ended NODE_FAIL ({}); --no-requeue", job_id, why);
  } else if (sched::IsTerminal(job.state)) {
    spdlog::warn("job {} ended {} ({}): it was stopping when its node was lost", job_id,
                 sched::JobStateName(job.state), why);
    SaveFairShare(job.payer);
  } else {
    spdlog::warn("job {} requeued ({}), attempt {} next", job_id, why, job.attempt);
  }
  for (const auto& n : nodes) Touch(n);
}

json Controller::ApplyJobEnd(Job& job, const std::string& node_id, const std::string& result, int exit_code,
                             int sig, int64_t start_ms, int64_t end_ms, const std::string& message) {
  int64_t id = job.id;
  int64_t now = clock_->NowUnixMs();
  int64_t served = std::clamp<int64_t>(end_ms - start_ms, 0, std::max<int64_t>(0, now - job.start_ms));
  if (result == "lost") {
    RequeueJob(id, "NodeFail: the job was lost with the worker on " + node_id);
    RunSchedule();
    return json{{"applied", true}};
  }
  JobState st = JobState::kFailed;
  if (result == "exited") st = exit_code == 0 ? JobState::kCompleted : JobState::kFailed;
  else if (result == "signaled") st = JobState::kFailed;
  else if (result == "timeout") st = JobState::kTimeout;
  else if (result == "cancelled") st = JobState::kCancelled;
  else if (result == "launch_failed") {
    exit_code = exit_code ? exit_code : 1;
    served = 0;  // nothing ran: nothing to charge
    spdlog::warn("job {} could not start on {}: {}", id, node_id, message);
  }
  EndJob(id, st, exit_code, sig, served, /*provider_fault=*/result == "launch_failed");
  return json{{"applied", true}};
}

Result<json> Controller::SubmitUsage(const httplib::Request& r, const Caller& c) {
  GM_ASSIGN_OR_RETURN(json b, ParseJsonBody(r));
  GM_ASSIGN_OR_RETURN(SignedRecord signed_record, SignedRecordFromJson(b));
  auto key = node_keys_.find(c.node_id);
  if (key == node_keys_.end()) return Status::FailedPrecondition("node " + c.node_id + " has no registered key");
  int64_t job_id = signed_record.record.value("job_id", int64_t{0});
  Job* job = core_.FindJob(job_id);
  RecordExpectations expect;
  expect.node_id = c.node_id;
  expect.last_seq = key->second.last_seq;
  auto on_node = [&](const Job& j) {
    if (std::any_of(j.alloc.begin(), j.alloc.end(), [&](const auto& a) { return a.node_id == c.node_id; })) return true;
    for (const auto& a : j.history)
      if (std::count(a.node_ids.begin(), a.node_ids.end(), c.node_id)) return true;
    return false;
  };
  expect.job_allocated = job && on_node(*job);
  RecordCheck check;
  Status s = CheckRecord(signed_record, key->second.pubkey, expect, &check);
  if (check.rejection == RecordRejection::kReplay) return json{{"applied", false}, {"duplicate", true}};
  if (!s.ok()) {
    spdlog::warn("usage record from {} rejected ({}): {}", c.node_id, RecordRejectionName(check.rejection),
                 s.message());
    NodeEvent(c.node_id, "record_rejected", {{"reason", RecordRejectionName(check.rejection)},
                                             {"message", s.message()}, {"job_id", job_id}});
    // A record the node's key did not sign, or one that claims another node
    // or a job the node never ran, is forged: −50 % stake and a ban.
    if (check.rejection == RecordRejection::kBadSignature || check.rejection == RecordRejection::kWrongNode ||
        check.rejection == RecordRejection::kJobNotAllocated) {
      const json& seq = signed_record.record.contains("seq") ? signed_record.record["seq"] : json();
      std::string id = c.node_id + ":" + (seq.is_number_integer() ? std::to_string(seq.get<int64_t>())
                                                                  : "sig-" + signed_record.signature.substr(0, 16));
      Forged(c.node_id, id, std::string(RecordRejectionName(check.rejection)) + ": " + s.message());
    }
    return s;
  }
  const UsageRecord& rec = check.record;
  key->second.last_seq = rec.seq;
  // Stored after the record is applied (below), never before: a crash in
  // between makes the node send it again, and applying is idempotent.
  auto save_seq = [&] { CheckOk(store_->SaveNodeKey(c.node_id, key->second.pubkey, rec.seq), "save node key"); };
  bool current = rec.attempt == job->attempt && !job->alloc.empty() && job->alloc[0].node_id == c.node_id &&
                 (job->state == JobState::kRunning || job->state == JobState::kCompleting);
  if (!current) {  // an attempt already closed or requeued
    save_seq();
    return json{{"applied", false}};
  }
  json out = ApplyJobEnd(*job, c.node_id, rec.result, rec.exit_code, rec.signal, rec.start_ms, rec.end_ms, "");
  save_seq();
  return out;
}

Result<json> Controller::UploadOutput(const httplib::Request& r, const Caller& c) {
  int64_t id = std::stoll(r.matches[1]);
  Job* job = core_.FindJob(id);
  if (!job) return Status::NotFound("unknown job " + std::to_string(id));
  int attempt = static_cast<int>(QueryInt(r, "attempt", -1));
  std::string name = r.get_param_value("name");
  if (name.empty() || name.size() > 4096) return Status::InvalidArgument("missing or bad output name");
  bool mine = attempt == job->attempt && !job->alloc.empty() && job->alloc[0].node_id == c.node_id;
  if (!mine) return Status::PermissionDenied("job " + std::to_string(id) + " attempt " +
                                             std::to_string(attempt) + " is not this node's");
  if (static_cast<int64_t>(r.body.size()) > cfg_.max_output_bytes)
    return Status::InvalidArgument("output file exceeds the limit of " +
                                   std::to_string(cfg_.max_output_bytes) + " bytes");
  fs::path dir = fs::path(cfg_.state_dir) / "outputs" / std::to_string(id) / std::to_string(attempt);
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string path = (dir / Sha256Hex(name)).string();
  GM_RETURN_IF_ERROR(WriteFileAtomic(path, r.body, 0600));
  OutputRow row{id, attempt, name, static_cast<int64_t>(r.body.size()), Sha256Hex(r.body), path};
  CheckOk(store_->AddOutput(row), "save output");
  return json{{"name", name}, {"size", row.size}, {"sha256", row.sha256}};
}

std::string Controller::BlobPath(const std::string& sha256) const {
  return cfg_.state_dir + "/blobs/" + sha256.substr(0, 2) + "/" + sha256;
}

Result<json> Controller::UploadBlob(const httplib::Request& r, const Caller& c) {
  std::string claimed = r.get_param_value("sha256");
  if (!IsSha256Hex(claimed)) return Status::InvalidArgument("upload needs ?sha256= with 64 lower-case hex digits");
  if (static_cast<int64_t>(r.body.size()) > cfg_.max_bundle_bytes)
    return Status::InvalidArgument("bundle file of " + std::to_string(r.body.size()) +
                                   " bytes exceeds the bundle limit of " + std::to_string(cfg_.max_bundle_bytes) +
                                   " bytes");
  std::string actual = Sha256Hex(r.body);
  if (actual != claimed)
    return Status::InvalidArgument("bundle hash mismatch: the upload hashes to " + actual + ", not " + claimed);
  std::string path = BlobPath(actual);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (!fs::exists(path)) GM_RETURN_IF_ERROR(WriteFileAtomic(path, r.body, 0600));
  return json{{"sha256", actual}, {"size", r.body.size()}};
}

Status Controller::CheckBundle(const JobSpec& spec, const std::string& account) {
  if (spec.bundle.empty()) return Status::OK();
  if (!IsSha256Hex(spec.bundle)) return Status::InvalidArgument("bundle id must be a SHA-256");
  std::ifstream in(BlobPath(spec.bundle), std::ios::binary);
  if (!in) return Status::InvalidArgument("bundle " + spec.bundle + " was not uploaded");
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  if (Sha256Hex(bytes) != spec.bundle) return Status::Corruption("stored bundle " + spec.bundle + " is damaged");
  GM_ASSIGN_OR_RETURN(BundleManifest m, DecodeManifest(bytes));
  if (m.TotalBytes() > cfg_.max_bundle_bytes)
    return Status::InvalidArgument("bundle of " + std::to_string(m.TotalBytes()) + " bytes exceeds the limit of " +
                                   std::to_string(cfg_.max_bundle_bytes) + " bytes");
  for (const auto& f : m.files)
    if (!fs::exists(BlobPath(f.sha256)))
      return Status::InvalidArgument("bundle file '" + f.path + "' (" + f.sha256 + ") was not uploaded");
  return Status::OK();
}

void Controller::DownloadJobBlob(const httplib::Request& r, httplib::Response& res) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto caller = Authenticate(r);
    if (!caller.ok()) return ReplyError(res, caller.status());
    int64_t id = std::stoll(r.matches[1]);
    std::string sha = r.matches[2];
    Job* job = core_.FindJob(id);
    bool allowed = job && (caller->kind == "node"
                               ? std::any_of(job->alloc.begin(), job->alloc.end(),
                                             [&](const auto& a) { return a.node_id == caller->node_id; })
                               : CanSee(*caller, *job));
    if (!allowed) return ReplyError(res, Status::NotFound("no such job for this caller"));
    if (job->spec.bundle.empty()) return ReplyError(res, Status::NotFound("job has no bundle"));
    bool listed = sha == job->spec.bundle;
    if (!listed) {
      std::ifstream in(BlobPath(job->spec.bundle), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), {});
      auto m = DecodeManifest(bytes);
      listed = m.ok() && std::any_of(m->files.begin(), m->files.end(), [&](const auto& f) { return f.sha256 == sha; });
    }
    if (!listed) return ReplyError(res, Status::NotFound("blob is not part of this job's bundle"));
    path = BlobPath(sha);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return ReplyError(res, Status::NotFound("blob missing on the controller"));
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  res.set_content(bytes, "application/octet-stream");
}

Result<json> Controller::ListOutputs(const httplib::Request& r, const Caller& c) {
  GM_ASSIGN_OR_RETURN(Job * job, JobFromPath(r, c));
  GM_ASSIGN_OR_RETURN(auto rows, store_->ListOutputs(job->id, job->attempt));
  json out = json::array();
  for (const auto& o : rows) out.push_back({{"name", o.name}, {"size", o.size}, {"sha256", o.sha256}});
  return json{{"job_id", job->id}, {"attempt", job->attempt}, {"outputs", out}};
}

void Controller::DownloadOutput(const httplib::Request& r, httplib::Response& res) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto caller = Authenticate(r);
    if (!caller.ok()) return ReplyError(res, caller.status());
    auto job = JobFromPath(r, *caller);
    if (!job.ok()) return ReplyError(res, job.status());
    auto rows = store_->ListOutputs((*job)->id, (*job)->attempt);
    if (!rows.ok()) return ReplyError(res, rows.status());
    std::string name = r.get_param_value("name");
    for (const auto& o : *rows)
      if (o.name == name) path = o.path;
    if (path.empty()) return ReplyError(res, Status::NotFound("job has no output named '" + name + "'"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  res.set_content(bytes, "application/octet-stream");
}

uint64_t Controller::RandomU64() {
  uint64_t v = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v);
  return v;
}

void Controller::NodeEvent(const std::string& node_id, const std::string& kind, const json& detail) {
  CheckOk(store_->AddNodeEvent(node_id, clock_->NowUnixMs(), kind, detail.dump()), "save node event");
}

void Controller::IssueChallenges(const std::string& node_id, const std::vector<std::string>& kinds) {
  auto& open = challenges_[node_id];
  for (const auto& kind : kinds) {
    auto spec = NewChallenge(kind, RandomU64(), cfg_.challenge_sizes);
    if (!spec.ok()) continue;
    open.push_back({RandomHex(8), *spec, clock_->NowUnixMs()});
  }
  Touch(node_id);
}

void Controller::ChallengeFailed(const std::string& node_id, const std::string& challenge_id,
                                 const std::string& reason) {
  challenges_.erase(node_id);
  const sched::Node* n = core_.FindNode(node_id);
  if (!n) return;
  bool is_new = n->verification == sched::NodeTrust::kPending;
  // A failed challenge costs 2 % reputation (the accounting core keeps it).
  Booked b;
  Status booked = Book(acct_->ChallengeResult(node_id, challenge_id, false, 0, clock_->NowUnixMs()), b);
  if (!booked.ok()) spdlog::warn("node {}: challenge result not booked: {}", node_id, booked.ToString());
  if (is_new) core_.MutateNode(node_id, [&](sched::Node& m) { m.verification = sched::NodeTrust::kRejected; });
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  Persist(b);
  CheckOk(store_->SaveNode(*core_.FindNode(node_id)), "save node");
  CheckOk(tx.Commit(), "commit");
  NodeEvent(node_id, is_new ? "rejected" : "challenge_failed", {{"reason", reason}});
  spdlog::warn("node {} failed verification: {}{}", n->name, reason, is_new ? " (REJECTED)" : " (−2 % reputation)");
}

Result<json> Controller::AnswerChallenge(const httplib::Request& r, const Caller& c) {
  std::string node_id = r.matches[1], cid = r.matches[2];
  if (node_id != c.node_id) return Status::PermissionDenied("a node answers only its own challenges");
  auto& open = challenges_[node_id];
  auto it = std::find_if(open.begin(), open.end(), [&](const auto& ch) { return ch.id == cid; });
  if (it == open.end()) return Status::NotFound("no open challenge " + cid + " for node " + node_id);
  GM_ASSIGN_OR_RETURN(json answer, ParseJsonBody(r));
  const sched::Node* n = core_.FindNode(node_id);
  VerifyOptions opts;
  opts.check_seed = RandomU64();
  opts.max_tflops = n && n->declared ? cfg_.max_cpu_tflops : cfg_.max_gpu_tflops;
  opts.round_trip_ns = (clock_->NowUnixMs() - it->issued_ms) * 1'000'000;
  VerifyResult v;
  Status s = VerifyAnswer(it->spec, answer, opts, &v);
  if (!s.ok()) return Status::InvalidArgument("malformed challenge answer: " + s.message());
  ChallengeSpec spec = it->spec;
  open.erase(it);
  NodeEvent(node_id, v.passed ? "challenge_passed" : "challenge_failed",
            {{"kind", spec.kind}, {"reason", v.reason}, {"tflops", v.tflops}, {"elapsed_ns", v.elapsed_ns}});
  if (!v.passed) {
    ChallengeFailed(node_id, cid, spec.kind + ": " + v.reason);
    RunSchedule();
    return json{{"passed", false}, {"reason", v.reason}};
  }
  core_.MutateNode(node_id, [&](sched::Node& m) {
    if (spec.kind == kChallengeMatmul && v.tflops > 0) m.tflops = v.tflops;
    if (open.empty() && m.verification == sched::NodeTrust::kPending) m.verification = sched::NodeTrust::kVerified;
  });
  Booked b;
  Status booked = Book(acct_->ChallengeResult(node_id, cid, true, static_cast<int64_t>(v.tflops * 1000),
                                              clock_->NowUnixMs()),
                       b);
  if (!booked.ok()) spdlog::warn("node {}: challenge result not booked: {}", node_id, booked.ToString());
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  Persist(b);
  const sched::Node* after = core_.FindNode(node_id);
  CheckOk(store_->SaveNode(*after), "save node");
  CheckOk(tx.Commit(), "commit");
  if (open.empty()) {
    int64_t mean = cfg_.reverify_interval_s * 1000;
    next_verify_ms_[node_id] = clock_->NowUnixMs() + mean / 2 + static_cast<int64_t>(RandomU64() % std::max<int64_t>(1, mean));
    spdlog::info("node {} verified ({}; {:.3f} TFLOPS measured)", after->name, v.reason, after->tflops);
    RunSchedule();
  }
  return json{{"passed", true}, {"reason", v.reason}, {"tflops", v.tflops},
              {"verification", sched::NodeTrustName(after->verification)}};
}

Result<json> Controller::NodeHistory(const httplib::Request& r, const Caller& c) {
  std::string id = r.matches[1];
  const sched::Node* n = FindNodeRef(id);
  if (!n) return Status::NotFound("no node " + id);
  if (c.role != "admin" && c.account != n->provider && c.role != "user")
    return Status::PermissionDenied("not allowed");
  GM_ASSIGN_OR_RETURN(auto events, store_->NodeEvents(n->id, 200));
  json out = json::array();
  GM_ASSIGN_OR_RETURN(auto acct_events, store_->ledger().NodeEvents(n->id, 200));
  events.insert(events.end(), acct_events.begin(), acct_events.end());
  std::stable_sort(events.begin(), events.end(),
                   [](const auto& a, const auto& b) { return std::get<0>(a) > std::get<0>(b); });
  if (events.size() > 200) events.resize(200);
  for (const auto& [t, kind, detail] : events)
    out.push_back({{"time_ms", t}, {"kind", kind}, {"detail", json::parse(detail, nullptr, false)}});
  return json{{"node", NodeJson(*n)}, {"events", out}};
}

const sched::Node* Controller::FindNodeRef(const std::string& ref) const {
  if (const sched::Node* n = core_.FindNode(ref)) return n;
  const sched::Node* found = nullptr;
  for (const auto& m : core_.nodes())
    if (m.name == ref && (!found || !Detached(m.id))) found = &m;
  return found;
}

bool Controller::Detached(const std::string& node_id) const {
  auto it = detaches_.find(node_id);
  return it != detaches_.end() && it->second.done_ms > 0;
}

json Controller::NodeJson(const sched::Node& n) const {
  json nj = sched::NodeSummary(n);
  nj["group"] = core_.GroupOf(n);
  json parts = json::array();
  for (const auto& p : core_.partitions())
    if (p.Contains(n)) parts.push_back(p.name);
  nj["partitions"] = parts;
  if (auto d = drains_.find(n.id); d != drains_.end() && n.drain) {
    nj["drain_time_ms"] = d->second.time_ms;
    nj["drain_user"] = d->second.by;
  }
  if (auto d = detaches_.find(n.id); d != detaches_.end()) {
    nj["detach"] = {{"requested_ms", d->second.requested_ms}, {"by", d->second.by},
                    {"reason", d->second.reason}, {"done_ms", d->second.done_ms}};
    if (d->second.done_ms > 0) nj["state"] = "detached";
  }
  return nj;
}

namespace {

// A drain reason as an operator types it: one line of printable text.
Result<std::string> CheckReason(const json& body, bool required) {
  if (!body.contains("reason")) {
    if (required)
      return Status::InvalidArgument("a reason is required to drain a node: send {\"reason\": \"...\"} "
                                     "(Slurm: scontrol update nodename=X state=drain reason=...)");
    return std::string();
  }
  if (!body["reason"].is_string()) return Status::InvalidArgument("'reason' must be a string");
  std::string reason = body["reason"].get<std::string>();
  size_t b = reason.find_first_not_of(" \t"), e = reason.find_last_not_of(" \t");
  reason = b == std::string::npos ? "" : reason.substr(b, e - b + 1);
  if (reason.empty() && required) return Status::InvalidArgument("the drain reason is empty");
  if (reason.size() > 256) return Status::InvalidArgument("the reason is longer than 256 characters");
  for (unsigned char ch : reason)
    if (ch < 0x20 || ch == 0x7f) return Status::InvalidArgument("the reason contains a control character");
  return reason;
}

}  // namespace

Result<json> Controller::NodeAction(const httplib::Request& r, const Caller& c) {
  std::string ref = r.matches[1], what = r.matches[2];
  const sched::Node* n = FindNodeRef(ref);
  if (!n) return Status::NotFound("no node " + ref);
  if (c.role != "admin" && c.account != n->provider)
    return Status::PermissionDenied("only an admin or the node's provider (" + n->provider + ") may " + what +
                                    " node " + n->name);
  json body = json::object();
  if (!r.body.empty()) {
    GM_ASSIGN_OR_RETURN(body, ParseJsonBody(r));
  }
  for (const auto& [key, value] : body.items())
    if (key != "reason" || what == "resume")
      return Status::InvalidArgument("unknown field '" + key + "' for " + what);
  GM_ASSIGN_OR_RETURN(std::string reason, CheckReason(body, what == "drain"));
  if (Detached(n->id))
    return Status::FailedPrecondition("node " + n->name + " is detached; its provider may attach it again");
  const std::string id = n->id, name = n->name;
  int64_t now = clock_->NowUnixMs();
  auto detach = detaches_.find(id);
  bool detaching = detach != detaches_.end();
  if (what == "resume" && !n->drain)
    return Status::FailedPrecondition("node " + name + " is not drained (state " + n->DisplayState() + ")");
  if (what == "detach" && detaching)
    return Status::FailedPrecondition("node " + name + " is already being detached; it leaves once its " +
                                      std::to_string(n->jobs.size()) + " job(s) end");
  if (what == "drain" && detaching)
    return Status::FailedPrecondition("node " + name + " is being detached; resume it first to cancel that");
  std::vector<int64_t> jobs(n->jobs.begin(), n->jobs.end());
  {
    SqlTransaction tx(store_->db());
    CheckOk(tx.begin_status(), "begin");
    if (what == "resume") {
      core_.MutateNode(id, [](sched::Node& m) {
        m.drain = false;
        m.drain_reason.clear();
      });
      drains_.erase(id);
      CheckOk(store_->DeleteNodeDrain(id), "save node drain");
      if (detaching) {
        detaches_.erase(detach);
        CheckOk(store_->DeleteNodeDetach(id), "save node detach");
      }
      NodeEvent(id, "resume", {{"by", c.account}, {"cancelled_detach", detaching}});
    } else {
      std::string text = what == "drain" ? reason : "detach" + (reason.empty() ? "" : ": " + reason);
      core_.MutateNode(id, [&](sched::Node& m) {
        m.drain = true;
        m.drain_reason = text;
      });
      drains_[id] = NodeDrainRow{id, now, c.account};
      CheckOk(store_->SaveNodeDrain(drains_[id]), "save node drain");
      if (what == "detach") {
        detaches_[id] = NodeDetachRow{id, now, c.account, reason, 0};
        CheckOk(store_->SaveNodeDetach(detaches_[id]), "save node detach");
      }
      NodeEvent(id, what == "drain" ? "drain" : "detach_requested",
                {{"by", c.account}, {"reason", text}, {"jobs", jobs}});
    }
    CheckOk(store_->SaveNode(*core_.FindNode(id)), "save node");
    CheckOk(tx.Commit(), "commit");
  }
  spdlog::info("node {} ({}): {} by {}{}", name, id, what, c.account, reason.empty() ? "" : " (" + reason + ")");
  if (what == "detach" && jobs.empty()) FinishDetach(id);
  Touch(id);
  RunSchedule();
  json out = NodeJson(*core_.FindNode(id));
  out["running_jobs"] = jobs;
  return out;
}

void Controller::FinishDetach(const std::string& node_id) {
  auto& d = detaches_[node_id];
  d.node_id = node_id;
  d.done_ms = clock_->NowUnixMs();
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  core_.MutateNode(node_id, [](sched::Node& m) {
    m.up = false;
    m.drain = true;
    m.drain_reason = "detached";
  });
  CheckOk(store_->SaveNode(*core_.FindNode(node_id)), "save node");
  CheckOk(store_->SaveNodeDetach(d), "save node detach");
  CheckOk(store_->DeleteNodeTokens(node_id), "revoke node tokens");
  NodeEvent(node_id, "detached", {{"by", d.by}, {"reason", d.reason}});
  CheckOk(tx.Commit(), "commit");
  std::erase_if(tokens_, [&](const auto& kv) { return kv.second.kind == "node" && kv.second.node_id == node_id; });
  challenges_.erase(node_id);
  next_verify_ms_.erase(node_id);
  Touch(node_id);
  spdlog::info("node {} detached", core_.FindNode(node_id)->name);
}

Result<json> Controller::ListNodes(const httplib::Request& r, const Caller& c) {
  json out = json::array();
  for (const auto& n : core_.nodes())
    if (!Detached(n.id)) out.push_back(NodeJson(n));
  json parts = json::array();
  for (const auto& p : core_.partitions())
    parts.push_back({{"name", p.name}, {"default", p.is_default}, {"default_time_s", p.default_time_s},
                     {"max_time_s", p.max_time_s}, {"min_trust", p.min_trust}});
  const sched::Partition* def = core_.FindPartition("");
  return json{{"nodes", out}, {"partitions", parts}, {"partition", def->name},
              {"default_time_limit_s", def->default_time_s}, {"max_time_limit_s", def->max_time_s}};
}

// ---- accounts and money -------------------------------------------------------

Result<json> Controller::WhoAmI(const httplib::Request& r, const Caller& c) {
  return json{{"account", c.account}, {"role", c.role}, {"kind", c.kind}, {"node_id", c.node_id},
              {"max_bundle_bytes", cfg_.max_bundle_bytes}, {"max_output_bytes", cfg_.max_output_bytes}};
}

Result<json> Controller::Wallet(const httplib::Request& r, const Caller& c) {
  std::string account = r.has_param("account") ? r.get_param_value("account") : c.account;
  if (account != c.account && c.role != "admin")
    return Status::PermissionDenied("only an admin may read another account's wallet");
  if (!accounts_.count(account)) return Status::NotFound("no account named '" + account + "'");
  const acct::Ledger& ledger = acct_->ledger();
  const std::string user_wallet = acct::UserWallet(account), provider_wallet = acct::ProviderWallet(account);
  Micros held = 0;
  json holds = json::array();
  for (const auto& [id, e] : acct_->escrow().jobs())
    if (e.payer_wallet == user_wallet && !e.released && e.held > 0) {
      held += e.held;
      holds.push_back({{"job_id", id}, {"account", acct::EscrowAccount(id)}, {"held", e.held}});
    }
  // Stake of the nodes this account provides: bonded, and unbonding with the
  // time each part can be withdrawn.
  json stakes = json::array();
  for (const auto& [id, n] : acct_->nodes()) {
    if (n.info.provider_wallet != provider_wallet) continue;
    json unbonding = json::array();
    for (const auto& u : n.stake.unbonding) unbonding.push_back({{"amount", u.amount}, {"release_at_ms", u.release_at_ms}});
    const sched::Node* sn = core_.FindNode(id);
    stakes.push_back({{"node_id", id}, {"name", sn ? sn->name : id},
                      {"bonded", ledger.Balance(acct::StakeAccount(id))},
                      {"unbonding", ledger.Balance(acct::UnbondingAccount(id))}, {"unbonding_parts", unbonding},
                      {"trust_level", acct_->Trust(id)}, {"reputation", acct_->Reputation(id)},
                      {"banned", n.reputation.banned}, {"draining", n.reputation.draining}});
  }
  int limit = static_cast<int>(std::clamp<int64_t>(QueryInt(r, "limit", 20), 1, 1000));
  json history = json::array();
  for (const std::string& wallet : {user_wallet, provider_wallet}) {
    GM_ASSIGN_OR_RETURN(auto lines, store_->ledger().History(wallet, limit));
    for (const auto& l : lines)
      history.push_back({{"tx", l.tx_id}, {"time_ms", l.time_ms}, {"kind", l.kind}, {"ref", l.ref},
                         {"memo", l.memo}, {"amount", l.amount}, {"wallet", wallet}});
  }
  std::sort(history.begin(), history.end(),
            [](const json& a, const json& b) { return a["tx"].get<int64_t>() > b["tx"].get<int64_t>(); });
  if (static_cast<int>(history.size()) > limit) history.erase(history.begin() + limit, history.end());
  json out{{"account", account},
           {"available", ledger.Balance(user_wallet)},
           {"held", held},
           {"holds", holds},
           {"earned", ledger.Balance(provider_wallet)},
           {"stake", stakes},
           {"history", history}};
  // The platform's own accounts, for an admin reading its own wallet.
  if (c.role == "admin" && account == c.account)
    out["system"] = {{"treasury", ledger.Balance(acct::kTreasuryAccount)},
                     {"rewards_pool", ledger.Balance(acct::kRewardsPoolAccount)},
                     {"burn", ledger.Balance(acct::kBurnAccount)},
                     {"minted", -ledger.Balance(acct::kMintAccount)}};
  return out;
}

Result<json> Controller::CreateAccount(const httplib::Request& r, const Caller& c) {
  if (c.role != "admin") return Status::PermissionDenied("only an admin may create accounts");
  GM_ASSIGN_OR_RETURN(json b, ParseJsonBody(r));
  std::string name = b.value("name", ""), role = b.value("role", "user");
  if (!std::regex_match(name, kNameRe))
    return Status::InvalidArgument("invalid account name '" + name +
                                   "': lower-case letters, digits, _ . - (at most 32)");
  if (role != "user" && role != "provider" && role != "admin")
    return Status::InvalidArgument("invalid role '" + role + "': user, provider or admin");
  if (accounts_.count(name)) return Status::AlreadyExists("account '" + name + "' exists");
  std::string token;
  SqlTransaction tx(store_->db());
  CheckOk(tx.begin_status(), "begin");
  AccountRow row{name, role};
  CheckOk(store_->CreateAccount(row, clock_->NowUnixMs()), "create account");
  accounts_[name] = row;
  CheckOk(IssueToken(name, "api", "", &token), "issue token");
  CheckOk(tx.Commit(), "commit");
  spdlog::info("account {} ({}) created by {}", name, role, c.account);
  return json{{"name", name}, {"role", role}, {"token", token}};
}

Result<json> Controller::NewToken(const httplib::Request& r, const Caller& c) {
  if (c.role != "admin") return Status::PermissionDenied("only an admin may issue tokens");
  GM_ASSIGN_OR_RETURN(json b, ParseJsonBody(r));
  std::string name = b.value("account", "");
  if (!accounts_.count(name)) return Status::NotFound("no account named '" + name + "'");
  std::string token;
  CheckOk(IssueToken(name, "api", "", &token), "issue token");
  return json{{"account", name}, {"token", token}};
}

Result<json> Controller::NewEnrollToken(const httplib::Request& r, const Caller& c) {
  if (c.role != "admin") return Status::PermissionDenied("only an admin may issue enrollment tokens");
  GM_ASSIGN_OR_RETURN(json b, ParseJsonBody(r));
  std::string name = b.value("account", "");
  auto it = accounts_.find(name);
  if (it == accounts_.end()) return Status::NotFound("no account named '" + name + "'");
  if (it->second.role != "provider")
    return Status::InvalidArgument("account '" + name + "' is not a provider account");
  std::string token;
  CheckOk(IssueToken(name, "enroll", "", &token), "issue token");
  return json{{"account", name}, {"enroll_token", token}};
}

Result<json> Controller::Mint(const httplib::Request& r, const Caller& c) {
  if (c.role != "admin") return Status::PermissionDenied("only an admin may mint tokens");
  GM_ASSIGN_OR_RETURN(json b, ParseJsonBody(r));
  std::string name = b.value("account", "");
  if (!accounts_.count(name)) return Status::NotFound("no account named '" + name + "'");
  if (!b.contains("amount") || !b["amount"].is_number_integer() || b["amount"].get<int64_t>() <= 0)
    return Status::InvalidArgument("'amount' must be a positive integer of micro-tokens");
  std::string which = b.value("wallet", "user");
  if (which != "user" && which != "provider")
    return Status::InvalidArgument("'wallet' must be 'user' or 'provider', not '" + which + "'");
  std::string wallet = which == "provider" ? acct::ProviderWallet(name) : acct::UserWallet(name);
  Micros amount = b["amount"].get<int64_t>();
  std::string ref = b.value("ref", RandomHex(8));
  GM_ASSIGN_OR_RETURN(bool seen, store_->ledger().HasRef("mint:" + ref));
  if (seen) return Status::AlreadyExists("a mint with ref '" + ref + "' was applied before");  // a retry
  Booked bk;
  GM_RETURN_IF_ERROR(Book(acct_->Deposit(wallet, amount, ref), bk));
  SqlTransaction dbtx(store_->db());
  CheckOk(dbtx.begin_status(), "begin");
  Persist(bk);
  CheckOk(dbtx.Commit(), "commit");
  spdlog::info("minted {} to {}", FormatTokens(amount), wallet);
  RunSchedule();  // jobs waiting for funds may start now
  return json{{"account", name}, {"wallet", wallet}, {"amount", amount},
              {"available", acct_->ledger().Balance(wallet)}};
}

// ---- timers and serving --------------------------------------------------------

void Controller::OnTick() {
  auto r = core_.Tick(clock_->NowUnixMs());
  for (const auto& id : r.nodes_lost) {
    spdlog::warn("node {} missed its heartbeats: DOWN", core_.FindNode(id)->name);
    CheckOk(store_->SaveNode(*core_.FindNode(id)), "save node");
  }
  for (int64_t id : r.jobs_on_lost) RequeueJob(id, "NodeFail");
  for (int64_t id : r.jobs_hit_limit) {
    Job& job = *core_.FindJob(id);
    spdlog::info("job {} reached its time limit", id);
    CheckOk(store_->SaveJob(job), "save job");
    TouchJobNodes(job);
  }
  for (int64_t id : r.jobs_timed_out) {
    Job& job = *core_.FindJob(id);
    // Not knowing what ran is the node's failure, not the user's: no charge.
    spdlog::warn("job {}: its node never reported the end; closing it as TIMEOUT, uncharged", id);
    (void)job;
    EndJob(id, JobState::kTimeout, 0, 9, 0, /*provider_fault=*/true);
  }
  int64_t now = clock_->NowUnixMs();
  std::vector<std::tuple<std::string, std::string, std::string>> expired;
  for (auto& [node, open] : challenges_)
    for (const auto& ch : open)
      if (now - ch.issued_ms > cfg_.challenge_timeout_s * 1000) expired.emplace_back(node, ch.id, ch.spec.kind);
  for (const auto& [node, id, kind] : expired) ChallengeFailed(node, id, kind + ": no answer in time");
  for (auto& [node, due] : next_verify_ms_)
    if (due <= now && challenges_[node].empty()) {
      due = now + cfg_.reverify_interval_s * 1000;
      const sched::Node* n = core_.FindNode(node);
      if (n && n->up && n->verification == sched::NodeTrust::kVerified) IssueChallenges(node, {kChallengePow, kChallengeMatmul});
    }
  std::vector<std::string> idle_detaching;
  for (const auto& [id, d] : detaches_) {
    const sched::Node* n = core_.FindNode(id);
    if (d.done_ms == 0 && n && n->jobs.empty()) idle_detaching.push_back(id);
  }
  for (const auto& id : idle_detaching) FinishDetach(id);
  PeriodicLedgerWork(now);
  // Age and --begin change with time: one pass per tick keeps priorities and
  // reasons current even when no event arrives.
  RunSchedule();
}

Status Controller::Run() {
  server_ = std::make_unique<httplib::SSLServer>((cfg_.state_dir + "/tls.crt").c_str(),
                                                 (cfg_.state_dir + "/tls.key").c_str());
  if (!server_->is_valid()) return Status::Internal("cannot set up TLS from " + cfg_.state_dir);
  int threads = cfg_.http_threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(
      static_cast<size_t>(std::max(cfg_.max_output_bytes, cfg_.max_bundle_bytes)) + (1 << 20));
  server_->set_read_timeout(30, 0);
  server_->set_tcp_nodelay(true);  // without it every answer waits on the client's delayed ACK (~40 ms)
  server_->set_write_timeout(30, 0);
  Routes(*server_);
  int port = cfg_.port;
  if (port == 0) {
    port = server_->bind_to_any_port(cfg_.listen_host.c_str());
    if (port < 0) return Status::IOError("cannot bind " + cfg_.listen_host);
  } else if (!server_->bind_to_port(cfg_.listen_host.c_str(), port)) {
    return Status::IOError("cannot bind " + cfg_.listen_host + ":" + std::to_string(port) +
                           " (in use?)");
  }
  std::string host = cfg_.listen_host == "0.0.0.0" ? "127.0.0.1" : cfg_.listen_host;
  std::string url = "https://" + host + ":" + std::to_string(port);
  GM_RETURN_IF_ERROR(WriteFileAtomic(cfg_.state_dir + "/url", url + "\n", 0644));
  spdlog::info("gmctld listening on {}", url);
  ticker_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      tick_cv_.wait_for(lock, std::chrono::milliseconds(cfg_.tick_ms));
      if (!stopping_) OnTick();
    }
  });
  {
    std::lock_guard<std::mutex> lock(mu_);
    RunSchedule();
  }
  if (!server_->listen_after_bind()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) return Status::IOError("server stopped unexpectedly");
  }
  return Status::OK();
}

void Controller::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    work_cv_.notify_all();
    tick_cv_.notify_all();
  }
  if (server_) server_->stop();
}

}  // namespace gm
