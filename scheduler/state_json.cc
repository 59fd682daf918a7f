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
           {"completing_to", JobStateName(job.completing_to)}};
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
}

void to_json(json& j, const Node& n) {
  j = json{{"id", n.id},         {"name", n.name},     {"provider", n.provider},
           {"gpu_model", n.gpu_model}, {"gpus", n.gpus}, {"gpu_mem_mb", n.gpu_mem_mb},
           {"declared", n.declared}, {"cpus", n.cpus}, {"mem_mb", n.mem_mb},
           {"price", n.price},   {"region", n.region}, {"site", n.site},
           {"up", n.up},         {"drain", n.drain}};
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
  n.up = j.value("up", true);
  n.drain = j.value("drain", false);
}

json JobSummary(const Job& job, const std::map<std::string, Node>& nodes) {
  std::vector<std::string> names;
  for (const auto& a : job.alloc) {
    auto it = nodes.find(a.node_id);
    names.push_back(it == nodes.end() ? a.node_id : it->second.name);
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
              {"submit_dir", job.spec.submit_dir}};
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

}  // namespace gm::sched
