// Parsing sbatch's command line, SBATCH_* variables and #SBATCH directives
// into a JobSpec, following Slurm 22.05's sbatch.
#include "common/sbatch_options.h"

#include "common/money.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstddef>
#include <optional>
#include <set>

#include "common/slurm_time.h"

namespace gm {

namespace {

// Slurm's default MaxArraySize: array task ids must be below it.
constexpr int kMaxArraySize = 1001;
// sbatch's --nice without a value.
constexpr int kDefaultNice = 100;

// ---------------------------------------------------------------------------
// Option values
// ---------------------------------------------------------------------------

Status BadValue(const std::string& opt, const std::string& value, const std::string& why = "") {
  std::string m = "invalid --" + opt + " value '" + value + "'";
  return Status::InvalidArgument(why.empty() ? m : m + ": " + why);
}

// At most nine digits, so the value always fits an int.
bool IsCount(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// `v` is the number; `whole` the option's whole value, for the message.
Result<int> ParseCount(const std::string& opt, const std::string& v, int min_value, const std::string& whole) {
  if (!IsCount(v)) return BadValue(opt, whole);
  int n = std::stoi(v);
  if (n < min_value)
    return BadValue(opt, whole,
                    min_value == 1 ? "must be positive" : "must be at least " + std::to_string(min_value));
  return n;
}

Result<int> ParseCount(const std::string& opt, const std::string& v, int min_value) {
  return ParseCount(opt, v, min_value, v);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return parts;
    start = pos + 1;
  }
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsGpuType(const std::string& t) {
  if (t.empty()) return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

struct TypedCount {
  std::string type;
  int count = 0;
};

// "[type:]N" as --gpus, --gpus-per-node and --gpus-per-task take it.
Result<TypedCount> ParseTypedCount(const std::string& opt, const std::string& v) {
  if (v.find(',') != std::string::npos)
    return BadValue(opt, v, "GridMint takes one GPU type per job");
  size_t colon = v.rfind(':');
  TypedCount out;
  // A lone type means one GPU of it, as with --gres=gpu:type (slurmctld
  // takes --gpus=a100 as TresPerJob=gres:gpu:a100).
  if (colon == std::string::npos && !v.empty() && std::isalpha(static_cast<unsigned char>(v[0])) &&
      IsGpuType(v))
    return TypedCount{v, 1};
  if (colon != std::string::npos) {
    out.type = v.substr(0, colon);
    if (!IsGpuType(out.type)) return BadValue(opt, v);
  }
  GM_ASSIGN_OR_RETURN(out.count, ParseCount(opt, v.substr(colon == std::string::npos ? 0 : colon + 1), 0, v));
  return out;
}

// "N" or "N-M"; a single count means exactly that many nodes.
Status ParseNodes(const std::string& v, JobSpec& s) {
  size_t dash = v.find('-');
  GM_ASSIGN_OR_RETURN(int lo, ParseCount("nodes", v.substr(0, dash), 1, v));
  int hi = lo;
  if (dash != std::string::npos) {
    GM_ASSIGN_OR_RETURN(hi, ParseCount("nodes", v.substr(dash + 1), 1, v));
  }
  if (hi < lo)
    return BadValue("nodes", v, "maximum node count " + std::to_string(hi) +
                                    " is less than minimum node count " + std::to_string(lo));
  s.nodes_min = lo;
  s.nodes_max = hi;
  return Status::OK();
}

struct ArraySpec {
  std::vector<int> tasks;
  std::optional<int> max_running;
};

// One comma item of --array: "N", "N-M" or "N-M:S".
Status AddArrayItem(const std::string& v, const std::string& item, std::set<int>* ids) {
  size_t colon = item.find(':');
  std::string range = item.substr(0, colon);
  int step = 1;
  if (colon != std::string::npos) {
    GM_ASSIGN_OR_RETURN(step, ParseCount("array", item.substr(colon + 1), 1, v));
  }
  size_t dash = range.find('-');
  if (!IsCount(range.substr(0, dash)) || (dash != std::string::npos && !IsCount(range.substr(dash + 1))))
    return BadValue("array", v);
  int lo = std::stoi(range.substr(0, dash));
  int hi = dash == std::string::npos ? lo : std::stoi(range.substr(dash + 1));
  if (colon != std::string::npos && dash == std::string::npos) return BadValue("array", v, "a step needs a range");
  if (hi < lo) return BadValue("array", v, "range " + range + " is reversed");
  if (hi >= kMaxArraySize)
    return BadValue("array", v, "task ids must be below MaxArraySize (" + std::to_string(kMaxArraySize) + ")");
  for (int id = lo; id <= hi; id += step) ids->insert(id);
  return Status::OK();
}

// "0-15", "1-7:2", "1,3,5", any of them with "%N" for the running limit.
Result<ArraySpec> ParseArray(const std::string& v) {
  ArraySpec out;
  size_t pct = v.find('%');
  if (pct != std::string::npos) {
    GM_ASSIGN_OR_RETURN(int limit, ParseCount("array", v.substr(pct + 1), 1, v));
    out.max_running = limit;
  }
  std::set<int> ids;
  for (const auto& item : Split(v.substr(0, pct), ','))
    GM_RETURN_IF_ERROR(AddArrayItem(v, item, &ids));
  out.tasks.assign(ids.begin(), ids.end());
  return out;
}

// "123", "123_4", "123_*"; "after" also takes "+minutes".
bool IsDependencyJob(const std::string& job, bool allow_time) {
  std::string id = job, time;
  size_t plus = job.find('+');
  if (plus != std::string::npos) {
    if (!allow_time) return false;
    id = job.substr(0, plus);
    time = job.substr(plus + 1);
    if (!IsCount(time)) return false;
  }
  size_t us = id.find('_');
  if (us == std::string::npos) return IsCount(id);
  std::string task = id.substr(us + 1);
  return IsCount(id.substr(0, us)) && (task == "*" || IsCount(task));
}

// type:job[:job...] joined by "," (all) or "?" (any), never both.
Status ValidateDependency(const std::string& v) {
  static const std::set<std::string> kTypes = {"after",      "afterany", "afterburstbuffer",
                                               "aftercorr",  "afternotok", "afterok"};
  bool has_comma = v.find(',') != std::string::npos, has_any = v.find('?') != std::string::npos;
  if (has_comma && has_any) return BadValue("dependency", v, "use either ',' or '?' as separator, not both");
  for (const auto& dep : Split(v, has_any ? '?' : ',')) {
    if (Lower(dep) == "singleton") continue;
    std::vector<std::string> parts = Split(dep, ':');
    std::string type = Lower(parts[0]);
    if (!kTypes.count(type) || parts.size() < 2) return BadValue("dependency", v);
    for (size_t i = 1; i < parts.size(); ++i)
      if (!IsDependencyJob(parts[i], type == "after")) return BadValue("dependency", v);
  }
  return Status::OK();
}

bool IsSignal(const std::string& sig) {
  static const std::set<std::string> kNames = {"hup",  "int",  "quit", "abrt", "kill", "alrm",
                                               "term", "usr1", "usr2", "urg",  "cont", "stop",
                                               "tstp", "ttin", "ttou", "xcpu"};
  if (IsCount(sig)) return std::stoi(sig) >= 1 && std::stoi(sig) <= 255;
  std::string name = Lower(sig);
  if (name.rfind("sig", 0) == 0) name = name.substr(3);
  return kNames.count(name) > 0;
}

// [{R|B}:]sig[@seconds], the seconds at most 65535.
Status ValidateSignal(const std::string& v) {
  std::string rest = v;
  if (rest.size() > 2 && rest[1] == ':' && (std::toupper(static_cast<unsigned char>(rest[0])) == 'R' ||
                                            std::toupper(static_cast<unsigned char>(rest[0])) == 'B'))
    rest = rest.substr(2);
  size_t at = rest.find('@');
  if (at != std::string::npos) {
    std::string secs = rest.substr(at + 1);
    if (!IsCount(secs) || std::stoi(secs) > 65535) return BadValue("signal", v);
    rest = rest.substr(0, at);
  }
  return IsSignal(rest) ? Status::OK() : BadValue("signal", v);
}

bool IsEnvName(const std::string& n) {
  if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// ALL, NONE, or [ALL,]NAME[=value][,...].
Status ValidateExport(const std::string& v) {
  for (const auto& item : Split(v, ',')) {
    std::string name = item.substr(0, item.find('='));
    if (Lower(name) == "all" || Lower(name) == "none") continue;
    if (!IsEnvName(name)) return BadValue("export", v);
  }
  return Status::OK();
}

// Decimal tokens to integer micro-tokens, through the one parser money uses.
Result<Micros> ParseMicros(const std::string& opt, const std::string& v) {
  auto r = ParseTokens(v, "--" + opt);
  if (r.ok()) return r;
  const std::string& m = r.status().message();
  return BadValue(opt, v, m.substr(m.rfind(": ") + 2));
}

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

enum class Source { kScript, kEnv, kCli };
enum class Arg { kNone, kRequired, kOptional };
using Value = std::optional<std::string>;

struct State {
  const SbatchInput* in = nullptr;
  SbatchRequest req;
  Source source = Source::kScript;
  std::map<std::string, Source> set_by;  // option name -> source of its current value
  std::set<std::string> noted;
  // The GPU type each GPU option last named ("" for none), to refuse what
  // slurmctld refuses: typed and untyped GPU requests in one job.
  std::map<std::string, std::string> gpu_type_by_option;
};

using Handler = Status (*)(State&, const Value&);

struct OptionDef {
  const char* name;   // long name, without "--"
  char short_name;    // 0 when there is none
  Arg arg;
  Handler handler;    // nullptr: accepted, ignored, noted with `help` as the reason
  const char* meta;   // the value in --help
  const char* help;
};

void AddNote(State& st, const std::string& note) {
  if (st.noted.insert(note).second) st.req.spec.notes.push_back(note);
}

Status SetNodes(State& st, const Value& v) { return ParseNodes(*v, st.req.spec); }

Status SetNtasks(State& st, const Value& v) {
  GM_ASSIGN_OR_RETURN(st.req.spec.ntasks, ParseCount("ntasks", *v, 1));
  return Status::OK();
}

Status SetNtasksPerNode(State& st, const Value& v) {
  GM_ASSIGN_OR_RETURN(st.req.spec.ntasks_per_node, ParseCount("ntasks-per-node", *v, 1));
  return Status::OK();
}

Status SetCpusPerTask(State& st, const Value& v) {
  GM_ASSIGN_OR_RETURN(st.req.spec.cpus_per_task, ParseCount("cpus-per-task", *v, 1));
  return Status::OK();
}

// One --gres item: "gpu", "gpu:N", "gpu:type", "gpu:type:N"; other names noted.
Status AddGres(State& st, const std::string& v, const std::string& item) {
  std::vector<std::string> p = Split(item, ':');
  if (p[0] != "gpu") {
    if (p[0].empty()) return BadValue("gres", v);
    AddNote(st, "--gres=" + p[0] + " is accepted and ignored: GridMint schedules only GPUs");
    return Status::OK();
  }
  if (p.size() > 3) return BadValue("gres", v);
  std::string type, count = "1";
  if (p.size() == 2) (IsCount(p[1]) ? count : type) = p[1];
  if (p.size() == 3) type = p[1], count = p[2];
  if (p.size() > 1 && !type.empty() && !IsGpuType(type)) return BadValue("gres", v);
  GM_ASSIGN_OR_RETURN(int n, ParseCount("gres", count, 0, v));
  st.req.spec.gpus_per_node = n;
  if (!type.empty()) st.req.spec.gpu_type = type;
  st.gpu_type_by_option["gres"] = type;
  return Status::OK();
}

Status SetGres(State& st, const Value& v) {
  int gpu_items = 0;
  for (const auto& item : Split(*v, ','))
    if (Split(item, ':')[0] == "gpu" && ++gpu_items > 1)
      return BadValue("gres", *v, "GridMint takes one GPU type per job");
  for (const auto& item : Split(*v, ',')) GM_RETURN_IF_ERROR(AddGres(st, *v, item));
  return Status::OK();
}

Status SetGpuCount(State& st, const std::string& opt, const std::string& v, std::optional<int>& field) {
  GM_ASSIGN_OR_RETURN(TypedCount tc, ParseTypedCount(opt, v));
  field = tc.count;
  if (!tc.type.empty()) st.req.spec.gpu_type = tc.type;
  st.gpu_type_by_option[opt] = tc.type;
  return Status::OK();
}

Status SetGpus(State& st, const Value& v) { return SetGpuCount(st, "gpus", *v, st.req.spec.gpus_total); }
Status SetGpusPerNode(State& st, const Value& v) {
  return SetGpuCount(st, "gpus-per-node", *v, st.req.spec.gpus_per_node);
}
Status SetGpusPerTask(State& st, const Value& v) {
  return SetGpuCount(st, "gpus-per-task", *v, st.req.spec.gpus_per_task);
}

Status SetMemory(const std::string& opt, const std::string& v, std::optional<int64_t>& field) {
  Result<int64_t> mb = ParseMemoryMb(v);
  if (!mb.ok()) return BadValue(opt, v);
  field = *mb;
  return Status::OK();
}

Status SetMem(State& st, const Value& v) { return SetMemory("mem", *v, st.req.spec.mem_per_node_mb); }
Status SetMemPerCpu(State& st, const Value& v) {
  return SetMemory("mem-per-cpu", *v, st.req.spec.mem_per_cpu_mb);
}

// Kept only for the mutual exclusion with --mem: JobSpec has no field for it.
Status SetMemPerGpu(State& st, const Value& v) {
  std::optional<int64_t> ignored;
  GM_RETURN_IF_ERROR(SetMemory("mem-per-gpu", *v, ignored));
  AddNote(st, "--mem-per-gpu is accepted and ignored: GridMint gives each job its GPUs' whole memory");
  return Status::OK();
}

Status SetTime(State& st, const Value& v) {
  Result<std::optional<int64_t>> t = ParseTimeLimit(*v);
  if (!t.ok()) return BadValue("time", *v);
  st.req.spec.time_limit_s = *t;
  st.req.spec.time_unlimited = !t->has_value();
  return Status::OK();
}

Status SetExclusive(State& st, const Value& v) {
  std::string mode = v ? Lower(*v) : "";
  if (mode == "user" || mode == "mcs") {
    AddNote(st, "--exclusive=" + mode + " is treated as --exclusive: GridMint does not share nodes");
  } else if (!mode.empty() && mode != "exclusive") {
    return BadValue("exclusive", *v);
  }
  st.req.spec.exclusive = true;
  return Status::OK();
}

Status SetArray(State& st, const Value& v) {
  GM_ASSIGN_OR_RETURN(ArraySpec a, ParseArray(*v));
  st.req.spec.array = *v;
  st.req.spec.array_tasks = std::move(a.tasks);
  st.req.spec.array_max_running = a.max_running;
  return Status::OK();
}

Status SetDependency(State& st, const Value& v) {
  GM_RETURN_IF_ERROR(ValidateDependency(*v));
  st.req.spec.dependency = *v;
  return Status::OK();
}

Status SetChdir(State& st, const Value& v) {
  if (v->empty()) return BadValue("chdir", *v);
  const std::string& cwd = st.in->cwd;
  st.req.spec.chdir = (*v)[0] == '/' ? *v : cwd + (cwd.empty() || cwd.back() != '/' ? "/" : "") + *v;
  return Status::OK();
}

// sbatch sends an empty name as no name, which slurmctld refuses.
Status SetPartition(State& st, const Value& v) {
  if (v->empty()) return Status::InvalidArgument("invalid partition specified: (null)");
  st.req.spec.partition = *v;
  return Status::OK();
}

Status SetExport(State& st, const Value& v) {
  GM_RETURN_IF_ERROR(ValidateExport(*v));
  st.req.spec.export_env = *v;
  return Status::OK();
}

// --wrap is read before the script is; here it only has to be a command line option.
Status SetWrap(State& st, const Value&) {
  if (st.source != Source::kCli) AddNote(st, "--wrap is only honoured on the command line");
  return Status::OK();
}

Status SetBegin(State& st, const Value& v) {
  if (v->empty()) return BadValue("begin", *v);
  st.req.spec.begin = *v;
  return Status::OK();
}

Status SetSignal(State& st, const Value& v) {
  GM_RETURN_IF_ERROR(ValidateSignal(*v));
  st.req.spec.signal = *v;
  return Status::OK();
}

// Slurm accepts adjustments within +/-2147483645; negative ones need privilege,
// which the controller checks, not sbatch.
Status SetNice(State& st, const Value& v) {
  if (!v) {
    st.req.spec.nice = kDefaultNice;
    return Status::OK();
  }
  std::string digits = (!v->empty() && ((*v)[0] == '-' || (*v)[0] == '+')) ? v->substr(1) : *v;
  if (digits.empty() || digits.size() > 10 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return BadValue("nice", *v);
  long long n = std::stoll(*v);
  if (n > INT_MAX - 2 || n < -(INT_MAX - 2)) return BadValue("nice", *v, "out of range");
  st.req.spec.nice = static_cast<int>(n);
  return Status::OK();
}

Status SetMaxPrice(State& st, const Value& v) {
  GM_ASSIGN_OR_RETURN(st.req.spec.gm_max_price, ParseMicros("gm-max-price", *v));
  return Status::OK();
}

Status SetMinTrust(State& st, const Value& v) {
  GM_ASSIGN_OR_RETURN(int level, ParseCount("gm-min-trust", *v, 1));
  if (level > 4) return BadValue("gm-min-trust", *v, "trust levels are 1 to 4");
  st.req.spec.gm_min_trust = level;
  return Status::OK();
}

Status SetStage(const std::string& opt, const std::string& v, std::vector<std::string>& list) {
  if (v.empty()) return BadValue(opt, v);
  list.push_back(v);
  return Status::OK();
}

Status SetStageIn(State& st, const Value& v) { return SetStage("gm-stage-in", *v, st.req.stage_in); }
Status SetStageOut(State& st, const Value& v) { return SetStage("gm-stage-out", *v, st.req.stage_out); }

template <std::string JobSpec::*Field>
Status SetString(State& st, const Value& v) {
  st.req.spec.*Field = *v;
  return Status::OK();
}

template <bool JobSpec::*Field>
Status SetSpecFlag(State& st, const Value&) {
  st.req.spec.*Field = true;
  return Status::OK();
}

template <bool SbatchFlags::*Field>
Status SetSbatchFlag(State& st, const Value&) {
  st.req.flags.*Field = true;
  return Status::OK();
}

template <bool Requeue>
Status SetRequeue(State& st, const Value&) {
  st.req.spec.requeue = Requeue;
  return Status::OK();
}

Status NoOp(State&, const Value&) { return Status::OK(); }

// Reasons shared by many ignored options.
constexpr const char* kPlacement = "the market chooses nodes, not the job";
constexpr const char* kLayout = "GridMint does not control CPU, memory or GPU binding on providers' nodes";
constexpr const char* kSiteOnly = "it names a feature of a Slurm site that GridMint does not have";
constexpr const char* kIdentity = "jobs run as an unprivileged user on the provider's node";
constexpr const char* kAccounting = "GridMint's ledger does its own accounting";

const OptionDef kOptions[] = {
    // Resources.
    {"nodes", 'N', Arg::kRequired, SetNodes, "N[-M]", "number of nodes (minimum and maximum)"},
    {"ntasks", 'n', Arg::kRequired, SetNtasks, "N", "number of tasks"},
    {"ntasks-per-node", 0, Arg::kRequired, SetNtasksPerNode, "N", "tasks on each node"},
    {"cpus-per-task", 'c', Arg::kRequired, SetCpusPerTask, "N", "CPUs for each task"},
    {"gres", 0, Arg::kRequired, SetGres, "gpu[:type][:N]", "GPUs per node, as a generic resource"},
    {"gpus", 'G', Arg::kRequired, SetGpus, "[type:]N", "GPUs for the whole job"},
    {"gpus-per-node", 0, Arg::kRequired, SetGpusPerNode, "[type:]N", "GPUs on each node"},
    {"gpus-per-task", 0, Arg::kRequired, SetGpusPerTask, "[type:]N", "GPUs for each task"},
    {"mem", 0, Arg::kRequired, SetMem, "SIZE[K|M|G|T]", "memory per node (MB by default)"},
    {"mem-per-cpu", 0, Arg::kRequired, SetMemPerCpu, "SIZE[K|M|G|T]", "memory per CPU"},
    {"mem-per-gpu", 0, Arg::kRequired, SetMemPerGpu, "SIZE[K|M|G|T]",
     "accepted and ignored (GPUs come with their memory)"},
    {"time", 't', Arg::kRequired, SetTime, "TIME", "time limit: min, min:sec, h:min:sec, d-h[:min[:sec]], UNLIMITED"},
    {"exclusive", 0, Arg::kOptional, SetExclusive, "user|mcs", "do not share nodes with other jobs"},
    {"constraint", 'C', Arg::kRequired, SetString<&JobSpec::constraint>, "LIST", "required node features"},
    // Where and how the job is queued.
    {"partition", 'p', Arg::kRequired, SetPartition, "NAME", "partition"},
    {"account", 'A', Arg::kRequired, SetString<&JobSpec::account>, "NAME", "account to charge"},
    {"qos", 'q', Arg::kRequired, SetString<&JobSpec::qos>, "NAME", "quality of service"},
    {"job-name", 'J', Arg::kRequired, SetString<&JobSpec::job_name>, "NAME",
     "job name (default: the script's file name)"},
    {"array", 'a', Arg::kRequired, SetArray, "IDS[%N]", "job array: 0-15, 1-7:2, 1,3,5, with %N tasks at once"},
    {"dependency", 'd', Arg::kRequired, SetDependency, "TYPE:JOB[:JOB][,|?...]",
     "start after other jobs (afterok, afterany, afternotok, after, aftercorr, singleton)"},
    {"hold", 'H', Arg::kNone, SetSpecFlag<&JobSpec::hold>, "", "submit the job held"},
    {"begin", 'b', Arg::kRequired, SetBegin, "TIME", "start no earlier than TIME"},
    {"nice", 0, Arg::kOptional, SetNice, "N", "lower the job's priority by N (default 100)"},
    {"requeue", 0, Arg::kNone, SetRequeue<true>, "", "requeue the job if its node fails"},
    {"no-requeue", 0, Arg::kNone, SetRequeue<false>, "", "never requeue the job"},
    {"signal", 0, Arg::kRequired, SetSignal, "[R|B:]SIG[@SECS]", "signal the job SECS before its time limit"},
    // The job's files and environment.
    {"output", 'o', Arg::kRequired, SetString<&JobSpec::output>, "PATTERN",
     "standard output file (default slurm-%j.out)"},
    {"error", 'e', Arg::kRequired, SetString<&JobSpec::error>, "PATTERN",
     "standard error file (default: with output)"},
    {"chdir", 'D', Arg::kRequired, SetChdir, "DIR", "working directory of the job"},
    {"export", 0, Arg::kRequired, SetExport, "ALL|NONE|[ALL,]VAR[=VAL],...", "environment passed to the job"},
    {"wrap", 0, Arg::kRequired, SetWrap, "COMMAND", "run COMMAND in a generated sh script"},
    // sbatch's own behaviour.
    {"parsable", 0, Arg::kNone, SetSbatchFlag<&SbatchFlags::parsable>, "", "print only the job id"},
    {"wait", 'W', Arg::kNone, SetSbatchFlag<&SbatchFlags::wait>, "", "wait for the job to end; exit with its code"},
    {"test-only", 0, Arg::kNone, SetSbatchFlag<&SbatchFlags::test_only>, "", "validate and estimate; submit nothing"},
    {"json", 0, Arg::kNone, SetSbatchFlag<&SbatchFlags::json>, "", "with --test-only, print the job as JSON"},
    {"quiet", 'Q', Arg::kNone, SetSbatchFlag<&SbatchFlags::quiet>, "", "no informational messages"},
    {"verbose", 'v', Arg::kNone, NoOp, "", "accepted; gm has no extra output"},
    {"ignore-pbs", 0, Arg::kNone, NoOp, "", "accepted; GridMint never reads #PBS lines"},
    {"help", 'h', Arg::kNone, SetSbatchFlag<&SbatchFlags::help>, "", "show this help"},
    {"usage", 'u', Arg::kNone, SetSbatchFlag<&SbatchFlags::usage>, "", "show a short usage message"},
    {"version", 'V', Arg::kNone, SetSbatchFlag<&SbatchFlags::version>, "", "show the version"},
    // GridMint's own.
    {"gm-max-price", 0, Arg::kRequired, SetMaxPrice, "TOKENS", "highest price per GPU-hour (up to 6 decimals)"},
    {"gm-min-trust", 0, Arg::kRequired, SetMinTrust, "1-4", "lowest provider trust level"},
    {"gm-region", 0, Arg::kRequired, SetString<&JobSpec::gm_region>, "REGION", "run only in REGION"},
    {"gm-verify", 0, Arg::kNone, SetSpecFlag<&JobSpec::gm_verify>, "", "verify the result on a second provider"},
    {"gm-stage-in", 0, Arg::kRequired, SetStageIn, "PATH[,PATH...]", "send these files or directories with the job (repeatable)"},
    {"gm-stage-out", 0, Arg::kRequired, SetStageOut, "PATH", "bring PATH back after the job (repeatable)"},
    // Accepted and ignored, each with its reason.
    {"mail-type", 0, Arg::kRequired, nullptr, "TYPES", "GridMint sends no mail"},
    {"mail-user", 0, Arg::kRequired, nullptr, "USER", "GridMint sends no mail"},
    {"reservation", 0, Arg::kRequired, nullptr, "NAME", "GridMint has no reservations"},
    {"licenses", 'L', Arg::kRequired, nullptr, "LIST", "GridMint tracks no licenses"},
    {"comment", 0, Arg::kRequired, nullptr, "TEXT", "GridMint keeps no job comments"},
    {"nodelist", 'w', Arg::kRequired, nullptr, "HOSTS", kPlacement},
    {"exclude", 'x', Arg::kRequired, nullptr, "HOSTS", kPlacement},
    {"nodefile", 'F', Arg::kRequired, nullptr, "FILE", kPlacement},
    {"contiguous", 0, Arg::kNone, nullptr, "", kPlacement},
    {"switches", 0, Arg::kRequired, nullptr, "N[@TIME]", kPlacement},
    {"spread-job", 0, Arg::kNone, nullptr, "", kPlacement},
    {"use-min-nodes", 0, Arg::kNone, nullptr, "", kPlacement},
    {"distribution", 'm', Arg::kRequired, nullptr, "TYPE", kLayout},
    {"mincpus", 0, Arg::kRequired, nullptr, "N", kLayout},
    {"tmp", 0, Arg::kRequired, nullptr, "SIZE", "GridMint does not reserve local disk"},
    {"threads-per-core", 0, Arg::kRequired, nullptr, "N", kLayout},
    {"cores-per-socket", 0, Arg::kRequired, nullptr, "N", kLayout},
    {"sockets-per-node", 0, Arg::kRequired, nullptr, "N", kLayout},
    {"extra-node-info", 'B', Arg::kRequired, nullptr, "S[:C[:T]]", kLayout},
    {"ntasks-per-core", 0, Arg::kRequired, nullptr, "N", kLayout},
    {"ntasks-per-socket", 0, Arg::kRequired, nullptr, "N", kLayout},
    {"ntasks-per-gpu", 0, Arg::kRequired, nullptr, "N", kLayout},
    {"cpus-per-gpu", 0, Arg::kRequired, nullptr, "N", kLayout},
    {"gpus-per-socket", 0, Arg::kRequired, nullptr, "N", kLayout},
    {"gpu-bind", 0, Arg::kRequired, nullptr, "TYPE", kLayout},
    {"gpu-freq", 0, Arg::kRequired, nullptr, "SPEC", kLayout},
    {"hint", 0, Arg::kRequired, nullptr, "TYPE", kLayout},
    {"mem-bind", 0, Arg::kRequired, nullptr, "TYPE", kLayout},
    {"cpu-freq", 0, Arg::kRequired, nullptr, "SPEC", kLayout},
    {"core-spec", 'S', Arg::kRequired, nullptr, "N", kLayout},
    {"thread-spec", 0, Arg::kRequired, nullptr, "N", kLayout},
    {"overcommit", 'O', Arg::kNone, nullptr, "", kLayout},
    {"oversubscribe", 's', Arg::kNone, nullptr, "", "GridMint never shares a job's GPUs"},
    {"gres-flags", 0, Arg::kRequired, nullptr, "FLAGS", kLayout},
    {"network", 0, Arg::kRequired, nullptr, "SPEC", kSiteOnly},
    {"power", 0, Arg::kRequired, nullptr, "FLAGS", kSiteOnly},
    {"clusters", 'M', Arg::kRequired, nullptr, "NAMES", "GridMint is one federation, not several clusters"},
    {"cluster-constraint", 0, Arg::kRequired, nullptr, "LIST", "GridMint is one federation, not several clusters"},
    {"container", 0, Arg::kRequired, nullptr, "PATH", kSiteOnly},
    {"bb", 0, Arg::kRequired, nullptr, "SPEC", kSiteOnly},
    {"bbf", 0, Arg::kRequired, nullptr, "FILE", kSiteOnly},
    {"batch", 0, Arg::kRequired, nullptr, "FEATURES", kSiteOnly},
    {"mcs-label", 0, Arg::kRequired, nullptr, "LABEL", kSiteOnly},
    {"delay-boot", 0, Arg::kRequired, nullptr, "MINUTES", "GridMint never reboots providers' nodes"},
    {"reboot", 0, Arg::kNone, nullptr, "", "GridMint never reboots providers' nodes"},
    {"uid", 0, Arg::kRequired, nullptr, "USER", kIdentity},
    {"gid", 0, Arg::kRequired, nullptr, "GROUP", kIdentity},
    {"get-user-env", 0, Arg::kOptional, nullptr, "TIMEOUT", kIdentity},
    {"propagate", 0, Arg::kOptional, nullptr, "RLIMITS", kIdentity},
    {"export-file", 0, Arg::kRequired, nullptr, "FILE", "use --export; GridMint reads no files on your behalf"},
    {"input", 'i', Arg::kRequired, nullptr, "PATTERN", "a batch job's standard input is /dev/null"},
    {"open-mode", 0, Arg::kRequired, nullptr, "append|truncate", "output files are always created afresh"},
    {"no-kill", 'k', Arg::kOptional, nullptr, "off", "a job whose node fails is requeued or ends"},
    {"kill-on-invalid-dep", 0, Arg::kRequired, nullptr, "yes|no",
     "a job with a dependency that can never be met is always cancelled"},
    {"profile", 0, Arg::kRequired, nullptr, "TYPES", kAccounting},
    {"acctg-freq", 0, Arg::kRequired, nullptr, "SPEC", kAccounting},
    {"wckey", 0, Arg::kRequired, nullptr, "KEY", kAccounting},
    {"priority", 0, Arg::kRequired, nullptr, "N", "priority comes from the market; use --nice"},
    {"time-min", 0, Arg::kRequired, nullptr, "TIME", "GridMint does not shrink time limits"},
    {"deadline", 0, Arg::kRequired, nullptr, "TIME", "GridMint does not schedule by deadline"},
    {"wait-all-nodes", 0, Arg::kRequired, nullptr, "0|1", "a job starts once all its nodes are ready"},
};

const OptionDef* FindExact(const std::string& name) {
  for (const auto& d : kOptions)
    if (name == d.name) return &d;
  return nullptr;
}

const OptionDef* FindShort(char c) {
  for (const auto& d : kOptions)
    if (d.short_name == c) return &d;
  return nullptr;
}

bool StopsParsing(const OptionDef* d) {
  return d->handler != nullptr && (std::string(d->name) == "help" || std::string(d->name) == "usage" ||
                                   std::string(d->name) == "version");
}

Status Apply(State& st, const OptionDef& def, const Value& v) {
  st.set_by[def.name] = st.source;
  if (def.handler) return def.handler(st, v);
  AddNote(st, std::string("--") + def.name + " is accepted and ignored: " + def.help);
  return Status::OK();
}

// ---------------------------------------------------------------------------
// getopt_long, as sbatch uses it ("+" mode: options end at the first operand)
// ---------------------------------------------------------------------------

struct Token {
  std::string text;
  int line = 0;  // script line; 0 on the command line
};

struct ParsedOption {
  const OptionDef* def;
  Value value;
  int line;
};

struct ParsedArgs {
  std::vector<ParsedOption> options;
  std::vector<Token> operands;  // the script and its arguments
};

// Prefixes messages with where a token came from ("job.sh:3: ").
using Where = std::function<std::string(int line)>;

// An exact name, or a prefix of exactly one name, as getopt_long allows.
Result<const OptionDef*> FindLong(const std::string& name, const std::string& token, const std::string& where) {
  if (const OptionDef* d = FindExact(name)) return d;
  std::vector<const OptionDef*> matches;
  for (const auto& d : kOptions)
    if (std::string(d.name).rfind(name, 0) == 0) matches.push_back(&d);
  if (matches.size() == 1) return matches[0];
  if (matches.empty()) return Status::InvalidArgument(where + "unrecognized option '" + token + "'");
  std::string m = where + "option '--" + name + "' is ambiguous; possibilities:";
  for (const auto* d : matches) m += std::string(" '--") + d->name + "'";
  return Status::InvalidArgument(m);
}

Status LongOption(const std::vector<Token>& tokens, size_t& i, const Where& where, ParsedArgs& out) {
  const Token& t = tokens[i++];
  size_t eq = t.text.find('=');
  std::string name = t.text.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
  if (name.empty()) return Status::InvalidArgument(where(t.line) + "unrecognized option '" + t.text + "'");
  GM_ASSIGN_OR_RETURN(const OptionDef* d, FindLong(name, t.text, where(t.line)));
  Value value;
  if (eq != std::string::npos) value = t.text.substr(eq + 1);
  if (d->arg == Arg::kNone && value)
    return Status::InvalidArgument(where(t.line) + "option '--" + d->name + "' doesn't allow an argument");
  if (d->arg == Arg::kRequired && !value) {
    if (i >= tokens.size())
      return Status::InvalidArgument(where(t.line) + "option '--" + d->name + "' requires an argument");
    value = tokens[i++].text;
  }
  out.options.push_back(ParsedOption{d, value, t.line});
  return Status::OK();
}

// "-n4", "-n 4", and flags bundled as "-HQ".
Status ShortOptions(const std::vector<Token>& tokens, size_t& i, const Where& where, ParsedArgs& out) {
  const Token& t = tokens[i++];
  for (size_t k = 1; k < t.text.size(); ++k) {
    const OptionDef* d = FindShort(t.text[k]);
    if (d == nullptr)
      return Status::InvalidArgument(where(t.line) + "invalid option -- '" + t.text[k] + "'");
    Value value;
    std::string rest = t.text.substr(k + 1);
    if (d->arg == Arg::kNone) {
      out.options.push_back(ParsedOption{d, value, t.line});
      continue;
    }
    if (!rest.empty()) {
      value = rest;
    } else if (d->arg == Arg::kRequired) {
      if (i >= tokens.size())
        return Status::InvalidArgument(where(t.line) + "option requires an argument -- '" + t.text[k] + "'");
      value = tokens[i++].text;
    }
    out.options.push_back(ParsedOption{d, value, t.line});
    break;
  }
  return Status::OK();
}

// Stops after --help, --usage or --version: sbatch acts on them at once.
Result<ParsedArgs> Getopt(const std::vector<Token>& tokens, const Where& where) {
  ParsedArgs out;
  size_t i = 0;
  while (i < tokens.size()) {
    const std::string& text = tokens[i].text;
    if (text == "--") {
      ++i;
      break;
    }
    if (text.size() < 2 || text[0] != '-') break;
    Status s = text[1] == '-' ? LongOption(tokens, i, where, out) : ShortOptions(tokens, i, where, out);
    if (!s.ok()) return s;
    if (!out.options.empty() && StopsParsing(out.options.back().def)) return out;
  }
  out.operands.assign(tokens.begin() + static_cast<std::ptrdiff_t>(i), tokens.end());
  return out;
}

// ---------------------------------------------------------------------------
// The script and its #SBATCH directives
// ---------------------------------------------------------------------------

// Splits one directive line as sbatch's get_argument does (measured against
// Slurm 22.05.8): whitespace separates, quotes group (and are removed), a
// backslash makes the next character literal, an unquoted '#' starts a
// comment. Two quirks are kept because scripts behave by them on a real
// Slurm: a backslash does not protect whitespace outside quotes (the token
// ends there and the backslash is dropped: "a\ b" is two words), and a token
// with no characters ("" or '') ends the line, so the rest of it is ignored.
// A token may not start with ':' (sbatch: "Unexpected `:`").
Status SplitDirective(const std::string& line, int lineno, const std::string& file, std::vector<Token>* out) {
  auto where = [&] { return file + ":" + std::to_string(lineno) + ": "; };
  size_t i = 0, n = line.size();
  while (true) {
    while (i < n && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i == n) return Status::OK();
    if (line[i] == ':') return Status::InvalidArgument(where() + "Unexpected `:` in [" + line + "]");
    std::string cur;
    bool escaped = false, copied = false;
    char quote = 0;
    for (; i < n && (quote || !std::isspace(static_cast<unsigned char>(line[i]))); ++i) {
      char c = line[i];
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
        continue;
      } else if (quote) {
        if (c == quote) {
          quote = 0;
          continue;
        }
      } else if (c == '"' || c == '\'') {
        quote = c;
        continue;
      } else if (c == '#') {
        i = n;  // the rest of the line is a comment
        break;
      }
      cur += c;
      copied = true;
    }
    if (quote) return Status::InvalidArgument(where() + "unmatched `" + quote + "`");
    if (!copied) return Status::OK();
    out->push_back(Token{cur, lineno});
  }
}

// Directives are read until the first line that is neither blank nor a
// comment. As in sbatch, a directive is any line that starts with the magic
// word, whatever follows it: "#SBATCH--time=5" is "--time=5", and
// "#SBATCHX -N2" yields the stray word "X" (an invalid directive). An
// indented "#SBATCH" is an ordinary comment. sbatch still honours the old
// "#SLURM" prefix, with a warning.
Result<std::vector<Token>> DirectiveTokens(const std::string& script, const std::string& file, bool* old_prefix) {
  std::vector<Token> tokens;
  std::vector<std::string> lines = Split(script, '\n');
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string& line = lines[n];
    size_t first = line.find_first_not_of(" \t\r\f\v");
    if (first == std::string::npos) continue;
    if (line[first] != '#') break;
    for (const std::string magic : {"#SBATCH", "#SLURM"}) {
      if (line.rfind(magic, 0) != 0) continue;
      if (magic == "#SLURM") *old_prefix = true;
      GM_RETURN_IF_ERROR(SplitDirective(line.substr(magic.size()), static_cast<int>(n + 1), file, &tokens));
      break;
    }
  }
  return tokens;
}

Status ApplyDirectives(State& st) {
  const JobSpec& s = st.req.spec;
  std::string file = s.script_name.empty() ? "stdin" : s.script_name;
  Where where = [&file](int line) { return file + ":" + std::to_string(line) + ": "; };
  bool old_prefix = false;
  GM_ASSIGN_OR_RETURN(std::vector<Token> tokens, DirectiveTokens(s.script, file, &old_prefix));
  if (old_prefix) AddNote(st, "Change from #SLURM to #SBATCH in your script and verify the options are valid in sbatch");
  GM_ASSIGN_OR_RETURN(ParsedArgs parsed, Getopt(tokens, where));
  if (!parsed.operands.empty())
    return Status::InvalidArgument(where(parsed.operands[0].line) + "invalid directive '" +
                                   parsed.operands[0].text + "'");
  st.source = Source::kScript;
  for (const auto& o : parsed.options) {
    Status status = Apply(st, *o.def, o.value);
    if (!status.ok()) return Status::InvalidArgument(where(o.line) + status.message());
  }
  return Status::OK();
}

// sbatch's checks on the script, with its messages.
Status CheckScript(const std::string& script) {
  if (script.empty()) return Status::InvalidArgument("Batch script is empty!");
  if (script.rfind("#!", 0) != 0)
    return Status::InvalidArgument(
        "This does not look like a batch script.  The first line must start with #! followed by the path "
        "to an interpreter.");
  if (script.find('\0') != std::string::npos)
    return Status::InvalidArgument(
        "The Slurm controller does not allow scripts that contain a NULL character '\\0'.");
  if (script.find("\r\n") != std::string::npos)
    return Status::InvalidArgument(
        "Batch script contains DOS line breaks (\\r\\n) instead of expected UNIX line breaks (\\n).");
  return Status::OK();
}

std::string BaseName(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

// Fills script, script_name, script_args and the default job name.
Status LoadScript(State& st, const ParsedArgs& cli) {
  JobSpec& s = st.req.spec;
  std::optional<std::string> wrap;
  for (const auto& o : cli.options)
    if (std::string(o.def->name) == "wrap") wrap = o.value;
  if (wrap) {
    if (!cli.operands.empty()) return Status::InvalidArgument("Script arguments not permitted with --wrap option");
    s.script = "#!/bin/sh\n# This script was created by sbatch --wrap.\n\n" + *wrap + "\n";
    s.job_name = "wrap";
  } else if (cli.operands.empty()) {
    s.script = st.in->stdin_script;
    s.job_name = "sbatch";
  } else {
    const std::string& path = cli.operands[0].text;
    if (!st.in->read_file) return Status::Internal("no read_file to read " + path);
    Result<std::string> text = st.in->read_file(path);
    if (!text.ok()) return text.status().Annotate("Unable to open file " + path);
    s.script = std::move(text).value();
    s.script_name = path;
    s.job_name = BaseName(path);
    for (size_t i = 1; i < cli.operands.size(); ++i) s.script_args.push_back(cli.operands[i].text);
  }
  GM_RETURN_IF_ERROR(CheckScript(s.script));
  return wrap ? Status::OK() : ApplyDirectives(st);
}

// ---------------------------------------------------------------------------
// SBATCH_* variables
// ---------------------------------------------------------------------------

struct EnvOption {
  const char* var;
  const char* option;
};

// The input variables sbatch(1) lists for 22.05, applied in this order.
constexpr EnvOption kEnvOptions[] = {
    {"SBATCH_ACCOUNT", "account"},         {"SBATCH_ACCTG_FREQ", "acctg-freq"},
    {"SBATCH_ARRAY_INX", "array"},         {"SBATCH_BATCH", "batch"},
    {"SBATCH_CLUSTERS", "clusters"},       {"SLURM_CLUSTERS", "clusters"},
    {"SBATCH_CONSTRAINT", "constraint"},   {"SBATCH_CONTAINER", "container"},
    {"SBATCH_CORE_SPEC", "core-spec"},     {"SBATCH_CPUS_PER_GPU", "cpus-per-gpu"},
    {"SBATCH_DEBUG", "verbose"},           {"SBATCH_DELAY_BOOT", "delay-boot"},
    {"SBATCH_DISTRIBUTION", "distribution"}, {"SBATCH_ERROR", "error"},
    {"SBATCH_EXCLUSIVE", "exclusive"},     {"SBATCH_EXPORT", "export"},
    {"SBATCH_GET_USER_ENV", "get-user-env"}, {"SBATCH_GPU_BIND", "gpu-bind"},
    {"SBATCH_GPU_FREQ", "gpu-freq"},       {"SBATCH_GPUS", "gpus"},
    {"SBATCH_GPUS_PER_NODE", "gpus-per-node"}, {"SBATCH_GPUS_PER_TASK", "gpus-per-task"},
    {"SBATCH_GRES", "gres"},               {"SBATCH_GRES_FLAGS", "gres-flags"},
    {"SBATCH_HINT", "hint"},               {"SLURM_HINT", "hint"},
    {"SBATCH_IGNORE_PBS", "ignore-pbs"},   {"SBATCH_INPUT", "input"},
    {"SBATCH_JOB_NAME", "job-name"},       {"SBATCH_MEM_BIND", "mem-bind"},
    {"SBATCH_MEM_PER_CPU", "mem-per-cpu"}, {"SBATCH_MEM_PER_GPU", "mem-per-gpu"},
    {"SBATCH_MEM_PER_NODE", "mem"},        {"SBATCH_NETWORK", "network"},
    {"SBATCH_NO_KILL", "no-kill"},         {"SBATCH_NO_REQUEUE", "no-requeue"},
    {"SBATCH_OPEN_MODE", "open-mode"},     {"SBATCH_OUTPUT", "output"},
    {"SBATCH_OVERCOMMIT", "overcommit"},   {"SBATCH_PARTITION", "partition"},
    {"SBATCH_POWER", "power"},             {"SBATCH_PROFILE", "profile"},
    {"SBATCH_QOS", "qos"},                 {"SBATCH_REQ_SWITCH", "switches"},
    {"SBATCH_REQUEUE", "requeue"},         {"SBATCH_RESERVATION", "reservation"},
    {"SBATCH_SIGNAL", "signal"},           {"SBATCH_SPREAD_JOB", "spread-job"},
    {"SBATCH_THREAD_SPEC", "thread-spec"}, {"SBATCH_TIMELIMIT", "time"},
    {"SBATCH_USE_MIN_NODES", "use-min-nodes"}, {"SBATCH_WAIT", "wait"},
    {"SBATCH_WAIT_ALL_NODES", "wait-all-nodes"}, {"SBATCH_WCKEY", "wckey"},
};

// A flag variable counts by being set. An empty value is a value, as in
// sbatch (measured on 22.05.8): `SBATCH_TIMELIMIT=` or `SBATCH_PARTITION=`
// make sbatch fail, `SBATCH_ACCOUNT=` gives an empty account. Empty
// SBATCH_ARRAY_INX, SBATCH_OUTPUT and SBATCH_ERROR leave the defaults, which
// is what they amount to in sbatch.
Status ApplyEnvironment(State& st) {
  static const std::set<std::string> kEmptyIsUnset = {"array", "output", "error", "input"};
  st.source = Source::kEnv;
  for (const auto& e : kEnvOptions) {
    auto it = st.in->env.find(e.var);
    if (it == st.in->env.end()) continue;
    const OptionDef* def = FindExact(e.option);
    Value value;
    if (def->arg == Arg::kRequired || (def->arg == Arg::kOptional && !it->second.empty())) value = it->second;
    if (value && value->empty() && kEmptyIsUnset.count(e.option)) continue;
    GM_RETURN_IF_ERROR(Apply(st, *def, value).Annotate(e.var));
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------
// After all sources
// ---------------------------------------------------------------------------

// As Slurm: two memory options given in the script or on the command line
// conflict; one given there overrides the others' SBATCH_* variables.
Status ResolveMemory(State& st) {
  static const char* kMemOptions[] = {"mem", "mem-per-cpu", "mem-per-gpu"};
  int direct = 0, from_env = 0;
  for (const char* name : kMemOptions) {
    auto it = st.set_by.find(name);
    if (it == st.set_by.end()) continue;
    (it->second == Source::kEnv ? from_env : direct)++;
  }
  if (direct > 1) return Status::InvalidArgument("--mem, --mem-per-cpu, and --mem-per-gpu are mutually exclusive.");
  if (direct == 0 && from_env > 1)
    return Status::InvalidArgument(
        "SBATCH_MEM_PER_CPU, SBATCH_MEM_PER_GPU, and SBATCH_MEM_PER_NODE are mutually exclusive.");
  if (direct == 1) {
    auto from_env_only = [&](const char* name) {
      auto it = st.set_by.find(name);
      return it != st.set_by.end() && it->second == Source::kEnv;
    };
    if (from_env_only("mem")) st.req.spec.mem_per_node_mb.reset();
    if (from_env_only("mem-per-cpu")) st.req.spec.mem_per_cpu_mb.reset();
  }
  return Status::OK();
}

// --export: everything, nothing, or the named variables (values from the
// caller's environment unless given), optionally on top of everything.
std::map<std::string, std::string> ExportedEnvironment(const std::string& spec,
                                                       const std::map<std::string, std::string>& env) {
  std::map<std::string, std::string> out;
  std::vector<std::string> items = Split(spec, ',');
  if (Lower(items[0]) == "all") out = env;
  for (const auto& item : items) {
    size_t eq = item.find('=');
    std::string name = item.substr(0, eq);
    if (Lower(name) == "all" || Lower(name) == "none") continue;
    if (eq != std::string::npos) {
      out[name] = item.substr(eq + 1);
    } else if (auto it = env.find(name); it != env.end()) {
      out[name] = it->second;
    }
  }
  return out;
}

// slurmctld's checks across the GPU options (measured on 22.05.8), and the
// node and task counts it derives from them: --gpus=4 --gpus-per-node=2 is
// two nodes, --gpus=4 --gpus-per-task=2 two tasks.
Status ResolveGpus(State& st) {
  JobSpec& s = st.req.spec;
  std::set<std::string> types;
  for (const auto& [opt, type] : st.gpu_type_by_option) types.insert(type);
  if (types.size() > 1 && types.count(""))
    return Status::InvalidArgument("Invalid GRES specification (with and without type identification)");
  if (types.size() > 1) return Status::InvalidArgument("GridMint takes one GPU type per job");
  // A total of zero asks for no GPUs: slurmctld derives nothing from it.
  if (s.gpus_total && *s.gpus_total > 0 && s.gpus_per_node && *s.gpus_per_node > 0) {
    if (*s.gpus_total % *s.gpus_per_node != 0)
      return Status::InvalidArgument(
          "Failed to validate job spec, --gpus is not multiple of --gres=gpu/--gpus-per-node");
    int need = *s.gpus_total / *s.gpus_per_node;
    if (st.set_by.count("nodes") && (need < s.nodes_min || need > s.nodes_max))
      return Status::InvalidArgument(
          "Failed to validate job spec. Based on --gpu and --gres=gpu/--gpus-per-node required nodes (" +
          std::to_string(need) + ") doesn't fall between min_nodes (" + std::to_string(s.nodes_min) +
          ") and max_nodes (" + std::to_string(s.nodes_max) + ") boundaries.");
    s.nodes_min = s.nodes_max = need;
  }
  if (s.gpus_total && *s.gpus_total > 0 && s.gpus_per_task && *s.gpus_per_task > 0 && !s.ntasks) {
    if (*s.gpus_total % *s.gpus_per_task != 0)
      return Status::InvalidArgument("Failed to validate job spec, --gpus is not multiple of --gpus-per-task");
    s.ntasks = *s.gpus_total / *s.gpus_per_task;
  }
  return Status::OK();
}

std::string LocalHostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

Status Finish(State& st) {
  JobSpec& s = st.req.spec;
  GM_RETURN_IF_ERROR(ResolveMemory(st));
  if (st.req.flags.json && !st.req.flags.test_only)
    return Status::InvalidArgument("--json is only valid with --test-only");
  // With both -N and -n, sbatch (_opt_verify) caps the node range at the
  // task count rather than refuse more nodes than tasks.
  if (s.ntasks && st.set_by.count("nodes")) {
    if (*s.ntasks < s.nodes_max) s.nodes_max = *s.ntasks;
    if (*s.ntasks < s.nodes_min) {
      AddNote(st, "can't run " + std::to_string(*s.ntasks) + " processes on " + std::to_string(s.nodes_min) +
                      " nodes, setting nnodes to " + std::to_string(*s.ntasks));
      s.nodes_min = s.nodes_max = *s.ntasks;
    }
  }
  GM_RETURN_IF_ERROR(ResolveGpus(st));
  const auto& env = st.in->env;
  s.submit_dir = st.in->cwd;
  auto user = env.find("USER");
  s.submit_user = user != env.end() && !user->second.empty() ? user->second : "root";
  auto host = env.find("HOSTNAME");
  s.submit_host = host != env.end() && !host->second.empty() ? host->second : LocalHostName();
  s.environment = ExportedEnvironment(s.export_env, env);
  return Status::OK();
}

}  // namespace

Result<SbatchRequest> ParseSbatch(const SbatchInput& in) {
  State st;
  st.in = &in;
  std::vector<Token> argv;
  for (const auto& a : in.argv) argv.push_back(Token{a, 0});
  GM_ASSIGN_OR_RETURN(ParsedArgs cli, Getopt(argv, [](int) { return std::string(); }));
  st.source = Source::kCli;
  if (!cli.options.empty() && StopsParsing(cli.options.back().def)) {
    // Like sbatch's first pass: only the option that ends parsing takes effect.
    GM_RETURN_IF_ERROR(Apply(st, *cli.options.back().def, std::nullopt));
    return std::move(st.req);
  }
  GM_RETURN_IF_ERROR(LoadScript(st, cli));
  GM_RETURN_IF_ERROR(ApplyEnvironment(st));
  st.source = Source::kCli;
  for (const auto& o : cli.options) GM_RETURN_IF_ERROR(Apply(st, *o.def, o.value));
  GM_RETURN_IF_ERROR(Finish(st));
  return std::move(st.req);
}

std::string SbatchUsage() {
  std::string out = "Usage: sbatch [OPTIONS...] script [args...]\n       sbatch [OPTIONS...] --wrap=COMMAND\n\n";
  for (const auto& d : kOptions) {
    std::string left = d.short_name ? std::string("  -") + d.short_name + ", " : std::string("      ");
    left += std::string("--") + d.name;
    if (d.arg == Arg::kRequired) left += std::string("=") + d.meta;
    if (d.arg == Arg::kOptional) left += std::string("[=") + d.meta + "]";
    if (left.size() < 40) left.append(40 - left.size(), ' ');
    std::string help = d.handler ? d.help : std::string("accepted and ignored: ") + d.help;
    out += left + " " + help + "\n";
  }
  return out;
}

}  // namespace gm
