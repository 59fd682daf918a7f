// JobSpec: what a user asked for, resolved from #SBATCH directives, the
// command line and SBATCH_* variables. Sent from gm to gmctld as JSON and
// stored with the job. Field names are frozen: they are the wire format and
// the keys of `gm sbatch --test-only --json`.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace gm {

using Micros = int64_t;  // token amounts: integer micro-tokens (1 token = 1,000,000)
constexpr Micros kMicrosPerToken = 1'000'000;

struct JobSpec {
  std::string job_name;                     // -J; default: script file name, "wrap" for --wrap
  int nodes_min = 1;                        // -N min[-max]
  int nodes_max = 1;
  std::optional<int> ntasks;                // -n; Slurm's default is 1 task per node
  std::optional<int> ntasks_per_node;       // --ntasks-per-node
  int cpus_per_task = 1;                    // -c
  std::optional<int> gpus_per_node;         // --gres=gpu[:type]:N, --gpus-per-node
  std::optional<int> gpus_total;            // -G/--gpus
  std::optional<int> gpus_per_task;         // --gpus-per-task
  std::string gpu_type;                     // the optional type in the above
  std::optional<int64_t> mem_per_node_mb;   // --mem
  std::optional<int64_t> mem_per_cpu_mb;    // --mem-per-cpu
  std::optional<int64_t> time_limit_s;      // -t, whole minutes as Slurm resolves them; unset = partition default
  bool time_unlimited = false;              // -t UNLIMITED / infinite
  std::string partition;                    // -p
  std::string account;                      // -A
  std::string qos;                          // --qos
  std::string constraint;                   // -C
  std::string array;                        // --array as written
  std::vector<int> array_tasks;             // resolved task ids, sorted
  std::optional<int> array_max_running;     // the %N of --array
  std::string dependency;                   // -d as written
  std::string chdir;                        // -D; empty = submit directory
  bool exclusive = false;                   // --exclusive
  std::optional<bool> requeue;              // --requeue / --no-requeue
  std::string output;                       // -o pattern; empty = slurm-%j.out (slurm-%A_%a.out for arrays)
  std::string error;                        // -e pattern; empty = same file as output
  bool hold = false;                        // -H
  std::string begin;                        // --begin as written
  std::string signal;                       // --signal as written
  std::string export_env = "ALL";           // --export
  std::optional<int> nice;                  // --nice

  // GridMint's own options (--gm-*).
  std::optional<Micros> gm_max_price;       // per GPU-hour
  std::optional<int> gm_min_trust;          // 1..4
  std::string gm_region;
  bool gm_verify = false;
  std::vector<std::string> stage_in;        // --gm-stage-in paths as given (sent in the bundle)
  std::vector<std::string> stage_out;       // --gm-stage-out paths, relative to the job's directory
  std::string bundle;                       // SHA-256 of the bundle manifest; "" = no bundle

  // The batch script and how it was given.
  std::string script;                       // full text, shebang included
  std::string script_name;                  // file name as given ("" for --wrap)
  std::vector<std::string> script_args;     // arguments after the script
  std::string submit_dir;                   // absolute; SLURM_SUBMIT_DIR
  std::string submit_host;
  std::string submit_user;
  std::map<std::string, std::string> environment;  // exported to the job per --export

  // Options accepted but without effect here, each with a one-line note.
  std::vector<std::string> notes;

  // Derived figures (Slurm's defaults applied).
  int EffectiveNtasks() const;     // ntasks, or nodes_min × ntasks_per_node, or nodes_min
  int GpusPerNode() const;         // gpus_per_node, or ceil(gpus_total / nodes_min), or 0
};

void to_json(nlohmann::json& j, const JobSpec& s);
void from_json(const nlohmann::json& j, JobSpec& s);

}  // namespace gm
