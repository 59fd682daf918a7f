// JSON (de)serialisation of jobs and nodes.
#include "scheduler/state_json.h"

namespace gm::sched {

using nlohmann::json;

void to_json(json& j, const NodeAlloc& a) {
  j = json{{"node_id", a.node_id}, {"gpu_indices", a.gpu_indices}, {"cpus", a.cpus},
           {"mem_mb", a.mem_mb}, {"price", a.price}};
}
void from_json(const json& j, NodeAlloc& a) {
  a.node_id = j.at("node_id").get<std::string>();
  a.gpu_indices = j.at("gpu_indices").get<std::vector<int>>();
  a.cpus = j.value("cpus", 0);
  a.mem_mb = j.value("mem_mb", int64_t{0});
  a.price = j.value("price", Micros{0});
}

void to_json(json& j, const Attempt& a) {
  j = json{{"attempt", a.attempt}, {"start_ms", a.start_ms}, {"end_ms", a.end_ms},
           {"node_ids", a.node_ids}, {"state", JobStateName(a.state)}, {"reason", a.reason},
           {"provider_fault", a.provider_fault}};
}
void from_json(const json& j, Attempt& a) {
  a.attempt = j.value("attempt", 0);
  a.start_ms = j.value("start_ms", int64_t{0});
  a.end_ms = j.value("end_ms", int64_t{0});
  a.node_ids = j.value("node_ids", std::vector<std::string>{});
  a.state = JobStateFromName(j.value("state", "NODE_FAIL")).value_or(JobState::kNodeFail);
  a.reason = j.value("reason", "");
  a.provider_fault = j.value("provider_fault", true);
}

void to_json(json& j, const Job& job) {
  j = json{{"id", job.id},
           {"spec", job.spec},
           {"user", job.user},
           {"payer", job.payer},
           {"state", JobStateName(job.state)},
           {"reason", job.reason},
           {"attempt", job.attempt},
           {"submit_ms", job.submit_ms},
           {"eligible_ms", job.eligible_ms},
           {"start_ms", job.start_ms},
           {"end_ms", job.end_ms},
           {"time_limit_s", job.time_limit_s},
           {"alloc", job.alloc},
           {"held", job.held},
           {"exit_code", job.exit_code},
           {"exit_signal", job.exit_signal},
           {"cancel_requested", job.cancel_requested},
           {"completing_to", JobStateName(job.completing_to)},
           {"array_job_id", job.array_job_id},
           {"array_task_id", job.array_task_id},
           {"held_by_admin", job.held_by_admin},
           {"history", job.history}};
}

void from_json(const json& j, Job& job) {
  job.id = j.at("id").get<int64_t>();
  job.spec = j.at("spec").get<JobSpec>();
  job.user = j.at("user").get<std::string>();
  job.payer = j.at("payer").get<std::string>();
  job.state = JobStateFromName(j.at("state").get<std::string>()).value_or(JobState::kFailed);
  job.reason = j.value("reason", "None");
  job.attempt = j.value("attempt", 0);
  job.submit_ms = j.value("submit_ms", int64_t{0});
  job.eligible_ms = j.value("eligible_ms", int64_t{0});
  job.start_ms = j.value("start_ms", int64_t{0});
  job.end_ms = j.value("end_ms", int64_t{0});
  job.time_limit_s = j.value("time_limit_s", int64_t{0});
  job.alloc = j.value("alloc", std::vector<NodeAlloc>{});
  job.held = j.value("held", Micros{0});
  job.exit_code = j.value("exit_code", 0);
  job.exit_signal = j.value("exit_signal", 0);
  job.cancel_requested = j.value("cancel_requested", false);
  job.completing_to =
      JobStateFromName(j.value("completing_to", "COMPLETED")).value_or(JobState::kCompleted);
  job.array_job_id = j.value("array_job_id", int64_t{0});
  job.array_task_id = j.value("array_task_id", -1);
  job.held_by_admin = j.value("held_by_admin", false);
  job.history = j.value("history", std::vector<Attempt>{});
}

void to_json(json& j, const Node& n) {
  j = json{{"id", n.id},
           {"name", n.name},
           {"provider", n.provider},
           {"gpu_model", n.gpu_model},
           {"gpus", n.gpus},
           {"gpu_mem_mb", n.gpu_mem_mb},
           {"cc", std::to_string(n.cc_major) + "." + std::to_string(n.cc_minor)},
           {"tflops", n.tflops},
           {"declared", n.declared},
           {"cpus", n.cpus},
           {"mem_mb", n.mem_mb},
           {"features", n.features},
           {"price", n.price},
           {"stake", n.stake},
           {"reputation", n.reputation},
           {"uptime", n.uptime},
           {"latency_ms", n.latency_ms},
           {"trust_level", n.trust_level},
           {"region", n.region},
           {"site", n.site},
           {"verification", NodeTrustName(n.verification)},
           {"up", n.up},
           {"drain", n.drain},
           {"drain_reason", n.drain_reason}};
}

void from_json(const json& j, Node& n) {
  n.id = j.at("id").get<std::string>();
  n.name = j.at("name").get<std::string>();
  n.provider = j.value("provider", "");
  n.gpu_model = j.value("gpu_model", "");
  n.gpus = j.value("gpus", 0);
  n.gpu_mem_mb = j.value("gpu_mem_mb", int64_t{0});
  n.declared = j.value("declared", false);
  n.cpus = j.value("cpus", 1);
  n.mem_mb = j.value("mem_mb", int64_t{0});
  n.price = j.value("price", Micros{0});
  n.region = j.value("region", "");
  n.site = j.value("site", "");
  std::string cc = j.value("cc", "0.0");
  n.cc_major = std::atoi(cc.c_str());
  n.cc_minor = cc.find('.') == std::string::npos ? 0 : std::atoi(cc.c_str() + cc.find('.') + 1);
  n.tflops = j.value("tflops", 0.0);
  n.features = j.value("features", std::set<std::string>{});
  n.stake = j.value("stake", Micros{0});
  n.reputation = j.value("reputation", 0.5);
  n.uptime = j.value("uptime", 1.0);
  n.latency_ms = j.value("latency_ms", 0.0);
  n.trust_level = j.value("trust_level", 1);
  n.verification = NodeTrustFromName(j.value("verification", "VERIFIED")).value_or(NodeTrust::kPending);
  n.up = j.value("up", true);
  n.drain = j.value("drain", false);
  n.drain_reason = j.value("drain_reason", "");
}

json JobSummary(const Job& job, const std::function<const Node*(const std::string&)>& find_node) {
  auto name_of = [&](const std::string& id) {
    const Node* n = find_node(id);
    return n ? n->name : id;
  };
  std::vector<std::string> names;
  for (const auto& a : job.alloc) names.push_back(name_of(a.node_id));
  json attempts = json::array();
  for (const auto& a : job.history) {
    json aj = a;
    std::vector<std::string> an;
    for (const auto& id : a.node_ids) an.push_back(name_of(id));
    aj["node_names"] = an;
    attempts.push_back(aj);
  }
  int gpus = 0, cpus = 0;
  for (const auto& a : job.alloc) {
    gpus += static_cast<int>(a.gpu_indices.size());
    cpus += a.cpus;
  }
  return json{{"id", job.id},
              {"name", job.spec.job_name},
              {"user", job.user},
              {"account", job.spec.account.empty() ? job.payer : job.spec.account},
              {"partition", job.spec.partition},
              {"state", JobStateName(job.state)},
              {"state_code", JobStateCode(job.state)},
              {"reason", job.reason},
              {"attempt", job.attempt},
              {"nodes_min", job.spec.nodes_min},
              {"node_names", names},
              {"gpus", gpus},
              {"cpus", cpus},
              {"submit_ms", job.submit_ms},
              {"start_ms", job.start_ms},
              {"end_ms", job.end_ms},
              {"time_limit_s", job.time_limit_s},
              {"exit_code", job.exit_code},
              {"exit_signal", job.exit_signal},
              {"held", job.held},
              {"output", job.spec.output},
              {"error", job.spec.error},
              {"submit_dir", job.spec.submit_dir},
              {"array_job_id", job.array_job_id},
              {"array_task_id", job.array_task_id},
              {"priority", job.priority},
              {"expected_start_ms", job.expected_start_ms},
              {"qos", job.spec.qos.empty() ? "normal" : job.spec.qos},
              {"nice", job.spec.nice.value_or(0)},
              {"attempts", attempts}};
}

json NodeSummary(const Node& n) {
  json j = n;
  j["state"] = n.DisplayState();
  j["gpus_free"] = n.GpusFree();
  j["cpus_used"] = n.cpus_used;
  j["jobs"] = n.jobs;
  j["last_heartbeat_ms"] = n.last_heartbeat_ms;
  return j;
}

json MarketSummary(const std::vector<Node>& nodes, const std::map<int64_t, Job>& jobs) {
  auto lower = [](std::string m) {
    for (char& c : m) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return m;
  };
  struct Model {
    std::string name;
    int nodes = 0, gpus = 0, free = 0, waiting = 0;
    std::vector<Micros> asks;
  };
  std::map<std::string, Model> by_model;  // lower-case name -> figures
  for (const auto& n : nodes) {
    if (n.gpus <= 0 || !n.Schedulable()) continue;
    Model& m = by_model[lower(n.gpu_model)];
    if (m.name.empty()) m.name = n.gpu_model;
    ++m.nodes;
    m.gpus += n.gpus;
    m.free += n.GpusFree();
    m.asks.push_back(n.price);
  }
  int any = 0;
  for (const auto& [id, j] : jobs) {
    if (j.state != JobState::kPending || j.spec.GpusPerNode() <= 0) continue;
    if (j.spec.gpu_type.empty()) {
      ++any;
      continue;
    }
    auto it = by_model.find(lower(j.spec.gpu_type));
    if (it != by_model.end()) ++it->second.waiting;
  }
  json models = json::array();
  for (auto& [key, m] : by_model) {
    std::sort(m.asks.begin(), m.asks.end());
    models.push_back({{"model", m.name},
                      {"nodes", m.nodes},
                      {"gpus", m.gpus},
                      {"gpus_free", m.free},
                      {"lowest_ask", m.asks.front()},
                      {"median_ask", m.asks[(m.asks.size() - 1) / 2]},
                      {"jobs_waiting", m.waiting},
                      {"utilisation", m.gpus > 0 ? static_cast<double>(m.gpus - m.free) / m.gpus : 0.0}});
  }
  return json{{"models", models}, {"any_model_waiting", any}};
}

}  // namespace gm::sched
