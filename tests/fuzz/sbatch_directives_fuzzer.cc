// libFuzzer target for the sbatch parser: command line, SBATCH_* variables and
// #SBATCH directives. The input's first line holds command-line words
// separated by tabs; a second line holds NAME=VALUE variables separated by
// tabs; the rest is the script. Besides not crashing, the parser must keep
// its own invariants on every request it accepts (checked below: a failed
// check aborts, which libFuzzer reports as a crash).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/output_pattern.h"
#include "common/sbatch_options.h"

namespace {

std::vector<std::string> SplitTabs(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t tab = s.find('\t', start);
    if (tab == std::string::npos) tab = s.size();
    if (tab > start) out.push_back(s.substr(start, tab - start));
    start = tab + 1;
  }
  return out;
}

std::string TakeLine(std::string& rest) {
  size_t nl = rest.find('\n');
  std::string line = rest.substr(0, nl);
  rest = nl == std::string::npos ? "" : rest.substr(nl + 1);
  return line;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckInvariants(const gm::SbatchRequest& r) {
  const gm::JobSpec& s = r.spec;
  if (r.flags.help || r.flags.usage || r.flags.version) return;
  Check(s.nodes_min >= 1 && s.nodes_max >= s.nodes_min);
  Check(s.cpus_per_task >= 1);
  Check(!s.ntasks || *s.ntasks >= 1);
  Check(!s.ntasks || !s.ntasks_per_node || *s.ntasks_per_node >= 1);
  Check(s.EffectiveNtasks() >= 1);
  Check(!s.time_limit_s || (*s.time_limit_s > 0 && *s.time_limit_s % 60 == 0));
  Check(!s.mem_per_node_mb || *s.mem_per_node_mb >= 0);
  for (size_t i = 1; i < s.array_tasks.size(); ++i) Check(s.array_tasks[i - 1] < s.array_tasks[i]);
  for (int t : s.array_tasks) Check(t >= 0 && t <= 1000);
  Check(!s.array_max_running || *s.array_max_running >= 1);
  Check(!s.script.empty() && s.script.rfind("#!", 0) == 0);
  gm::OutputPatternVars v;
  v.job_id = 12345;
  v.job_name = s.job_name;
  v.user = "fuzz";
  (void)gm::ExpandOutputPattern(s.output, v);
  (void)gm::ExpandOutputPattern(s.error, v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string rest(reinterpret_cast<const char*>(data), size);
  gm::SbatchInput in;
  in.argv = SplitTabs(TakeLine(rest));
  for (const std::string& kv : SplitTabs(TakeLine(rest))) {
    size_t eq = kv.find('=');
    if (eq != std::string::npos) in.env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  in.argv.push_back("job.sh");
  in.cwd = "/home/fuzz";
  in.env["USER"] = "fuzz";
  in.env["HOSTNAME"] = "fuzzhost";
  in.read_file = [&rest](const std::string& path) -> gm::Result<std::string> {
    if (path == "job.sh") return rest;
    return gm::Status::NotFound(path);
  };
  in.stdin_script = rest;
  auto r = gm::ParseSbatch(in);
  if (r.ok()) CheckInvariants(*r);
  return 0;
}
