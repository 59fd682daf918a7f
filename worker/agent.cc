// gmd's agent: registration, heartbeats, work reconciliation, job launch,
// and durable delivery of results.
#include "worker/agent.h"

#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/bundle.h"
#include "common/crypto.h"
#include "common/hostlist.h"
#include "common/output_pattern.h"
#include "common/usage_record.h"
#include "worker/challenges.h"
#include "worker/host_info.h"

namespace gm::worker {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

Status WriteFileSynced(const std::string& path, const std::string& bytes, mode_t mode) {
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

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

std::string Join(const std::vector<int>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + std::to_string(v[i]);
  return out;
}

const char* ResultName(EndReason r) {
  switch (r) {
    case EndReason::kExited: return "exited";
    case EndReason::kSignaled: return "signaled";
    case EndReason::kTimeout: return "timeout";
    case EndReason::kCancelled: return "cancelled";
    case EndReason::kLaunchFailed: return "launch_failed";
  }
  return "launch_failed";
}

// Where an output file named by the job lives inside its job directory:
// providers share no file system with users, so every path, absolute or
// relative, is kept under the job directory and returned to the controller.
std::string LocalOutputPath(const std::string& jobdir, const std::string& name) {
  fs::path p(name);
  fs::path rel = p.is_absolute() ? p.relative_path() : p;
  fs::path out = fs::path(jobdir) / "work" / rel.lexically_normal();
  // "../" must not climb out of the job directory.
  std::string s = out.lexically_normal().string();
  if (s.rfind(jobdir + "/work/", 0) != 0) out = fs::path(jobdir) / "work" / p.filename();
  return out.lexically_normal().string();
}

}  // namespace

void to_json(json& j, const AgentConfig& c) {
  j = json{{"controller_url", c.controller_url}, {"ca_file", c.ca_file},
           {"state_dir", c.state_dir},           {"name", c.name},
           {"price", c.price},                   {"region", c.region},
           {"site", c.site},                     {"declared_gpus", c.declared_gpus},
           {"gpu_model", c.gpu_model},           {"gpu_mem_mb", c.gpu_mem_mb},
           {"cpus", c.cpus},                     {"mem_mb", c.mem_mb},
           {"heartbeat_s", c.heartbeat_s},       {"poll_wait_s", c.poll_wait_s},
           {"job_user", c.job_user}, {"isolation", c.isolation}, {"jobs_dir", c.jobs_dir}};
}

void from_json(const json& j, AgentConfig& c) {
  c.controller_url = j.at("controller_url").get<std::string>();
  c.ca_file = j.at("ca_file").get<std::string>();
  c.state_dir = j.value("state_dir", c.state_dir);
  c.name = j.value("name", "");
  c.price = j.value("price", Micros{0});
  c.region = j.value("region", "default");
  c.site = j.value("site", "default");
  c.declared_gpus = j.value("declared_gpus", -1);
  c.gpu_model = j.value("gpu_model", "");
  c.gpu_mem_mb = j.value("gpu_mem_mb", int64_t{0});
  c.cpus = j.value("cpus", 0);
  c.mem_mb = j.value("mem_mb", int64_t{0});
  c.heartbeat_s = j.value("heartbeat_s", 5);
  c.poll_wait_s = j.value("poll_wait_s", 25);
  c.job_user = j.value("job_user", "gridmint-job");
  c.isolation = j.value("isolation", true);
  c.jobs_dir = j.value("jobs_dir", "");
}

Agent::Agent(AgentConfig cfg, std::unique_ptr<GpuProbe> probe)
    : cfg_(std::move(cfg)), probe_(std::move(probe)) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  host_name_ = host;
  if (cfg_.name.empty()) cfg_.name = host_name_;
}

Agent::~Agent() {
  Stop();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, r] : running_)
    if (r->thread.joinable()) r->thread.join();
  for (auto& t : deliverers_)
    if (t.joinable()) t.join();
  if (courier_.joinable()) courier_.join();
}

void Agent::Stop() {
  stopping_ = true;
  stop_cv_.notify_all();
  courier_cv_.notify_all();
}

bool Agent::SleepUnlessStopped(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  stop_cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_.load(); });
  return !stopping_;
}

std::string Agent::JobsRoot() const { return cfg_.jobs_dir.empty() ? cfg_.state_dir + "/jobs" : cfg_.jobs_dir; }

std::string Agent::JobDir(int64_t job_id, int attempt) const {
  return JobsRoot() + "/" + std::to_string(job_id) + "." + std::to_string(attempt);
}

Result<std::unique_ptr<ApiClient>> Agent::Client(int read_timeout_s) const {
  ApiClientOptions o;
  o.url = cfg_.controller_url;
  o.ca_file = cfg_.ca_file;
  o.token = node_token_;
  o.read_timeout_s = read_timeout_s;
  return ApiClient::Create(o);
}

Result<json> Agent::RegistrationBody() {
  GM_ASSIGN_OR_RETURN(HostInfo host, ReadHostInfo());
  json b{{"pubkey", key_ ? key_->PublicKeyHex() : ""},
         {"name", cfg_.name},
         {"price", cfg_.price},
         {"region", cfg_.region},
         {"site", cfg_.site},
         {"cpus", cfg_.cpus > 0 ? cfg_.cpus : host.cpus},
         {"mem_mb", cfg_.mem_mb > 0 ? cfg_.mem_mb : host.memory_mb}};
  GpuDiscovery d = probe_->Discover();
  if (cfg_.declared_gpus >= 0) {
    b["declared"] = true;
    b["gpus"] = cfg_.declared_gpus;
    b["gpu_model"] = cfg_.gpu_model;
    b["gpu_mem_mb"] = cfg_.gpu_mem_mb;
  } else {
    spdlog::info("GPU discovery: {}", d.cuda_status);
    b["declared"] = false;
    b["gpus"] = static_cast<int>(d.gpus.size());
    b["gpu_model"] = d.gpus.empty() ? "" : d.gpus[0].name;
    b["gpu_mem_mb"] = d.gpus.empty() ? 0 : d.gpus[0].memory_mb;
  }
  return b;
}

Status Agent::Register(ApiClient& api, const std::string& token) {
  GM_ASSIGN_OR_RETURN(json body, RegistrationBody());
  GM_ASSIGN_OR_RETURN(json out, api.Post("/api/v1/nodes/register", body));
  node_id_ = out.at("node_id").get<std::string>();
  if (out.contains("node_token")) node_token_ = out["node_token"].get<std::string>();
  spdlog::info("registered as node {} ({}), {} {} GPU(s){}", cfg_.name, node_id_,
               body["gpus"].get<int>(), body["gpu_model"].get<std::string>(),
               body["declared"].get<bool>() ? " (declared)" : "");
  return Status::OK();
}

Status Agent::Attach(const std::string& enroll_token) {
  std::error_code ec;
  fs::create_directories(cfg_.state_dir, ec);
  if (!ec) fs::create_directories(JobsRoot(), ec);
  if (ec) return Status::IOError("cannot create " + cfg_.state_dir + ": " + ec.message());
  chmod(cfg_.state_dir.c_str(), 0700);
  if (fs::exists(cfg_.state_dir + "/node.json"))
    return Status::AlreadyExists(cfg_.state_dir + " already holds an attached node; run 'gmd run --state-dir " +
                                 cfg_.state_dir + "' (or remove node.json to attach anew)");
  std::string key_path = cfg_.state_dir + "/node.key";
  if (!fs::exists(key_path)) GM_RETURN_IF_ERROR(GenerateEd25519Key(key_path));
  GM_ASSIGN_OR_RETURN(SigningKey key, LoadSigningKey(key_path));
  key_.emplace(std::move(key));
  ApiClientOptions o{cfg_.controller_url, cfg_.ca_file, enroll_token};
  GM_ASSIGN_OR_RETURN(auto api, ApiClient::Create(o));
  GM_RETURN_IF_ERROR(Register(*api, enroll_token));
  json ident{{"node_id", node_id_}, {"node_token", node_token_}, {"config", cfg_}};
  return WriteFileSynced(cfg_.state_dir + "/node.json", ident.dump(2), 0600);
}

Status Agent::Load() {
  GM_ASSIGN_OR_RETURN(std::string text, ReadFile(cfg_.state_dir + "/node.json"));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return Status::Corruption(cfg_.state_dir + "/node.json is not JSON");
  std::string dir = cfg_.state_dir;
  cfg_ = j.at("config").get<AgentConfig>();
  cfg_.state_dir = dir;
  node_id_ = j.at("node_id").get<std::string>();
  node_token_ = j.at("node_token").get<std::string>();
  GM_ASSIGN_OR_RETURN(SigningKey key, LoadSigningKey(cfg_.state_dir + "/node.key"));
  key_.emplace(std::move(key));
  return Status::OK();
}

Status Agent::PrepareIsolation() {
  // The state directory holds the node key (0600) and job directories (each
  // 0700, owned by the job user): the job user may pass through, no more.
  chmod(cfg_.state_dir.c_str(), 0711);
  chmod(JobsRoot().c_str(), 0711);
  if (!cfg_.isolation) {
    spdlog::warn("isolation is off: jobs run as gmd's own user, without cgroup or sandbox");
    return Status::OK();
  }
  if (geteuid() != 0)
    return Status::PermissionDenied("gmd must run as root to run jobs as '" + cfg_.job_user +
                                    "' (or pass --no-isolation on a development machine)");
  uid_t uid;
  gid_t gid;
  GM_RETURN_IF_ERROR(EnsureJobUser(cfg_.job_user, &uid, &gid));
  job_uid_ = uid;
  job_gid_ = gid;
  // The job user must be able to walk down to its own directory.
  for (fs::path p = fs::path(JobsRoot()); !p.empty() && p != p.root_path(); p = p.parent_path()) {
    struct stat st{};
    if (stat(p.c_str(), &st) == 0 && !(st.st_mode & S_IXOTH))
      return Status::FailedPrecondition("the job user cannot reach job directories under " + JobsRoot() + ": " +
                                        p.string() + " is not traversable by others (mode " +
                                        std::to_string(st.st_mode & 0777) + "); pass --jobs-dir DIR elsewhere");
  }
  cgroups_ = DetectCgroupTree();
  spdlog::info("jobs run as {} (uid {}); cgroups: {}", cfg_.job_user, uid, cgroups_.description);
  if (BwrapAvailable()) {
    Status probe = ProbeBwrap(uid, gid);
    bwrap_ = probe.ok();
    if (!bwrap_) spdlog::warn("bubblewrap is installed but unusable, jobs run without it: {}", probe.message());
  } else {
    spdlog::warn("bubblewrap (bwrap) not found: jobs run without a sandbox");
  }
  if (bwrap_) spdlog::info("jobs run inside bubblewrap (read-only system, private /tmp, no view of {})", cfg_.state_dir);
  return Status::OK();
}

Status Agent::Run() {
  std::error_code ec;
  fs::create_directories(JobsRoot(), ec);
  GM_RETURN_IF_ERROR(PrepareIsolation());
  GM_ASSIGN_OR_RETURN(spool_, UsageSpool::Open(cfg_.state_dir + "/usage.db"));
  // Re-register with the node token: the controller marks the node up and
  // takes any change of hardware or price.
  for (int delay = 500;; delay = std::min(delay * 2, 5000)) {
    auto api = Client();
    if (!api.ok()) return api.status();
    Status s = Register(**api, node_token_);
    if (s.ok()) break;
    if (s.code() != Status::Code::kUnavailable) return s;
    spdlog::warn("{}; retrying", s.message());
    if (!SleepUnlessStopped(delay)) return Status::OK();
  }
  RecordUnrecorded();
  courier_ = std::thread([this] { CourierLoop(); });
  std::thread hb([this] { HeartbeatLoop(); });
  uint64_t gen = 0;
  int backoff = 200;
  while (!stopping_) {
    auto api = Client(cfg_.poll_wait_s + 10);
    if (!api.ok()) return api.status();
    while (!stopping_) {
      auto work = (*api)->Get("/api/v1/nodes/" + node_id_ + "/work?since=" + std::to_string(gen) +
                                  "&wait=" + std::to_string(cfg_.poll_wait_s));
      if (!work.ok()) {
        spdlog::warn("fetching work: {}", work.status().message());
        SleepUnlessStopped(backoff);
        backoff = std::min(backoff * 2, 5000);
        break;  // a fresh connection next time
      }
      backoff = 200;
      gen = (*work)["gen"].get<uint64_t>();
      Reconcile((*work)["jobs"]);
    }
  }
  hb.join();
  std::vector<std::unique_ptr<Running>> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, r] : running_) left.push_back(std::move(r));
    running_.clear();
  }
  // Jobs keep running only as long as their agent: stop them, then report.
  for (auto& r : left)
    if (r->runner) r->runner->Cancel(SIGTERM);
  for (auto& r : left)
    if (r->thread.joinable()) r->thread.join();
  return Status::OK();
}

void Agent::HeartbeatLoop() {
  while (SleepUnlessStopped(cfg_.heartbeat_s * 1000)) {
    auto api = Client(10);
    if (!api.ok()) continue;
    json running = json::array();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [key, r] : running_)
        if (!r->done) running.push_back({{"job_id", key.first}, {"attempt", key.second}});
    }
    auto r = (*api)->Post("/api/v1/nodes/" + node_id_ + "/heartbeat", json{{"running", running}});
    if (r.ok()) continue;
    if (r.status().code() == Status::Code::kFailedPrecondition) {
      spdlog::warn("{}", r.status().message());
      Status s = Register(**api, node_token_);
      if (!s.ok()) spdlog::warn("re-registering: {}", s.message());
    } else {
      spdlog::warn("heartbeat: {}", r.status().message());
    }
  }
}

void Agent::Reconcile(const json& desired) {
  std::set<std::pair<int64_t, int>> keep;
  for (const auto& item : desired) {
    if (item["action"] == "challenge") {
      std::lock_guard<std::mutex> lock(mu_);
      if (challenges_seen_.insert(item["challenge_id"].get<std::string>()).second)
        deliverers_.emplace_back([this, item] { AnswerChallenge(item); });
      continue;
    }
    std::pair<int64_t, int> key{item["job_id"].get<int64_t>(), item["attempt"].get<int>()};
    if (item["action"] == "run") {
      keep.insert(key);
      bool known;
      {
        std::lock_guard<std::mutex> lock(mu_);
        known = running_.count(key) > 0;
      }
      if (!known) Launch(item);
      if (item.contains("signals")) {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = running_.find(key);
        if (it != running_.end()) DeliverSignals(*it->second, item["signals"]);
      }
    } else if (item["action"] == "stop") {
      StopUnstarted(key);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, r] : running_)
    if (!keep.count(key) && !r->done && r->runner) {
      spdlog::info("job {}: stopping as the controller asks", key.first);
      r->runner->Cancel(SIGTERM);
    }
  // Reap finished supervisors.
  for (auto it = running_.begin(); it != running_.end();) {
    if (it->second->done && !keep.count(it->first)) {
      if (it->second->thread.joinable()) it->second->thread.join();
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
}

Status Agent::FetchBundle(int64_t job_id, const std::string& bundle, const std::string& workdir) {
  GM_ASSIGN_OR_RETURN(auto api, Client(120));
  std::string base = "/api/v1/jobs/" + std::to_string(job_id) + "/bundle/";
  auto fetch = [&](const std::string& sha) -> Result<std::string> {
    std::string bytes;
    GM_RETURN_IF_ERROR(api->Download(base + sha, [&](const char* d, size_t n) { bytes.append(d, n); return true; },
                                     nullptr));
    if (Sha256Hex(bytes) != sha) return Status::PermissionDenied("bundle hash mismatch for " + sha + ": refused");
    return bytes;
  };
  GM_ASSIGN_OR_RETURN(std::string manifest_bytes, fetch(bundle));
  GM_ASSIGN_OR_RETURN(BundleManifest m, DecodeManifest(manifest_bytes));
  for (const auto& f : m.files) {
    GM_ASSIGN_OR_RETURN(std::string bytes, fetch(f.sha256));
    fs::path target = fs::path(workdir) / f.path;  // DecodeManifest checked the path stays inside
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    GM_RETURN_IF_ERROR(WriteFileSynced(target.string(), bytes, f.mode));
  }
  spdlog::info("job {}: bundle {} ({} file(s), {} bytes) verified", job_id, bundle.substr(0, 12), m.files.size(),
               m.TotalBytes());
  return Status::OK();
}

std::vector<std::pair<std::string, std::string>> Agent::StageOutFiles(const JobSpec& spec,
                                                                      const std::string& workdir) const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : spec.stage_out) {
    auto safe = SafeRelativePath(p);
    if (!safe.ok()) continue;
    fs::path local = fs::path(workdir) / *safe;
    std::error_code ec;
    if (fs::is_regular_file(local, ec)) {
      out.emplace_back(*safe, local.string());
    } else if (fs::is_directory(local, ec)) {
      for (const auto& e : fs::recursive_directory_iterator(local, ec))
        if (e.is_regular_file())
          out.emplace_back(fs::relative(e.path(), workdir).generic_string(), e.path().string());
    }
  }
  return out;
}

void Agent::StopUnstarted(std::pair<int64_t, int> key) {
  // The controller wants an attempt stopped that never started here (cancelled
  // before its launch arrived): report it ended, with nothing served.
  std::string jobdir = JobDir(key.first, key.second);
  std::lock_guard<std::mutex> lock(mu_);
  if (running_.count(key) || fs::exists(jobdir)) return;
  spdlog::info("job {}: cancelled before it started here", key.first);
  std::error_code ec;
  fs::create_directories(jobdir, ec);
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  json res{{"job_id", key.first}, {"attempt", key.second}, {"result", "cancelled"}, {"exit_code", 0},
           {"signal", 0}, {"start_ms", now}, {"end_ms", now}, {"outputs", json::array()}};
  (void)WriteFileSynced(jobdir + "/result.json", res.dump(), 0600);
  RecordEndLocked(jobdir);
}

void Agent::DeliverSignals(Running& r, const json& signals) {
  static const std::map<std::string, int> kNumbers = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"USR1", SIGUSR1},
      {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"CONT", SIGCONT},
      {"STOP", SIGSTOP}, {"TSTP", SIGTSTP}, {"ALRM", SIGALRM}, {"URG", SIGURG}};
  if (!r.runner || r.done) return;  // not started yet: the next poll brings them again
  for (const auto& item : signals) {
    int seq = item[0].get<int>();
    if (seq <= r.last_signal_seq) continue;
    auto it = kNumbers.find(item[1].get<std::string>());
    if (it != kNumbers.end()) {
      spdlog::info("job {}: delivering SIG{}", r.job_id, it->first);
      r.runner->Signal(it->second);
    }
    r.last_signal_seq = seq;
  }
}

std::map<std::string, std::string> Agent::JobEnvironment(const json& launch,
                                                         const std::string& jobdir) const {
  JobSpec spec = launch.at("spec").get<JobSpec>();
  std::map<std::string, std::string> env;
  // What the user exported, less our own secrets and stale Slurm variables.
  for (const auto& [k, v] : spec.environment)
    if (k.rfind("GM_", 0) != 0 && k.rfind("SLURM_", 0) != 0) env[k] = v;
  std::string path = env.count("PATH") ? env["PATH"] + ":" : "";
  env["PATH"] = path + "/usr/local/bin:/usr/bin:/bin";
  env["HOME"] = jobdir + "/work";
  env["TMPDIR"] = jobdir + "/tmp";
  auto names = launch.at("node_names").get<std::vector<std::string>>();
  auto gpus = launch.at("gpu_indices").get<std::vector<int>>();
  std::string id = std::to_string(launch.at("job_id").get<int64_t>());
  std::string nodelist = CompressHostlist(names);
  int nnodes = static_cast<int>(names.size());
  int cpus = launch.value("cpus", 1);
  auto set = [&](const char* k, const std::string& v) { env[k] = v; };
  set("SLURM_JOB_ID", id);
  set("SLURM_JOBID", id);
  set("SLURM_JOB_NAME", spec.job_name);
  set("SLURM_JOB_NODELIST", nodelist);
  set("SLURM_NODELIST", nodelist);
  set("SLURM_NNODES", std::to_string(nnodes));
  set("SLURM_JOB_NUM_NODES", std::to_string(nnodes));
  set("SLURM_JOB_PARTITION", launch.value("partition", ""));
  set("SLURM_JOB_ACCOUNT", launch.value("account", ""));
  set("SLURM_JOB_USER", launch.value("user", ""));
  set("SLURM_JOB_UID", std::to_string(getuid()));
  set("SLURM_JOB_GID", std::to_string(getgid()));
  set("SLURM_SUBMIT_DIR", spec.submit_dir);
  set("SLURM_SUBMIT_HOST", spec.submit_host);
  set("SLURM_CLUSTER_NAME", "gridmint");
  set("SLURMD_NODENAME", cfg_.name);
  set("SLURM_NODEID", "0");
  set("SLURM_PROCID", "0");
  set("SLURM_LOCALID", "0");
  set("SLURM_CPUS_ON_NODE", std::to_string(cpus));
  set("SLURM_JOB_CPUS_PER_NODE", nnodes > 1 ? std::to_string(cpus) + "(x" + std::to_string(nnodes) + ")"
                                            : std::to_string(cpus));
  int tasks = spec.EffectiveNtasks();
  int per_node = spec.ntasks_per_node.value_or((tasks + nnodes - 1) / nnodes);
  set("SLURM_TASKS_PER_NODE", nnodes > 1 ? std::to_string(per_node) + "(x" + std::to_string(nnodes) + ")"
                                         : std::to_string(per_node));
  // Slurm sets these only when the user asked for them; scripts test for it.
  if (spec.ntasks || spec.ntasks_per_node) {
    set("SLURM_NTASKS", std::to_string(tasks));
    set("SLURM_NPROCS", std::to_string(tasks));
  }
  if (spec.ntasks_per_node) set("SLURM_NTASKS_PER_NODE", std::to_string(*spec.ntasks_per_node));
  if (spec.cpus_per_task > 1) set("SLURM_CPUS_PER_TASK", std::to_string(spec.cpus_per_task));
  if (spec.mem_per_node_mb) set("SLURM_MEM_PER_NODE", std::to_string(*spec.mem_per_node_mb));
  if (spec.mem_per_cpu_mb) set("SLURM_MEM_PER_CPU", std::to_string(*spec.mem_per_cpu_mb));
  if (launch.value("attempt", 0) > 0) set("SLURM_RESTART_COUNT", std::to_string(launch.value("attempt", 0)));
  if (launch.value("array_task_id", -1) >= 0 && !spec.array_tasks.empty()) {
    const auto& t = spec.array_tasks;  // sorted task ids
    set("SLURM_ARRAY_JOB_ID", std::to_string(launch.value("array_job_id", int64_t{0})));
    set("SLURM_ARRAY_TASK_ID", std::to_string(launch.value("array_task_id", -1)));
    set("SLURM_ARRAY_TASK_COUNT", std::to_string(t.size()));
    set("SLURM_ARRAY_TASK_MIN", std::to_string(t.front()));
    set("SLURM_ARRAY_TASK_MAX", std::to_string(t.back()));
    // Slurm sets a step only when the ids are evenly spaced.
    int step = t.size() > 1 ? t[1] - t[0] : 1;
    bool even = true;
    for (size_t i = 1; i < t.size(); ++i) even &= t[i] - t[i - 1] == step;
    if (even) set("SLURM_ARRAY_TASK_STEP", std::to_string(step));
  }
  // Only the job's GPUs are visible, numbered as the node numbers them (Slurm does the same
  // without device cgroups).
  std::string gpu_list = Join(gpus, ",");
  set("CUDA_VISIBLE_DEVICES", gpus.empty() ? "" : gpu_list);
  if (!gpus.empty()) {
    set("SLURM_JOB_GPUS", gpu_list);
    set("GPU_DEVICE_ORDINAL", gpu_list);
    set("SLURM_GPUS_ON_NODE", std::to_string(gpus.size()));
  }
  return env;
}

void Agent::Launch(const json& item) {
  int64_t job_id = item["job_id"].get<int64_t>();
  int attempt = item["attempt"].get<int>();
  std::string jobdir = JobDir(job_id, attempt);
  auto r = std::make_unique<Running>();
  r->job_id = job_id;
  r->attempt = attempt;
  Running* raw = r.get();
  std::lock_guard<std::mutex> lock(mu_);
  if (fs::exists(jobdir)) {
    // A previous gmd started this attempt and died before its end was
    // recorded: the process is gone with it. Say so; the controller requeues.
    if (!fs::exists(jobdir + "/result.json")) {
      spdlog::warn("job {} attempt {} was lost with the previous gmd", job_id, attempt);
      json res{{"job_id", job_id}, {"attempt", attempt}, {"result", "lost"}, {"outputs", json::array()}};
      (void)WriteFileSynced(jobdir + "/result.json", res.dump(), 0600);
      RecordEndLocked(jobdir);
    }
    r->done = true;
    running_[{job_id, attempt}] = std::move(r);
    return;
  }
  running_[{job_id, attempt}] = std::move(r);
  raw->thread = std::thread([this, raw, launch = item["launch"], jobdir] {
    Supervise(raw, launch, jobdir);
  });
}

void Agent::Supervise(Running* r, json launch, std::string jobdir) {
  JobSpec spec = launch.at("spec").get<JobSpec>();
  std::error_code ec;
  fs::create_directories(jobdir + "/work", ec);
  fs::create_directories(jobdir + "/tmp", ec);
  chmod(jobdir.c_str(), 0700);
  LaunchSpec ls;
  ls.program = jobdir + "/slurm_script";
  ls.args = spec.script_args;
  ls.workdir = jobdir + "/work";
  ls.env = JobEnvironment(launch, jobdir);
  if (launch.value("time_limit_s", int64_t{0}) > 0) ls.time_limit_s = launch["time_limit_s"].get<int64_t>();
  ls.kill_grace_s = launch.value("kill_grace_s", 30);
  OutputPatternVars vars;
  vars.job_id = r->job_id;
  vars.job_name = spec.job_name;
  vars.user = launch.value("user", "");
  vars.node = cfg_.name;
  if (launch.value("array_task_id", -1) >= 0) {
    vars.array_job_id = launch.value("array_job_id", int64_t{0});
    vars.array_task_id = launch.value("array_task_id", -1);
  }
  std::string out_name = ExpandOutputPattern(
      spec.output.empty() ? DefaultOutputPattern(vars.array_task_id.has_value()) : spec.output, vars);
  std::string err_name = spec.error.empty() ? out_name : ExpandOutputPattern(spec.error, vars);
  ls.stdout_path = LocalOutputPath(jobdir, out_name);
  ls.stderr_path = LocalOutputPath(jobdir, err_name);
  fs::create_directories(fs::path(ls.stdout_path).parent_path(), ec);
  fs::create_directories(fs::path(ls.stderr_path).parent_path(), ec);
  ExitInfo info;
  Status ws = WriteFileSynced(ls.program, spec.script, 0755);
  if (ws.ok() && !spec.bundle.empty()) ws = FetchBundle(r->job_id, spec.bundle, ls.workdir);
  std::unique_ptr<CgroupJail> jail;
  if (ws.ok() && job_uid_) {
    // The job's files belong to the job user; its directory is 0700.
    for (const auto& entry : fs::recursive_directory_iterator(jobdir, ec))
      (void)lchown(entry.path().c_str(), *job_uid_, *job_gid_);
    (void)chown(jobdir.c_str(), *job_uid_, *job_gid_);
    ls.run_as_uid = job_uid_;
    ls.run_as_gid = job_gid_;
    ls.env["SLURM_JOB_UID"] = std::to_string(*job_uid_);
    ls.env["SLURM_JOB_GID"] = std::to_string(*job_gid_);
    if (cgroups_.version != CgroupVersion::kNone) {
      CgroupLimits limits;
      if (spec.mem_per_node_mb) limits.memory_bytes = *spec.mem_per_node_mb << 20;
      else if (spec.mem_per_cpu_mb) limits.memory_bytes = (*spec.mem_per_cpu_mb * launch.value("cpus", 1)) << 20;
      limits.cpu_millicores = static_cast<int64_t>(launch.value("cpus", 1)) * 1000;
      limits.pids_max = 8192;
      auto j = CgroupJail::Create(cgroups_, "job-" + std::to_string(r->job_id) + "-" + std::to_string(r->attempt),
                                  limits);
      if (j.ok()) {
        jail = std::move(j).value();
        ls.cgroup_procs_files = jail->ProcsFiles();
      } else {
        spdlog::warn("job {}: no cgroup ({}); limits not enforced", r->job_id, j.status().message());
      }
    }
    if (bwrap_) {
      BwrapOptions b;
      b.job_dir = jobdir;
      b.hidden_dirs = {cfg_.state_dir, JobsRoot()};  // then only this job's directory reappears
      b.chdir = ls.workdir;
      b.gpu_device_indices = launch.at("gpu_indices").get<std::vector<int>>();
      b.uid = job_uid_;
      b.gid = job_gid_;
      b.command = {ls.program};
      b.command.insert(b.command.end(), ls.args.begin(), ls.args.end());
      auto argv = BwrapArgv(b);
      ls.program = argv[0];
      ls.args.assign(argv.begin() + 1, argv.end());
    }
  }
  std::unique_ptr<JobRunner> runner;
  if (ws.ok()) {
    runner = std::make_unique<JobRunner>(ls);
    ws = runner->Start();
  }
  if (!ws.ok()) {
    info.reason = EndReason::kLaunchFailed;
    info.exit_code = 1;
    info.message = ws.message();
    spdlog::error("job {}: {}", r->job_id, ws.message());
  } else {
    {
      std::lock_guard<std::mutex> lock(mu_);
      r->runner = std::move(runner);
    }
    spdlog::info("job {} attempt {} started (pid {})", r->job_id, r->attempt, r->runner->pid());
    info = r->runner->Wait();
  }
  if (jail) {
    auto usage = jail->Usage();
    if (usage.ok()) {
      if (usage->memory_peak_bytes) info.max_rss_kb = std::max(info.max_rss_kb, *usage->memory_peak_bytes / 1024);
      if (usage->cpu_usage_ns) info.cpu_seconds = std::max(info.cpu_seconds, *usage->cpu_usage_ns / 1e9);
      if (usage->oom_kills && *usage->oom_kills > 0)
        info.message = "killed by the out-of-memory killer (" + std::to_string(*usage->oom_kills) + " kill(s))";
    }
    (void)jail->Destroy();
  }
  json outputs = json::array();
  std::set<std::string> seen;
  std::vector<std::pair<std::string, std::string>> files = {{out_name, ls.stdout_path}, {err_name, ls.stderr_path}};
  for (auto& f : StageOutFiles(spec, ls.workdir)) files.push_back(std::move(f));
  for (const auto& [name, local] : files)
    if (seen.insert(name).second && fs::exists(local)) {
      auto bytes = ReadFile(local);
      outputs.push_back({{"name", name}, {"path", local}, {"sha256", bytes.ok() ? Sha256Hex(*bytes) : ""}});
    }
  json res{{"job_id", r->job_id},          {"attempt", r->attempt},
           {"gpu_indices", launch.at("gpu_indices")},
           {"result", ResultName(info.reason)}, {"exit_code", info.exit_code},
           {"signal", info.signal},         {"start_ms", info.start_unix_ms},
           {"end_ms", info.end_unix_ms},    {"cpu_seconds", info.cpu_seconds},
           {"max_rss_kb", info.max_rss_kb}, {"message", info.message},
           {"outputs", outputs}};
  Status s = WriteFileSynced(jobdir + "/result.json", res.dump(), 0600);
  if (!s.ok()) spdlog::error("job {}: {}", r->job_id, s.message());
  spdlog::info("job {} attempt {} ended: {} {}:{}", r->job_id, r->attempt, ResultName(info.reason),
               info.exit_code, info.signal);
  std::lock_guard<std::mutex> lock(mu_);
  RecordEndLocked(jobdir);
  r->done = true;
}

void Agent::RecordEndLocked(const std::string& jobdir) {
  if (fs::exists(jobdir + "/recorded")) return;
  auto text = ReadFile(jobdir + "/result.json");
  if (!text.ok()) return;
  json res = json::parse(*text, nullptr, false);
  if (res.is_discarded()) return;
  auto seq = spool_->NextSeq();
  if (!seq.ok()) {
    spdlog::error("spool: {}", seq.status().message());
    return;
  }
  UsageRecord rec;
  rec.node_id = node_id_;
  rec.seq = *seq;
  rec.job_id = res["job_id"].get<int64_t>();
  rec.attempt = res["attempt"].get<int>();
  rec.start_ms = res.value("start_ms", int64_t{0});
  rec.end_ms = std::max(rec.start_ms, res.value("end_ms", rec.start_ms));
  rec.gpu_indices = res.value("gpu_indices", std::vector<int>{});
  rec.gpu_ms = static_cast<int64_t>(rec.gpu_indices.size()) * (rec.end_ms - rec.start_ms);
  rec.cpu_ms = static_cast<int64_t>(res.value("cpu_seconds", 0.0) * 1000);
  rec.max_rss_kb = res.value("max_rss_kb", int64_t{0});
  rec.result = res.value("result", "lost");
  rec.exit_code = std::clamp(res.value("exit_code", 0), 0, 255);
  rec.signal = std::clamp(res.value("signal", 0), 0, 128);
  for (const auto& o : res["outputs"])
    if (!o.value("sha256", "").empty()) rec.outputs.emplace_back(o["name"].get<std::string>(), o["sha256"].get<std::string>());
  auto signed_rec = SignRecord(rec, *key_);
  if (!signed_rec.ok()) {
    spdlog::error("job {}: cannot sign its usage record: {}", rec.job_id, signed_rec.status().message());
    return;
  }
  // On disk and synced before the first attempt to send it.
  auto appended = spool_->Append(*signed_rec);
  if (!appended.ok()) {
    spdlog::error("job {}: spool: {}", rec.job_id, appended.status().message());
    return;
  }
  (void)WriteFileSynced(jobdir + "/recorded", std::to_string(rec.seq), 0600);
  courier_wake_ = true;
  courier_cv_.notify_all();
}

void Agent::RecordUnrecorded() {
  std::error_code ec;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& entry : fs::directory_iterator(JobsRoot(), ec)) {
    std::string dir = entry.path().string();
    if (fs::exists(dir + "/result.json") && !fs::exists(dir + "/recorded")) RecordEndLocked(dir);
  }
}

Status Agent::DeliverRecord(ApiClient& api, const SignedRecord& rec) {
  int64_t id = rec.record["job_id"].get<int64_t>();
  int attempt = rec.record["attempt"].get<int>();
  std::string jobdir = JobDir(id, attempt);
  // Outputs first: once the record lands the job is over and users fetch them.
  if (!fs::exists(jobdir + "/outputs-sent")) {
    auto text = ReadFile(jobdir + "/result.json");
    json res = text.ok() ? json::parse(*text, nullptr, false) : json();
    if (res.is_object())
      for (const auto& o : res["outputs"]) {
        auto bytes = ReadFile(o["path"].get<std::string>());
        if (!bytes.ok()) continue;
        std::string path = "/api/v1/jobs/" + std::to_string(id) + "/outputs?attempt=" + std::to_string(attempt) +
                           "&name=" + UrlEncode(o["name"].get<std::string>());
        auto up = api.PostBytes(path, *bytes, "application/octet-stream");
        if (!up.ok() && up.status().code() == Status::Code::kUnavailable) return up.status();
        if (!up.ok()) spdlog::warn("job {}: output {} refused: {}", id, o["name"].get<std::string>(), up.status().message());
      }
    (void)WriteFileSynced(jobdir + "/outputs-sent", "", 0600);
  }
  auto r = api.Post("/api/v1/usage", SignedRecordToJson(rec));
  if (!r.ok() && (r.status().code() == Status::Code::kUnavailable || r.status().code() == Status::Code::kInternal))
    return r.status();
  if (!r.ok()) spdlog::warn("job {}: usage record refused: {}", id, r.status().message());
  return Status::OK();  // applied, a duplicate, or refused for good: either way it leaves the spool
}

void Agent::CourierLoop() {
  int delay = 200;
  for (;;) {
    auto records = spool_->Unacked();
    bool failed = false;
    if (records.ok() && !records->empty()) {
      auto api = Client(60);
      for (const auto& rec : api.ok() ? *records : std::vector<SignedRecord>{}) {
        Status s = DeliverRecord(**api, rec);
        if (!s.ok()) {
          spdlog::warn("usage record {} not delivered ({}); retrying", rec.record["seq"].get<int64_t>(), s.message());
          failed = true;
          break;  // in order: nothing after it goes first
        }
        (void)spool_->Ack(rec.record["seq"].get<int64_t>());
        (void)WriteFileSynced(JobDir(rec.record["job_id"].get<int64_t>(), rec.record["attempt"].get<int>()) + "/acked", "", 0600);
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_ && !failed) return;
    if (stopping_) return;  // what is left stays in the spool for the next start
    int wait = failed ? delay : 60'000;
    delay = failed ? std::min(delay * 2, 10'000) : 200;
    courier_cv_.wait_for(lock, std::chrono::milliseconds(wait), [&] { return courier_wake_ || stopping_.load(); });
    courier_wake_ = false;
  }
}

void Agent::AnswerChallenge(const json& item) {
  std::string id = item["challenge_id"].get<std::string>();
  auto spec = ChallengeSpecFromJson(item["spec"]);
  json answer;
  if (!spec.ok()) {
    spdlog::warn("challenge {}: {}", id, spec.status().message());
    return;
  }
  SolveOptions opts;
  opts.allow_gpu = cfg_.declared_gpus < 0;
  auto solved = gm::worker::SolveChallenge(*spec, opts);
  if (!solved.ok()) {
    spdlog::warn("challenge {} ({}): {}", id, spec->kind, solved.status().message());
    return;  // unanswered: the controller counts it failed at its deadline
  }
  for (int delay = 200; !stopping_; delay = std::min(delay * 2, 5000)) {
    auto api = Client(60);
    if (!api.ok()) return;
    auto r = (*api)->Post("/api/v1/nodes/" + node_id_ + "/challenges/" + id, *solved);
    if (r.ok()) {
      spdlog::info("challenge {} ({}): {}", id, spec->kind, (*r).value("reason", ""));
      return;
    }
    if (r.status().code() != Status::Code::kUnavailable) {
      spdlog::warn("challenge {} ({}): {}", id, spec->kind, r.status().message());
      return;
    }
    SleepUnlessStopped(delay);
  }
}

}  // namespace gm::worker
