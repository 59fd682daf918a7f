// gmctld's shell around the pure cores: TLS and state directory set-up, the
// HTTPS/JSON API for gm and gmd, persistence of every state change in one
// database transaction, and the timers (heartbeats, time limits).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "accounting/accounting.h"
#include "common/clock.h"
#include "common/signing.h"
#include "common/status.h"
#include "scheduler/core.h"
#include "scheduler/store.h"
#include "scheduler/verify.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace gm {

struct ControllerConfig {
  std::string state_dir;                     // created on first start (mode 0700)
  std::string database;                      // "" = sqlite:STATE/gridmint.db; or a PostgreSQL connection string
  std::string listen_host = "127.0.0.1";     // address to bind
  int port = 6817;                           // 0 = any free port (written to STATE/url)
  std::vector<std::string> tls_names;        // extra DNS names for the certificate
  sched::Options sched;                      // time limits, heartbeat timeout, kill grace
  // Fees and burn, genesis, rewards, staking, reputation, epoch size: the
  // accounting core's defaults unless configured (gmctld's options).
  acct::AccountingConfig accounting;
  int64_t epoch_seconds = 3600;              // an audit epoch also closes after this long (if not empty)
  int64_t reward_epoch_seconds = 86400;      // the rewards pool emits once per this period
  // GPU model (case-insensitive substring) → reward tier; see TierOf.
  std::vector<std::pair<std::string, std::string>> gpu_tiers;
  // Measured round-trip times between sites: sites under sched.max_group_rtt_ms
  // form one locality group for multi-node jobs.
  std::vector<std::tuple<std::string, std::string, double>> site_rtts;
  int http_threads = 64;                     // workers long-poll, so more than cores
  int tick_ms = 1000;                        // timer period for heartbeats and limits
  int64_t max_output_bytes = 64ll << 20;     // per returned output file
  int64_t max_script_bytes = 1ll << 20;      // a batch script larger than this is refused
  int64_t max_bundle_bytes = 256ll << 20;    // stage-in files of one job, in total
  bool verify_nodes = true;                  // new nodes stay PENDING until they pass their challenges
  ChallengeSizes challenge_sizes;            // small ones make a local federation ready in seconds
  int64_t reverify_interval_s = 6 * 3600;    // mean time between re-verifications (randomised ±50 %)
  int64_t challenge_timeout_s = 120;         // an unanswered challenge fails after this
  double max_cpu_tflops = 20;                // faster answers from a node without a real GPU are implausible
  double max_gpu_tflops = 5000;
};

class Controller {
 public:
  Controller(ControllerConfig cfg, std::unique_ptr<Clock> clock);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Creates or opens the state directory: TLS certificate, database, admin
  // token (written once to STATE/admin.token, mode 0600); loads all state.
  Status Open();
  // Binds and serves until Stop(); writes the URL to STATE/url once bound.
  Status Run();
  void Stop();

 private:
  struct Caller {
    std::string account;
    std::string role;     // admin, user, provider
    std::string kind;     // api, enroll, node
    std::string node_id;  // for node tokens
  };
  using Handler = std::function<Result<nlohmann::json>(const httplib::Request&, const Caller&)>;

  void Routes(httplib::Server& s);
  void Handle(httplib::Server& s, const char* method, const std::string& pattern,
              std::vector<std::string> kinds, Handler h);
  Result<Caller> Authenticate(const httplib::Request& req);

  // API handlers; each runs with mu_ held unless it says otherwise.
  Result<nlohmann::json> SubmitJob(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> ListJobs(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> GetJob(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> CancelJob(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> ControlJob(const httplib::Request& r, const Caller& c);  // hold, release, requeue, update
  Result<nlohmann::json> PriorityList(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> ListOutputs(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> ListNodes(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> Wallet(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> WhoAmI(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> CreateAccount(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> NewToken(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> NewEnrollToken(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> Mint(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> RegisterNode(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> Heartbeat(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> UploadOutput(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> SubmitUsage(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> AnswerChallenge(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> NodeHistory(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> NodeAction(const httplib::Request& r, const Caller& c);  // drain, resume, detach
  Result<nlohmann::json> Market(const httplib::Request& r, const Caller& c);      // gm market
  // Ledger, staking, rewards and reports (controller_ledger.cc).
  void LedgerRoutes(httplib::Server& s);
  Result<nlohmann::json> LedgerSupply(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> LedgerVerify(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> LedgerExport(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> LedgerProve(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> RewardsPreview(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> StakeOp(const httplib::Request& r, const Caller& c);
  Result<nlohmann::json> Report(const httplib::Request& r, const Caller& c);
  // Applies the end of a job attempt as its batch node reported it.
  nlohmann::json ApplyJobEnd(sched::Job& job, const std::string& node_id, const std::string& result,
                             int exit_code, int sig, int64_t start_ms, int64_t end_ms, const std::string& message);
  void IssueChallenges(const std::string& node_id, const std::vector<std::string>& kinds);
  void ChallengeFailed(const std::string& node_id, const std::string& challenge_id, const std::string& reason);
  void NodeEvent(const std::string& node_id, const std::string& kind, const nlohmann::json& detail);
  uint64_t RandomU64();
  void PollWork(const httplib::Request& r, httplib::Response& res);   // long poll, own locking
  void DownloadOutput(const httplib::Request& r, httplib::Response& res);
  Result<nlohmann::json> UploadBlob(const httplib::Request& r, const Caller& c);
  void DownloadJobBlob(const httplib::Request& r, httplib::Response& res);  // nodes fetch bundles
  Status CheckBundle(const JobSpec& spec, const std::string& account);
  // A node by id ("n3") or name ("node3"); a live node wins over a detached
  // one of the same name. Null when none.
  const sched::Node* FindNodeRef(const std::string& ref) const;
  bool Detached(const std::string& node_id) const;
  // A node as the API shows it: NodeSummary, its locality group, partitions,
  // who drained it and when, and a pending or done detach.
  nlohmann::json NodeJson(const sched::Node& n) const;
  // The end of a detach (mu_ held): tokens revoked, node down and drained for
  // good, hidden from listings; persisted in one transaction.
  void FinishDetach(const std::string& node_id);
  std::string BlobPath(const std::string& sha256) const;

  // State changes (mu_ held). Each persists in one database transaction.
  void RunSchedule();
  void StartJob(const sched::StartDecision& d);
  void EndJob(int64_t job_id, sched::JobState state, int exit_code, int signal, int64_t served_ms,
              bool provider_fault = false);
  void RequeueJob(int64_t job_id, const std::string& why);
  void SaveFairShare(const std::string& account);
  // Money (controller_ledger.cc). Accounting calls are gathered in a Booked
  // and stored by Persist in the caller's database transaction.
  struct Booked {
    std::vector<acct::Effects> effects;
    std::vector<UsageRow> usage;
  };
  Status OpenAccounting();
  Status Book(Result<acct::Effects> r, Booked& b);
  void Persist(Booked& b);
  void SyncNode(const std::string& node_id);
  std::string TierOf(const sched::Node& n) const;
  // One usage record per allocated node for `served_ms` of the open attempt.
  void SettleServed(const sched::Job& job, int64_t served_ms, bool provider_fault, Booked& b);
  void EndAttempt(const sched::Job& job, const std::vector<std::string>& faulty, Booked& b);
  void CloseJobIfOver(const sched::Job& job, Booked& b);
  void ForgetIfReleased(int64_t job_id);
  void Forged(const std::string& node_id, const std::string& record_id, const std::string& why);
  void PeriodicLedgerWork(int64_t now_ms);
  void OnTick();
  nlohmann::json WorkFor(const std::string& node_id);
  nlohmann::json LaunchPayload(const sched::Job& job);
  void Touch(const std::string& node_id);  // wakes that node's long poll
  void TouchJobNodes(const sched::Job& job);
  void CheckOk(const Status& s, const char* what);
  Status IssueToken(const std::string& account, const std::string& kind, const std::string& node_id,
                    std::string* token);
  bool CanSee(const Caller& c, const sched::Job& job) const;
  nlohmann::json Summary(const sched::Job& job) const;  // JobSummary plus money
  Result<sched::Job*> JobFromPath(const httplib::Request& r, const Caller& c);

  ControllerConfig cfg_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<ControllerStore> store_;
  sched::Scheduler core_;   // options validated by the caller (Scheduler::ValidateOptions)
  std::unique_ptr<acct::Accounting> acct_;
  std::unique_ptr<SigningKey> signing_key_;  // STATE/controller.key: signs audit epochs
  std::string controller_pubkey_;            // its public key, hex (also STATE/controller.pub)
  std::map<int64_t, JobMoney> money_;        // what each job paid (sacct, scontrol)
  int64_t last_epoch_close_ms_ = 0;
  int64_t next_reward_ms_ = 0;
  std::map<std::string, AccountRow> accounts_;
  std::map<std::string, TokenRow> tokens_;   // by hash
  struct NodeKey {
    std::string pubkey;     // Ed25519, hex
    int64_t last_seq = 0;   // last usage-record sequence accepted
  };
  std::map<std::string, NodeKey> node_keys_;
  struct OpenChallenge {
    std::string id;
    ChallengeSpec spec;
    int64_t issued_ms = 0;
  };
  std::map<std::string, std::vector<OpenChallenge>> challenges_;  // by node id; in memory, reissued on start
  std::map<std::string, int64_t> next_verify_ms_;
  std::map<std::string, NodeDrainRow> drains_;     // by node id: who drained it, when
  std::map<std::string, NodeDetachRow> detaches_;  // by node id: pending (done_ms 0) or done
  int64_t next_job_id_ = 1;
  int64_t next_node_id_ = 1;

  std::mutex mu_;
  std::condition_variable work_cv_;   // wakes long polls
  std::condition_variable tick_cv_;   // wakes the ticker to stop
  std::map<std::string, uint64_t> node_gen_;  // bumped when a node's work changes
  uint64_t gen_base_ = 0;                     // first generation of every node in this life
  // Signals asked with scancel --signal, per job: (sequence, name). One-shot,
  // so kept apart from the level-triggered desired state; lost on restart.
  std::map<int64_t, std::vector<std::pair<int, std::string>>> signals_;
  int next_signal_seq_ = 1;
  std::unique_ptr<httplib::Server> server_;
  std::thread ticker_;
  bool stopping_ = false;
};

}  // namespace gm
