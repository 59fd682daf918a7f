// sbatch's filename patterns for -o/--output and -e/--error ("slurm-%j.out"):
// what a job's output file is called once the job is known.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace gm {

// Slurm's NO_VAL: what %a prints for a job that is not an array task.
constexpr int64_t kNoArrayTaskId = 4294967294;
// Slurm's SLURM_BATCH_SCRIPT step id (22.05): what %s prints for the batch
// step, which is the step whose output sbatch's -o/-e name.
constexpr int64_t kBatchStepId = 4294967291;

struct OutputPatternVars {
  int64_t job_id = 0;                      // %j
  std::string job_name;                    // %x
  std::string user;                        // %u
  std::string node;                        // %N: short host name of the node
  std::optional<int64_t> array_job_id;     // %A; unset: not an array, %A = %j
  std::optional<int64_t> array_task_id;    // %a; unset: prints kNoArrayTaskId
  int64_t step_id = kBatchStepId;          // %s, and the ".step" of %J
  int64_t node_id = 0;                     // %n: the batch script runs on node 0
  int64_t task_id = 0;                     // %t: ... as task 0
};

// Expands a filename pattern as slurmstepd does for a batch job (Slurm 22.05,
// fname_create):
//   %%  a literal "%"
//   %j  job id                %J  job id "." step id
//   %A  array master job id (the job id when not an array)
//   %a  array task id (4294967294 when not an array, as Slurm prints)
//   %s  step id               %n  node id     %t  task id
//   %x  job name              %u  user name   %N  short host name
// A number between "%" and the letter zero-pads numeric fields ("%4j" ->
// "0128"); widths above 10 are cut to 10; it is ignored for %x %u %N.
// An unknown letter is kept as written ("%q" stays "%q"); with a width, Slurm
// drops the "%" and all but the last digit ("%12q" -> "2q"), and so does this.
// If the pattern contains a backslash, nothing is expanded: the backslashes
// are removed ("\\" becomes one "\") and the rest is kept as written.
// The result is as relative as the pattern: the caller resolves a relative
// name against the job's working directory, as Slurm does.
std::string ExpandOutputPattern(const std::string& pattern, const OutputPatternVars& v);

// The pattern sbatch uses when -o is not given: "slurm-%j.out", and
// "slurm-%A_%a.out" for job arrays.
std::string DefaultOutputPattern(bool is_array);

}  // namespace gm
