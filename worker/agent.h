// Agent: gmd's life on a provider machine. Registers the node, heartbeats,
// long-polls the controller for its desired state, runs batch steps with the
// Slurm environment, returns their output files and reports their end. Every
// result is written to the job directory before it is sent and resent until
// the controller acknowledges it, so a restart of either side loses nothing.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/http.h"
#include "common/job_spec.h"
#include "common/status.h"
#include "worker/gpu_discovery.h"
#include "common/signing.h"
#include "worker/isolation.h"
#include "worker/job_runner.h"
#include "worker/spool.h"

namespace gm::worker {

struct AgentConfig {
  std::string controller_url;   // https://HOST:PORT
  std::string ca_file;          // the controller's certificate (or its CA)
  std::string state_dir;        // node.json (identity, mode 0600), node.key, usage spool
  std::string jobs_dir;         // job directories; "" = STATE/jobs. Every parent must be traversable by job_user
  std::string name;             // node name; default: the host name
  Micros price = 0;             // asking price per GPU-hour
  std::string region = "default";
  std::string site = "default";
  // Declared hardware, for machines without a GPU driver (marked declared everywhere).
  int declared_gpus = -1;       // -1: discover through the CUDA runtime
  std::string gpu_model;
  int64_t gpu_mem_mb = 0;
  int cpus = 0;                 // 0: all of this machine's
  int64_t mem_mb = 0;           // 0: all of this machine's
  int heartbeat_s = 5;
  int poll_wait_s = 25;
  std::string job_user = "gridmint-job";  // unprivileged user that runs jobs (created when missing)
  bool isolation = true;        // run jobs as job_user, in a cgroup and bubblewrap; off only for development
};

void to_json(nlohmann::json& j, const AgentConfig& c);
void from_json(const nlohmann::json& j, AgentConfig& c);

class Agent {
 public:
  explicit Agent(AgentConfig cfg, std::unique_ptr<GpuProbe> probe);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // First contact: registers with an enrollment token and saves the node's
  // identity and configuration in STATE/node.json (mode 0600).
  Status Attach(const std::string& enroll_token);
  // Loads STATE/node.json (as written by Attach).
  Status Load();
  // Runs until Stop(): re-registers (hardware may have changed), resends
  // unacknowledged results, then heartbeats and serves work.
  Status Run();
  void Stop();

  const AgentConfig& config() const { return cfg_; }

 private:
  struct Running {
    int64_t job_id;
    int attempt;
    std::unique_ptr<JobRunner> runner;
    std::thread thread;
    bool done = false;
    int last_signal_seq = 0;  // scancel --signal requests already delivered
  };

  Result<nlohmann::json> RegistrationBody();
  Status Register(ApiClient& api, const std::string& token);
  void HeartbeatLoop();
  void Reconcile(const nlohmann::json& desired);
  void Launch(const nlohmann::json& item);
  void DeliverSignals(Running& r, const nlohmann::json& signals);
  void StopUnstarted(std::pair<int64_t, int> key);
  // Fetches the job's bundle into `workdir`, checking every hash.
  Status FetchBundle(int64_t job_id, const std::string& bundle, const std::string& workdir);
  // The --gm-stage-out files of a finished job: (name, local path) pairs.
  std::vector<std::pair<std::string, std::string>> StageOutFiles(const JobSpec& spec,
                                                                 const std::string& workdir) const;
  void Supervise(Running* r, nlohmann::json launch, std::string jobdir);
  // Turns STATE/jobs/X/result.json into a signed usage record in the spool
  // (once), and wakes the courier.
  void RecordEndLocked(const std::string& jobdir);  // mu_ held
  // Sends spooled records in sequence order, each after its job's outputs,
  // until acknowledged; survives restarts of either side.
  void CourierLoop();
  Status DeliverRecord(ApiClient& api, const SignedRecord& rec);
  void RecordUnrecorded();
  Status PrepareIsolation();
  void AnswerChallenge(const nlohmann::json& item);  // solves and posts one challenge
  std::map<std::string, std::string> JobEnvironment(const nlohmann::json& launch,
                                                    const std::string& jobdir) const;
  Result<std::unique_ptr<ApiClient>> Client(int read_timeout_s = 30) const;
  bool SleepUnlessStopped(int ms);
  std::string JobDir(int64_t job_id, int attempt) const;
  std::string JobsRoot() const;

  AgentConfig cfg_;
  std::unique_ptr<GpuProbe> probe_;
  std::string node_id_;
  std::string node_token_;
  std::string host_name_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable stop_cv_;
  std::map<std::pair<int64_t, int>, std::unique_ptr<Running>> running_;
  std::vector<std::thread> deliverers_;  // challenge solvers
  std::set<std::string> challenges_seen_;
  std::optional<SigningKey> key_;
  std::unique_ptr<UsageSpool> spool_;
  std::condition_variable courier_cv_;
  bool courier_wake_ = false;
  std::thread courier_;
  // Isolation, decided once at start.
  std::optional<uid_t> job_uid_;
  std::optional<gid_t> job_gid_;
  CgroupTree cgroups_;
  bool bwrap_ = false;
};

}  // namespace gm::worker
