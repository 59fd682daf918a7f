// JobSpec's JSON form (the wire format between gm and gmctld) and the task
// and GPU counts Slurm derives from a job's options.
#include "common/job_spec.h"

#include <limits>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace gm {

int JobSpec::EffectiveNtasks() const {
  if (ntasks) return *ntasks;
  if (ntasks_per_node) return nodes_min * *ntasks_per_node;
  return nodes_min;  // Slurm's default: one task per node
}

int JobSpec::GpusPerNode() const {
  if (gpus_per_node) return *gpus_per_node;
  if (gpus_total && nodes_min > 0) return (*gpus_total + nodes_min - 1) / nodes_min;
  return 0;
}

namespace {

using nlohmann::json;

// nlohmann converts floats and booleans to integers silently; the wire
// format is stricter, so integers are checked here and refused with the
// same exception type nlohmann throws for other type mismatches.
template <typename Int>
Int StrictInt(const json& v) {
  if (!v.is_number_integer())
    throw json::type_error::create(302, std::string("type must be an integer, but is ") + v.type_name(), &v);
  bool fits = v.is_number_unsigned()
                  ? v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<Int>::max())
                  : v.get<int64_t>() >= std::numeric_limits<Int>::min() &&
                        v.get<int64_t>() <= std::numeric_limits<Int>::max();
  if (!fits) throw json::out_of_range::create(406, "integer " + v.dump() + " is out of range", &v);
  return v.get<Int>();
}

// Plain fields: a missing key keeps the default; wrong types throw.
template <typename T>
void Read(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
    out = StrictInt<T>(*it);
  else
    it->get_to(out);
}

// Optional fields: null or missing is unset.
template <typename T>
void Read(const json& j, const char* key, std::optional<T>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    out.reset();
    return;
  }
  T value{};
  Read(j, key, value);
  out = value;
}

void Read(const json& j, const char* key, std::vector<int>& out) {
  auto it = j.find(key);
  if (it == j.end()) return;
  if (!it->is_array())
    throw json::type_error::create(302, std::string("type must be array, but is ") + it->type_name(), &*it);
  out.clear();
  for (const json& v : *it) out.push_back(StrictInt<int>(v));
}

template <typename T>
json Write(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

}  // namespace

void to_json(nlohmann::json& j, const JobSpec& s) {
  j = nlohmann::json{
      {"job_name", s.job_name},         {"nodes_min", s.nodes_min},
      {"nodes_max", s.nodes_max},       {"ntasks", Write(s.ntasks)},
      {"ntasks_per_node", Write(s.ntasks_per_node)},
      {"cpus_per_task", s.cpus_per_task},
      {"gpus_per_node", Write(s.gpus_per_node)},
      {"gpus_total", Write(s.gpus_total)},
      {"gpus_per_task", Write(s.gpus_per_task)},
      {"gpu_type", s.gpu_type},
      {"mem_per_node_mb", Write(s.mem_per_node_mb)},
      {"mem_per_cpu_mb", Write(s.mem_per_cpu_mb)},
      {"time_limit_s", Write(s.time_limit_s)},
      {"time_unlimited", s.time_unlimited},
      {"partition", s.partition},       {"account", s.account},
      {"qos", s.qos},                   {"constraint", s.constraint},
      {"array", s.array},               {"array_tasks", s.array_tasks},
      {"array_max_running", Write(s.array_max_running)},
      {"dependency", s.dependency},     {"chdir", s.chdir},
      {"exclusive", s.exclusive},       {"requeue", Write(s.requeue)},
      {"output", s.output},             {"error", s.error},
      {"hold", s.hold},                 {"begin", s.begin},
      {"signal", s.signal},             {"export_env", s.export_env},
      {"nice", Write(s.nice)},
      {"gm_max_price", Write(s.gm_max_price)},
      {"gm_min_trust", Write(s.gm_min_trust)},
      {"gm_region", s.gm_region},       {"gm_verify", s.gm_verify},
      {"stage_in", s.stage_in},         {"stage_out", s.stage_out},
      {"bundle", s.bundle},
      {"script", s.script},             {"script_name", s.script_name},
      {"script_args", s.script_args},   {"submit_dir", s.submit_dir},
      {"submit_host", s.submit_host},   {"submit_user", s.submit_user},
      {"environment", s.environment},   {"notes", s.notes},
  };
}

void from_json(const nlohmann::json& j, JobSpec& s) {
  if (!j.is_object())
    throw json::type_error::create(302, std::string("type must be object, but is ") + j.type_name(), &j);
  Read(j, "job_name", s.job_name);
  Read(j, "nodes_min", s.nodes_min);
  Read(j, "nodes_max", s.nodes_max);
  Read(j, "ntasks", s.ntasks);
  Read(j, "ntasks_per_node", s.ntasks_per_node);
  Read(j, "cpus_per_task", s.cpus_per_task);
  Read(j, "gpus_per_node", s.gpus_per_node);
  Read(j, "gpus_total", s.gpus_total);
  Read(j, "gpus_per_task", s.gpus_per_task);
  Read(j, "gpu_type", s.gpu_type);
  Read(j, "mem_per_node_mb", s.mem_per_node_mb);
  Read(j, "mem_per_cpu_mb", s.mem_per_cpu_mb);
  Read(j, "time_limit_s", s.time_limit_s);
  Read(j, "time_unlimited", s.time_unlimited);
  Read(j, "partition", s.partition);
  Read(j, "account", s.account);
  Read(j, "qos", s.qos);
  Read(j, "constraint", s.constraint);
  Read(j, "array", s.array);
  Read(j, "array_tasks", s.array_tasks);
  Read(j, "array_max_running", s.array_max_running);
  Read(j, "dependency", s.dependency);
  Read(j, "chdir", s.chdir);
  Read(j, "exclusive", s.exclusive);
  Read(j, "requeue", s.requeue);
  Read(j, "output", s.output);
  Read(j, "error", s.error);
  Read(j, "hold", s.hold);
  Read(j, "begin", s.begin);
  Read(j, "signal", s.signal);
  Read(j, "export_env", s.export_env);
  Read(j, "nice", s.nice);
  Read(j, "gm_max_price", s.gm_max_price);
  Read(j, "gm_min_trust", s.gm_min_trust);
  Read(j, "gm_region", s.gm_region);
  Read(j, "gm_verify", s.gm_verify);
  Read(j, "stage_in", s.stage_in);
  Read(j, "stage_out", s.stage_out);
  Read(j, "bundle", s.bundle);
  Read(j, "script", s.script);
  Read(j, "script_name", s.script_name);
  Read(j, "script_args", s.script_args);
  Read(j, "submit_dir", s.submit_dir);
  Read(j, "submit_host", s.submit_host);
  Read(j, "submit_user", s.submit_user);
  Read(j, "environment", s.environment);
  Read(j, "notes", s.notes);
}

}  // namespace gm
