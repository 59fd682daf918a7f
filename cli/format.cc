// Rendering of squeue, sinfo and sacct output, and the selections behind
// them, from the controller's JSON. Pure: time and time zone are arguments.
#include "cli/format.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <iomanip>
#include <limits>
#include <map>

#include "common/hostlist.h"
#include "common/money.h"
#include "common/output_pattern.h"
#include "common/slurm_time.h"

namespace gm::cli {

namespace {

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int64_t I64(const json& j, const char* key, int64_t dflt = 0) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return dflt;
  return it->is_number_float() ? static_cast<int64_t>(std::llround(it->get<double>())) : it->get<int64_t>();
}

std::string Str(const json& j, const char* key, const std::string& dflt = "") {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : dflt;
}

// The job's spec when the controller sent it (GET /jobs/ID does), else null.
const json& Spec(const json& j) {
  static const json kNull;
  auto it = j.find("spec");
  return it != j.end() && it->is_object() ? *it : kNull;
}

bool IsDigits(const std::string& s) {
  return !s.empty() && s.size() <= 18 &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

bool IsArrayTask(const json& j) { return I64(j, "array_job_id") > 0 && I64(j, "array_task_id", -1) >= 0; }


std::vector<std::string> NodeNames(const json& j) {
  std::vector<std::string> out;
  auto it = j.find("node_names");
  if (it != j.end() && it->is_array())
    for (const auto& n : *it)
      if (n.is_string()) out.push_back(n.get<std::string>());
  return out;
}

std::string NodeList(const json& j) { return JobNodeList(j); }

bool IsTerminal(const std::string& state) {
  return state != "PENDING" && state != "RUNNING" && state != "COMPLETING" && state != "SUSPENDED" &&
         state != "CONFIGURING";
}

int64_t ElapsedS(const json& j, int64_t now_ms) { return JobElapsedS(j, now_ms); }

// Slurm's secs2time_str, as sacct prints Elapsed: [D-]HH:MM:SS.
std::string ClockTime(int64_t s) {
  char buf[48];
  if (s >= 86400)
    std::snprintf(buf, sizeof buf, "%lld-%02lld:%02lld:%02lld", static_cast<long long>(s / 86400),
                  static_cast<long long>(s / 3600 % 24), static_cast<long long>(s / 60 % 60),
                  static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

// Slurm prints memory with the largest unit that divides it: 2G, 500M, 0.
std::string MemoryText(int64_t mb) {
  if (mb == 0) return "0";
  if (mb % (1024 * 1024) == 0) return std::to_string(mb / (1024 * 1024)) + "T";
  if (mb % 1024 == 0) return std::to_string(mb / 1024) + "G";
  return std::to_string(mb) + "M";
}

const std::vector<std::pair<std::string, std::string>>& JobStates() {
  static const std::vector<std::pair<std::string, std::string>> k = {
      {"PENDING", "PD"},    {"RUNNING", "R"},        {"SUSPENDED", "S"},     {"COMPLETED", "CD"},
      {"CANCELLED", "CA"},  {"FAILED", "F"},         {"TIMEOUT", "TO"},      {"NODE_FAIL", "NF"},
      {"PREEMPTED", "PR"},  {"BOOT_FAIL", "BF"},     {"DEADLINE", "DL"},     {"OUT_OF_MEMORY", "OOM"},
      {"COMPLETING", "CG"}, {"CONFIGURING", "CF"},   {"RESIZING", "RS"},     {"RESV_DEL_HOLD", "RD"},
      {"REQUEUED", "RQ"},   {"REQUEUE_FED", "RF"},   {"REQUEUE_HOLD", "RH"}, {"REVOKED", "RV"},
      {"SIGNALING", "SI"},  {"SPECIAL_EXIT", "SE"},  {"STAGE_OUT", "SO"},    {"STOPPED", "ST"}};
  return k;
}

bool StateMatches(const std::set<std::string>& wanted, const json& j) {
  if (wanted.count("ALL")) return true;
  return wanted.count(Str(j, "state")) || wanted.count(Str(j, "state_code"));
}

// "123" matches job 123 and every task of array 123; "123_4" one task.
bool JobIdMatches(const std::string& id, const json& j) {
  size_t us = id.find('_');
  if (us == std::string::npos) {
    std::string own = std::to_string(I64(j, "id"));
    return own == id || (IsArrayTask(j) && std::to_string(I64(j, "array_job_id")) == id);
  }
  if (!IsArrayTask(j) || std::to_string(I64(j, "array_job_id")) != id.substr(0, us)) return false;
  std::string task = id.substr(us + 1);
  int64_t t = I64(j, "array_task_id");
  if (task.size() > 2 && task.front() == '[' && task.back() == ']') {
    auto ids = ExpandHostlist("x[" + task.substr(1, task.size() - 2) + "]");
    if (!ids.ok()) return false;
    for (const auto& h : *ids)
      if (std::stoll(h.substr(1)) == t) return true;
    return false;
  }
  return task == std::to_string(t);
}

bool AnyJobIdMatches(const std::vector<std::string>& ids, const json& j) {
  return std::any_of(ids.begin(), ids.end(), [&](const std::string& id) { return JobIdMatches(id, j); });
}

// ---- format strings -------------------------------------------------------------

// One piece of an -o format: literal text, or a %[.][width]letter field.
struct FormatItem {
  std::string literal;
  char letter = 0;
  int width = 0;
  bool right = false;
  std::string suffix;  // -O's text after the width
  std::string name;    // -O's field name
};

FormatItem Literal(const std::string& text) {
  FormatItem f;
  f.literal = text;
  return f;
}

std::vector<FormatItem> ParsePercentFormat(const std::string& fmt) {
  std::vector<FormatItem> items;
  std::string text;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%' || i + 1 >= fmt.size()) {
      text += fmt[i];
      continue;
    }
    ++i;
    FormatItem f;
    if (fmt[i] == '.') {
      f.right = true;
      ++i;
    }
    while (i < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[i])) && f.width < 100000)
      f.width = f.width * 10 + (fmt[i++] - '0');
    if (i >= fmt.size()) break;
    if (!text.empty()) items.push_back(Literal(text));
    text.clear();
    f.letter = fmt[i];
    items.push_back(f);
  }
  if (!text.empty()) items.push_back(Literal(text));
  return items;
}

// -O's "name[:[.][size][suffix]]" list; a size left out is 20, as squeue's.
std::vector<FormatItem> ParseLongFormat(const std::string& fmt) {
  std::vector<FormatItem> items;
  size_t start = 0;
  while (start <= fmt.size()) {
    size_t comma = std::min(fmt.find(',', start), fmt.size());
    std::string spec = fmt.substr(start, comma - start);
    start = comma + 1;
    if (spec.empty()) continue;
    FormatItem f;
    f.width = 20;
    size_t colon = spec.find(':');
    f.name = spec.substr(0, colon);
    if (colon != std::string::npos) {
      size_t i = colon + 1;
      if (i < spec.size() && spec[i] == '.') {
        f.right = true;
        ++i;
      }
      if (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) {
        f.width = 0;
        while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i])) && f.width < 100000)
          f.width = f.width * 10 + (spec[i++] - '0');
      }
      f.suffix = spec.substr(i);
    }
    items.push_back(f);
  }
  return items;
}

// ---- squeue fields ----------------------------------------------------------------

struct SqueueField {
  char letter;
  const char* header;
  const char* long_name;  // -O name, lower case
};

// Headers as squeue 22.05 prints them (measured).
const std::vector<SqueueField>& SqueueFields() {
  static const std::vector<SqueueField> k = {
      {'i', "JOBID", "jobarrayid"},        {'A', "JOBID", "jobid"},
      {'F', "ARRAY_JOB_ID", "arrayjobid"}, {'K', "ARRAY_TASK_ID", "arraytaskid"},
      {'a', "ACCOUNT", "account"},         {'j', "NAME", "name"},
      {'u', "USER", "username"},           {'P', "PARTITION", "partition"},
      {'t', "ST", "statecompact"},         {'T', "STATE", "state"},
      {'M', "TIME", "timeused"},           {'l', "TIME_LIMIT", "timelimit"},
      {'L', "TIME_LEFT", "timeleft"},      {'D', "NODES", "numnodes"},
      {'C', "CPUS", "numcpus"},            {'b', "TRES_PER_NODE", "tres-per-node"},
      {'N', "NODELIST", "nodelist"},       {'r', "REASON", "reason"},
      {'R', "NODELIST(REASON)", "reasonlist"}, {'V', "SUBMIT_TIME", "submittime"},
      {'S', "START_TIME", "starttime"},    {'e', "END_TIME", "endtime"},
      {'Q', "PRIORITY", "prioritylong"},   {'p', "PRIORITY", "priority"},
      {'q', "QOS", "qos"},                 {'y', "NICE", "nice"},
      {'Z', "WORK_DIR", "workdir"},        {'E', "DEPENDENCY", "dependency"},
      {'f', "FEATURES", "feature"},        {'m', "MIN_MEMORY", "minmemory"},
      {'c', "MIN_CPUS", "mincpus"},        {'h', "OVER_SUBSCRIBE", "oversubscribe"},
      {'o', "COMMAND", "command"},         {'Y', "SCHEDNODES", "schednodes"},
      {'B', "EXEC_HOST", "batchhost"},     {'n', "REQ_NODES", "reqnodes"},
      {'x', "EXC_NODES", "excnodes"},      {'k', "COMMENT", "comment"},
      {'v', "RESERVATION", "reservation"}, {'w', "WCKEY", "wckey"},
      {'U', "UID", "userid"},              {'g', "GROUP", "groupname"},
      {'G', "GROUP", "groupid"},           {'O', "CONTIGUOUS", "contiguous"},
      {'z', "S:C:T", "sct"},               {'I', "CORES_PER_SOCKET", "corespersocket"},
      {'H', "SOCKETS_PER_NODE", "socketspernode"}, {'J', "THREADS_PER_CORE", "threadspercore"},
      {'X', "CORE_SPEC", "corespec"},      {'s', "", "selectjobinfo"}};
  return k;
}

const SqueueField* FindSqueueLetter(char c) {
  for (const auto& f : SqueueFields())
    if (f.letter == c) return &f;
  return nullptr;
}

bool FoldedArray(const json& j) { return j.contains("folded_tasks"); }

std::string TresPerNode(const json& j) {
  const json& spec = Spec(j);
  if (spec.is_object() && spec.contains("gpus_per_node") && spec["gpus_per_node"].is_number()) {
    std::string type = Str(spec, "gpu_type");
    return "gres:gpu:" + (type.empty() ? "" : type + ":") + std::to_string(spec["gpus_per_node"].get<int>());
  }
  if (spec.is_object()) return "N/A";
  auto nodes = NodeNames(j);
  int64_t gpus = I64(j, "gpus");
  if (gpus > 0 && !nodes.empty()) return "gres:gpu:" + std::to_string(gpus / static_cast<int64_t>(nodes.size()));
  return "N/A";
}

std::string SqueueCpus(const json& j) {
  if (I64(j, "cpus") > 0) return std::to_string(I64(j, "cpus"));
  const json& spec = Spec(j);
  if (!spec.is_object()) return "N/A";
  try {
    JobSpec s = spec.get<JobSpec>();
    return std::to_string(s.EffectiveNtasks() * s.cpus_per_task);
  } catch (const std::exception&) {
    return "N/A";
  }
}

std::string WorkDir(const json& j) {
  std::string chdir = Str(Spec(j), "chdir");
  return chdir.empty() ? Str(j, "submit_dir") : chdir;
}

std::string StdPath(const json& j, const char* which) {
  std::string pattern = Str(j, which);
  if (std::string(which) == "error" && pattern.empty()) pattern = Str(j, "output");
  bool array = IsArrayTask(j) || FoldedArray(j);
  if (pattern.empty()) pattern = DefaultOutputPattern(array);
  OutputPatternVars v;
  v.job_id = I64(j, "id");
  v.job_name = Str(j, "name");
  v.user = Str(j, "user");
  if (IsArrayTask(j) && !FoldedArray(j)) {
    v.array_job_id = I64(j, "array_job_id");
    v.array_task_id = I64(j, "array_task_id");
  }
  std::string path = ExpandOutputPattern(pattern, v);
  std::string dir = WorkDir(j);
  return path.empty() || path[0] == '/' || dir.empty() ? path : dir + "/" + path;
}

bool ShowsReason(const std::string& state) {
  static const std::set<std::string> k = {"PENDING", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "BOOT_FAIL",
                                          "DEADLINE"};
  return k.count(state) > 0;
}

std::string SqueueValue(char letter, const json& j, const SqueueView& v) {
  std::string state = Str(j, "state");
  const json& spec = Spec(j);
  int64_t limit_s = I64(j, "time_limit_s");
  auto date = [&](int64_t ms) { return ms > 0 ? SlurmDate(ms, v.tz_offset_s) : std::string("N/A"); };
  switch (letter) {
    case 'i':
      if (FoldedArray(j)) return std::to_string(I64(j, "array_job_id")) + "_[" + Str(j, "folded_tasks") + "]";
      return JobIdText(j);
    case 'A': return std::to_string(FoldedArray(j) ? I64(j, "array_job_id") : I64(j, "id"));
    case 'F': return std::to_string(IsArrayTask(j) ? I64(j, "array_job_id") : I64(j, "id"));
    case 'K':
      if (FoldedArray(j)) return Str(j, "folded_tasks");
      return IsArrayTask(j) ? std::to_string(I64(j, "array_task_id")) : "N/A";
    case 'a': return Str(j, "account", "(null)");
    case 'j': return Str(j, "name");
    case 'u': return Str(j, "user");
    case 'P': return Str(j, "partition");
    case 't': return Str(j, "state_code");
    case 'T': return state;
    case 'M': return FormatDuration(ElapsedS(j, v.now_ms));
    case 'l': return limit_s > 0 ? FormatDuration(limit_s) : "UNLIMITED";
    case 'L':
      return limit_s > 0 ? FormatDuration(std::max<int64_t>(0, limit_s - ElapsedS(j, v.now_ms))) : "UNLIMITED";
    case 'D': {
      auto nodes = NodeNames(j);
      return std::to_string(nodes.empty() ? I64(j, "nodes_min", 1) : static_cast<int64_t>(nodes.size()));
    }
    case 'C': return SqueueCpus(j);
    case 'b': return TresPerNode(j);
    case 'N': return NodeList(j);
    case 'r': return Str(j, "reason", "None");
    case 'R': return ShowsReason(state) ? "(" + Str(j, "reason", "None") + ")" : NodeList(j);
    case 'V': return date(I64(j, "submit_ms"));
    case 'S':
      if (I64(j, "start_ms") > 0) return date(I64(j, "start_ms"));
      return state == "PENDING" ? date(I64(j, "expected_start_ms")) : "N/A";
    case 'e':
      if (I64(j, "end_ms") > 0) return date(I64(j, "end_ms"));
      if (state == "RUNNING" && limit_s > 0 && I64(j, "start_ms") > 0)
        return date(I64(j, "start_ms") + limit_s * 1000);
      return "N/A";
    case 'Q': return std::to_string(I64(j, "priority"));
    case 'q': return Str(j, "qos", "(null)");
    case 'y': return std::to_string(I64(j, "nice"));
    case 'Z': return WorkDir(j);
    case 'E': return Str(spec, "dependency").empty() ? "(null)" : Str(spec, "dependency");
    case 'f': return Str(spec, "constraint").empty() ? "(null)" : Str(spec, "constraint");
    case 'm':
      if (spec.is_object() && spec.contains("mem_per_cpu_mb") && spec["mem_per_cpu_mb"].is_number())
        return MemoryText(spec["mem_per_cpu_mb"].get<int64_t>());
      if (spec.is_object() && spec.contains("mem_per_node_mb") && spec["mem_per_node_mb"].is_number())
        return MemoryText(spec["mem_per_node_mb"].get<int64_t>());
      return "0";
    case 'c': {
      if (!spec.is_object()) return "N/A";
      int64_t per_node = spec.contains("ntasks_per_node") && spec["ntasks_per_node"].is_number()
                             ? spec["ntasks_per_node"].get<int64_t>()
                             : 1;
      return std::to_string(I64(spec, "cpus_per_task", 1) * per_node);
    }
    case 'h': return spec.is_object() && spec.value("exclusive", false) ? "NO" : "OK";
    case 'o': {
      std::string name = Str(spec, "script_name");
      if (name.empty()) return "(null)";
      return name[0] == '/' ? name : Str(j, "submit_dir") + "/" + name;
    }
    case 'Y': {  // the nodes of the first waiting job's backfill reservation
      std::vector<std::string> names;
      if (j.contains("sched_nodes") && j["sched_nodes"].is_array())
        for (const auto& n : j["sched_nodes"])
          if (n.is_string()) names.push_back(n.get<std::string>());
      return names.empty() ? "(null)" : CompressHostlist(names);
    }
    case 'B': {
      auto nodes = NodeNames(j);
      return nodes.empty() ? "n/a" : nodes.front();
    }
    case 'n': case 'x': return "";
    case 'k': case 'v': case 'w': return "(null)";
    default: return "N/A";  // a Slurm field GridMint has no value for
  }
}

std::string SqueueLongValue(const std::string& name, const json* j, const SqueueView& v, bool* known) {
  std::string lower = Lower(name);
  *known = true;
  if (lower == "stdout" || lower == "stderr") return j ? StdPath(*j, lower == "stdout" ? "output" : "error") : Upper(lower);
  if (lower == "user") lower = "username";
  for (const auto& f : SqueueFields())
    if (lower == f.long_name) return j ? SqueueValue(f.letter, *j, v) : f.header;
  *known = false;
  return "";
}

// Pending tasks of one array share a line, "A_[1-3,7]", as in squeue.
json FoldArrays(const json& jobs) {
  std::map<int64_t, std::vector<size_t>> pending_by_array;
  for (size_t i = 0; i < jobs.size(); ++i)
    if (IsArrayTask(jobs[i]) && Str(jobs[i], "state") == "PENDING")
      pending_by_array[I64(jobs[i], "array_job_id")].push_back(i);
  std::set<size_t> skip;
  std::map<size_t, json> replace;
  for (const auto& [array, idx] : pending_by_array) {
    if (idx.size() < 2) continue;
    std::vector<int> tasks;
    size_t first = idx.front();
    for (size_t i : idx) {
      tasks.push_back(static_cast<int>(I64(jobs[i], "array_task_id")));
      if (I64(jobs[i], "array_task_id") < I64(jobs[first], "array_task_id")) first = i;
      skip.insert(i);
    }
    json folded = jobs[first];
    folded["folded_tasks"] = TaskRanges(tasks);
    replace[idx.front()] = folded;
  }
  json out = json::array();
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (replace.count(i)) out.push_back(replace[i]);
    else if (!skip.count(i)) out.push_back(jobs[i]);
  }
  return out;
}

void SortSqueue(std::vector<json>& jobs, bool by_start) {
  if (by_start) {
    auto key = [](const json& j) {
      int64_t s = I64(j, "expected_start_ms");
      return s > 0 ? s : std::numeric_limits<int64_t>::max();
    };
    std::stable_sort(jobs.begin(), jobs.end(), [&](const json& a, const json& b) {
      if (key(a) != key(b)) return key(a) < key(b);
      return I64(a, "id") < I64(b, "id");
    });
    return;
  }
  std::stable_sort(jobs.begin(), jobs.end(), [](const json& a, const json& b) {
    if (Str(a, "partition") != Str(b, "partition")) return Str(a, "partition") < Str(b, "partition");
    if (Str(a, "state_code") != Str(b, "state_code")) return Str(a, "state_code") < Str(b, "state_code");
    if (I64(a, "priority") != I64(b, "priority")) return I64(a, "priority") > I64(b, "priority");
    return I64(a, "id") < I64(b, "id");
  });
}

// ---- sinfo --------------------------------------------------------------------------

std::string LongNodeState(const std::string& compact) {
  static const std::map<std::string, std::string> k = {
      {"idle", "idle"},   {"mix", "mixed"},       {"alloc", "allocated"}, {"drain", "drained"},
      {"drng", "draining"}, {"down", "down"},     {"down*", "down*"},     {"pend", "pending"},
      {"rej", "rejected"},  {"ban", "banned"}};
  auto it = k.find(compact);
  return it == k.end() ? compact : it->second;
}

bool NodeUsable(const std::string& compact) {
  return compact == "idle" || compact == "mix" || compact == "alloc";
}

std::string NodeReason(const json& n) {
  std::string reason = Str(n, "drain_reason");
  if (!reason.empty()) return reason;
  if (!n.value("up", true)) return "Not responding";
  return "none";
}

// Values of one node's own fields (not the partition's, not aggregates).
std::string SinfoNodeValue(char letter, const json& n) {
  std::string state = Str(n, "state");
  switch (letter) {
    case 't': return state;
    case 'T': return LongNodeState(state);
    case 'c': return std::to_string(I64(n, "cpus"));
    case 'm': return std::to_string(I64(n, "mem_mb"));
    case 'G': {
      int64_t gpus = I64(n, "gpus");
      if (gpus <= 0) return "(null)";
      std::string model = Str(n, "gpu_model");
      return "gpu:" + (model.empty() ? "" : model + ":") + std::to_string(gpus);
    }
    case 'f': case 'b': {
      std::string out;
      if (n.contains("features") && n["features"].is_array())
        for (const auto& f : n["features"]) out += (out.empty() ? "" : ",") + f.get<std::string>();
      return out.empty() ? "(null)" : out;
    }
    case 'E': return NodeReason(n);
    // Who drained the node and when, as the controller recorded it ("drain_time"
    // is added by RenderSinfo in local time); drains made by the controller
    // itself (a failed check) carry neither.
    case 'H': return Str(n, "drain_time", "Unknown");
    case 'U': return NodeReason(n) == "none" ? "Unknown" : Str(n, "drain_user", "gmctld");
    case 'n': case 'N': return Str(n, "name");
    default: return "";
  }
}

const std::string kSinfoNodeLetters = "tTcmGfbEHUn";  // grouped by these
const std::string kSinfoKnownLetters = "PRalLDtTNcmGfbEHUCAFnoOeszSwhgX";  // Slurm's

struct SinfoGroup {
  const json* partition = nullptr;  // null for -R
  std::vector<const json*> nodes;
  std::string key;
};

std::string PartitionText(const json* p, int width) {
  if (!p) return "n/a";
  std::string name = Str(*p, "name");
  if (p->value("default", false)) {
    if (width == 0 || static_cast<int>(name.size()) < width) name += "*";
    else name[static_cast<size_t>(width) - 1] = '*';
  }
  return name;
}

std::string PartitionTime(const json* p, const char* key, const char* unset) {
  if (!p) return "n/a";
  int64_t s = I64(*p, key);
  return s > 0 ? FormatDuration(s) : unset;
}

std::string SinfoValue(const FormatItem& f, const SinfoGroup& g) {
  const json* first = g.nodes.empty() ? nullptr : g.nodes.front();
  int alloc = 0, idle = 0, other = 0, cpu_alloc = 0, cpu_idle = 0, cpu_other = 0, cpu_total = 0;
  for (const json* n : g.nodes) {
    std::string s = Str(*n, "state");
    int cpus = static_cast<int>(I64(*n, "cpus")), used = static_cast<int>(I64(*n, "cpus_used"));
    cpu_total += cpus;
    if (!NodeUsable(s)) {
      ++other;
      cpu_other += cpus;
    } else {
      (s == "idle" ? idle : alloc)++;
      cpu_alloc += used;
      cpu_idle += cpus - used;
    }
  }
  switch (f.letter) {
    case 'P': return PartitionText(g.partition, f.width);
    case 'R': return g.partition ? Str(*g.partition, "name") : "n/a";
    case 'a': return g.partition ? "up" : "n/a";
    case 'l': return PartitionTime(g.partition, "max_time_s", "infinite");
    case 'L': return PartitionTime(g.partition, "default_time_s", "n/a");
    case 'D': return std::to_string(g.nodes.size());
    case 'N': {
      std::vector<std::string> names;
      for (const json* n : g.nodes) names.push_back(Str(*n, "name"));
      return CompressHostlist(names);
    }
    case 'A': return std::to_string(alloc) + "/" + std::to_string(idle);
    case 'F':
      return std::to_string(alloc) + "/" + std::to_string(idle) + "/" + std::to_string(other) + "/" +
             std::to_string(g.nodes.size());
    case 'C':
      return std::to_string(cpu_alloc) + "/" + std::to_string(cpu_idle) + "/" + std::to_string(cpu_other) + "/" +
             std::to_string(cpu_total);
    case 't': case 'T':
      return first ? SinfoNodeValue(f.letter, *first) : "n/a";
    default:
      if (kSinfoNodeLetters.find(f.letter) != std::string::npos)
        return first ? SinfoNodeValue(f.letter, *first) : "n/a";
      return "N/A";
  }
}

std::string SinfoHeader(char letter) {
  static const std::map<char, std::string> k = {
      {'P', "PARTITION"}, {'R', "PARTITION"},  {'a', "AVAIL"},       {'l', "TIMELIMIT"},
      {'L', "DEFAULTTIME"}, {'D', "NODES"},    {'t', "STATE"},       {'T', "STATE"},
      {'N', "NODELIST"},  {'c', "CPUS"},       {'m', "MEMORY"},      {'G', "GRES"},
      {'f', "AVAIL_FEATURES"}, {'b', "ACTIVE_FEATURES"}, {'E', "REASON"}, {'H', "TIMESTAMP"},
      {'U', "USER"},      {'C', "CPUS(A/I/O/T)"}, {'A', "NODES(A/I)"}, {'F', "NODES(A/I/O/T)"},
      {'n', "HOSTNAMES"}, {'o', "NODE_ADDR"},  {'O', "CPU_LOAD"},    {'e', "FREE_MEM"},
      {'s', "JOB_SIZE"},  {'z', "S:C:T"},      {'S', "ALLOCNODES"},  {'w', "WEIGHT"},
      {'h', "OVERSUBSCRIBE"}, {'g', "GROUPS"}, {'X', "SOCKETS"}};
  auto it = k.find(letter);
  return it == k.end() ? std::string("%") + letter : it->second;
}

bool NodeInPartition(const json& n, const std::string& part) {
  if (!n.contains("partitions") || !n["partitions"].is_array()) return false;
  for (const auto& p : n["partitions"])
    if (p.is_string() && p.get<std::string>() == part) return true;
  return false;
}

bool NodeStateWanted(const json& n, const std::set<std::string>& states) {
  if (states.empty()) return true;
  std::string s = Str(n, "state");
  return states.count(s) || states.count(LongNodeState(s)) || states.count("all");
}

std::string RenderSinfoLine(const std::vector<FormatItem>& items, const SinfoGroup* g, int node_width) {
  std::string line;
  for (const auto& f : items) {
    if (!f.letter) {
      line += f.literal;
      continue;
    }
    int width = (f.letter == 'N' && node_width > 0) ? node_width : f.width;
    std::string value = g ? SinfoValue(f, *g) : SinfoHeader(f.letter);
    if (f.letter == 'P' && g) value = PartitionText(g->partition, width);
    line += SlurmColumn(value, width, f.right);
  }
  return line + "\n";
}

// ---- sacct -------------------------------------------------------------------------

struct SacctField {
  const char* name;
  int len;
  std::function<std::string(const json&, const SacctView&)> get;
};

std::string SacctTimelimit(const json& j) {
  int64_t s = I64(j, "time_limit_s");
  if (s <= 0) return "UNLIMITED";
  return ClockTime(s / 60 * 60);
}

std::string AllocTres(const json& j) {
  auto nodes = NodeNames(j);
  if (nodes.empty()) return "";
  std::string out = "cpu=" + std::to_string(I64(j, "cpus"));
  if (I64(j, "gpus") > 0) out += ",gres/gpu=" + std::to_string(I64(j, "gpus"));
  return out + ",node=" + std::to_string(nodes.size());
}

std::string Providers(const json& j) { return JobProviders(j); }

const std::vector<SacctField>& SacctFields() {
  using V = const SacctView&;
  static const std::vector<SacctField> k = {
      {"Account", 10, [](const json& j, V) { return Str(j, "account"); }},
      {"AllocCPUS", 10, [](const json& j, V) { return std::to_string(I64(j, "cpus")); }},
      {"AllocNodes", 10, [](const json& j, V) { return std::to_string(NodeNames(j).size()); }},
      {"AllocTRES", 10, [](const json& j, V) { return AllocTres(j); }},
      {"Burned", 14, [](const json& j, V) { return FormatTokens(I64(j, "burned")); }},
      {"Charged", 14, [](const json& j, V) { return FormatTokens(I64(j, "charged")); }},
      {"Constraints", 19, [](const json& j, V) { return Str(Spec(j), "constraint"); }},
      {"CPUTime", 10, [](const json& j, V v) { return ClockTime(ElapsedS(j, v.now_ms) * I64(j, "cpus")); }},
      {"CPUTimeRAW", 10,
       [](const json& j, V v) { return std::to_string(ElapsedS(j, v.now_ms) * I64(j, "cpus")); }},
      {"Elapsed", 10, [](const json& j, V v) { return ClockTime(ElapsedS(j, v.now_ms)); }},
      {"ElapsedRaw", 10, [](const json& j, V v) { return std::to_string(ElapsedS(j, v.now_ms)); }},
      {"End", 19, [](const json& j, V v) { return SlurmDate(I64(j, "end_ms"), v.tz_offset_s); }},
      {"ExitCode", 8, [](const json& j, V) { return JobExitCode(j); }},
      {"Fee", 14, [](const json& j, V) { return FormatTokens(I64(j, "fee")); }},
      {"JobID", -12, [](const json& j, V) { return JobIdText(j); }},
      {"JobIDRaw", -12, [](const json& j, V) { return std::to_string(I64(j, "id")); }},
      {"JobName", 10, [](const json& j, V) { return Str(j, "name"); }},
      {"NCPUS", 10, [](const json& j, V) { return std::to_string(I64(j, "cpus")); }},
      {"NNodes", 8,
       [](const json& j, V) {
         auto n = NodeNames(j);
         return std::to_string(n.empty() ? I64(j, "nodes_min", 1) : static_cast<int64_t>(n.size()));
       }},
      {"NodeList", 15,
       [](const json& j, V) {
         std::string n = NodeList(j);
         return n.empty() ? std::string("None assigned") : n;
       }},
      {"Partition", 10, [](const json& j, V) { return Str(j, "partition"); }},
      {"Priority", 10, [](const json& j, V) { return std::to_string(I64(j, "priority")); }},
      {"Providers", 30, [](const json& j, V) { return Providers(j); }},
      {"QOS", 10, [](const json& j, V) { return Str(j, "qos"); }},
      {"Reason", 22, [](const json& j, V) { return Str(j, "reason", "None"); }},
      {"Refunded", 14, [](const json& j, V) { return FormatTokens(I64(j, "refunded")); }},
      {"Restarts", 8, [](const json& j, V) { return std::to_string(I64(j, "attempt")); }},
      {"Start", 19, [](const json& j, V v) { return SlurmDate(I64(j, "start_ms"), v.tz_offset_s); }},
      {"State", 10, [](const json& j, V) { return Str(j, "state"); }},
      {"Submit", 19, [](const json& j, V v) { return SlurmDate(I64(j, "submit_ms"), v.tz_offset_s); }},
      {"Timelimit", 10, [](const json& j, V) { return SacctTimelimit(j); }},
      {"TimelimitRaw", 10,
       [](const json& j, V) {
         int64_t s = I64(j, "time_limit_s");
         return s > 0 ? std::to_string(s / 60) : std::string("UNLIMITED");
       }},
      {"User", 9, [](const json& j, V) { return Str(j, "user"); }},
      {"WorkDir", 20, [](const json& j, V) { return WorkDir(j); }},
  };
  return k;
}

// sacct resolves a name to the first field it is a case-insensitive prefix of.
const SacctField* FindSacctField(const std::string& name) {
  if (name.empty()) return nullptr;
  for (const auto& f : SacctFields()) {
    std::string fname = f.name;
    if (name.size() <= fname.size() && Lower(fname.substr(0, name.size())) == Lower(name)) return &f;
  }
  return nullptr;
}

std::string SacctLine(const std::vector<std::pair<const SacctField*, int>>& cols, int parsable,
                      const std::function<std::string(const SacctField&)>& value) {
  std::string line;
  for (size_t c = 0; c < cols.size(); ++c) {
    std::string v = value(*cols[c].first);
    if (parsable == 2) line += (c ? "|" : "") + v;
    else if (parsable == 1) line += v + "|";
    else line += SacctColumn(v, cols[c].second);
  }
  return line + "\n";
}

int64_t LocalMidnight(int64_t now_ms, int64_t tz) {
  int64_t local = now_ms / 1000 + tz;
  int64_t day = local - ((local % 86400) + 86400) % 86400;
  return (day - tz) * 1000;
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian), after H. Hinnant.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

// ---- shared ------------------------------------------------------------------------

std::string SlurmColumn(const std::string& value, int width, bool right) {
  if (width <= 0) return value;
  std::string v = value.size() > static_cast<size_t>(width) ? value.substr(0, static_cast<size_t>(width)) : value;
  std::string pad(static_cast<size_t>(width) - v.size(), ' ');
  return right ? pad + v : v + pad;
}

std::string SacctColumn(const std::string& value, int len) {
  size_t w = static_cast<size_t>(len < 0 ? -len : len);
  if (w == 0) return " ";
  std::string v = value;
  if (v.size() > w) {
    v = v.substr(0, w);
    v[w - 1] = '+';
  }
  std::string pad(w - v.size(), ' ');
  return (len > 0 ? pad + v : v + pad) + " ";
}

std::string SlurmDate(int64_t unix_ms, int64_t tz_offset_s) {
  if (unix_ms <= 0) return "Unknown";
  time_t t = static_cast<time_t>(unix_ms / 1000 + tz_offset_s);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::string TaskRanges(std::vector<int> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::string out;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(ids[i]);
    if (j > i) out += "-" + std::to_string(ids[j]);
    i = j + 1;
  }
  return out;
}

std::string JobIdText(const json& j) {
  if (IsArrayTask(j)) return std::to_string(I64(j, "array_job_id")) + "_" + std::to_string(I64(j, "array_task_id"));
  return std::to_string(I64(j, "id"));
}

std::string JobNodeList(const json& j) {
  auto names = NodeNames(j);
  return names.empty() ? "" : CompressHostlist(names);
}

std::string JobExitCode(const json& j) {
  return std::to_string(I64(j, "exit_code")) + ":" + std::to_string(I64(j, "exit_signal"));
}

std::string JobProviders(const json& j) {
  std::string out;
  auto it = j.find("providers");
  if (it == j.end() || !it->is_object()) return out;
  for (const auto& [account, share] : it->items())
    if (share.is_number_integer()) out += (out.empty() ? "" : ",") + account + "=" + FormatTokens(share.get<Micros>());
  return out;
}

int64_t JobElapsedS(const json& j, int64_t now_ms) {
  int64_t start = I64(j, "start_ms"), end = I64(j, "end_ms");
  if (start <= 0) return 0;
  return std::max<int64_t>(0, ((end > 0 ? end : now_ms) - start) / 1000);
}

// ---- sbatch --test-only --json --------------------------------------------------------

namespace {
using ojson = nlohmann::ordered_json;
template <typename T>
ojson OrNull(const std::optional<T>& v) {
  return v ? ojson(*v) : ojson(nullptr);
}
ojson OrNull(const std::string& v) { return v.empty() ? ojson(nullptr) : ojson(v); }
}  // namespace

ojson TestOnlyJson(const JobSpec& s) {
  return ojson{{"job_name", OrNull(s.job_name)},
              {"nodes_min", s.nodes_min},
              {"nodes_max", s.nodes_max},
              {"ntasks", s.EffectiveNtasks()},
              {"ntasks_per_node", OrNull(s.ntasks_per_node)},
              {"cpus_per_task", s.cpus_per_task},
              {"gpus_per_node", OrNull(s.gpus_per_node)},
              {"gpus_total", OrNull(s.gpus_total)},
              {"gpu_type", OrNull(s.gpu_type)},
              {"mem_per_node_mb", OrNull(s.mem_per_node_mb)},
              {"mem_per_cpu_mb", OrNull(s.mem_per_cpu_mb)},
              {"time_limit_s", OrNull(s.time_limit_s)},
              {"partition", OrNull(s.partition)},
              {"account", OrNull(s.account)},
              {"qos", OrNull(s.qos)},
              {"constraint", OrNull(s.constraint)},
              {"array", s.array_tasks.empty() ? ojson(nullptr) : ojson(s.array_tasks)},
              {"array_max_running", OrNull(s.array_max_running)},
              {"dependency", OrNull(s.dependency)},
              {"chdir", OrNull(s.chdir)},
              {"exclusive", s.exclusive},
              {"requeue", OrNull(s.requeue)},
              {"output", OrNull(s.output)},
              {"error", OrNull(s.error)}};
}

// ---- squeue ------------------------------------------------------------------------

Status ValidateJobStates(const std::set<std::string>& states) {
  for (const auto& s : states) {
    if (s == "ALL") continue;
    bool ok = std::any_of(JobStates().begin(), JobStates().end(),
                          [&](const auto& p) { return p.first == s || p.second == s; });
    if (ok) continue;
    std::string names;
    for (const auto& p : JobStates()) names += (names.empty() ? "" : ",") + p.first;
    return Status::InvalidArgument("Invalid job state specified: " + Lower(s) + "\nsqueue: error: Valid job states include: " + names);
  }
  return Status::OK();
}

Status ValidateJobIds(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    size_t us = id.find('_');
    bool ok = IsDigits(id.substr(0, us)) && (us == std::string::npos || IsDigits(id.substr(us + 1)));
    if (!ok) return Status::InvalidArgument("Invalid job id: " + id);
  }
  return Status::OK();
}

json SelectSqueueJobs(const json& jobs, const SqueueFilter& f) {
  json out = json::array();
  for (const auto& j : jobs) {
    std::string state = Str(j, "state");
    if (!f.states.empty()) {
      if (!StateMatches(f.states, j)) continue;
    } else if (f.jobs.empty() && IsTerminal(state)) {
      continue;
    }
    if (f.start && state != "PENDING") continue;
    if (!f.users.empty() && !f.users.count(Str(j, "user"))) continue;
    if (!f.partitions.empty() && !f.partitions.count(Str(j, "partition"))) continue;
    if (!f.jobs.empty() && !AnyJobIdMatches(f.jobs, j)) continue;
    out.push_back(j);
  }
  return out;
}

Rendered RenderSqueue(const json& jobs, const SqueueView& v) {
  Rendered r;
  json shown = v.unfold_arrays ? jobs : FoldArrays(jobs);
  std::vector<json> rows(shown.begin(), shown.end());
  SortSqueue(rows, v.start);
  if (!v.long_format.empty()) {
    auto items = ParseLongFormat(v.long_format);
    for (const auto& f : items) {
      bool known = false;
      SqueueLongValue(f.name, nullptr, v, &known);
      if (!known) r.errors.push_back("Invalid job format specification: " + f.name);
    }
    auto line = [&](const json* j) {
      std::string out;
      for (const auto& f : items) {
        bool known = false;
        std::string value = SqueueLongValue(f.name, j, v, &known);
        if (known) out += SlurmColumn(value, f.width, f.right) + f.suffix;
      }
      return out + "\n";
    };
    if (v.header) r.out += line(nullptr);
    for (const auto& j : rows) r.out += line(&j);
    return r;
  }
  std::string fmt = !v.format.empty() ? v.format : (v.start ? kSqueueStartFormat : kSqueueDefaultFormat);
  auto items = ParsePercentFormat(fmt);
  for (const auto& f : items)
    if (f.letter && f.letter != '%' && !FindSqueueLetter(f.letter))
      r.errors.push_back(std::string("Invalid job format specification: ") + f.letter);
  auto line = [&](const json* j) {
    std::string out;
    for (const auto& f : items) {
      if (!f.letter) {
        out += f.literal;
      } else if (f.letter == '%') {
        // squeue prints nothing for "%%" (measured on 22.05.8).
      } else if (!FindSqueueLetter(f.letter)) {
        out += std::string("%") + f.letter;
      } else {
        out += SlurmColumn(j ? SqueueValue(f.letter, *j, v) : FindSqueueLetter(f.letter)->header, f.width, f.right);
      }
    }
    return out + "\n";
  };
  if (v.header) r.out += line(nullptr);
  for (const auto& j : rows) r.out += line(&j);
  return r;
}

// ---- sinfo --------------------------------------------------------------------------

Rendered RenderSinfo(const json& resp, const SinfoView& v) {
  Rendered r;
  std::string fmt = v.format;
  if (fmt.empty()) {
    if (v.reasons) fmt = kSinfoReasonFormat;
    else if (v.node_oriented) fmt = kSinfoNodeFormat;
    else if (v.summarize) fmt = kSinfoSummaryFormat;
    else fmt = kSinfoDefaultFormat;
  }
  auto items = ParsePercentFormat(fmt);
  for (const auto& f : items)
    if (f.letter && kSinfoKnownLetters.find(f.letter) == std::string::npos)
      r.errors.push_back(std::string("Invalid node format specification: ") + f.letter);
  std::string node_letters;
  for (const auto& f : items)
    if (f.letter && kSinfoNodeLetters.find(f.letter) != std::string::npos) node_letters += f.letter;

  json nodes = resp.contains("nodes") && resp["nodes"].is_array() ? resp["nodes"] : json::array();
  for (auto& n : nodes)
    if (I64(n, "drain_time_ms") > 0) n["drain_time"] = SlurmDate(I64(n, "drain_time_ms"), v.tz_offset_s);
  static const json kEmpty = json::array();
  const json& parts = resp.contains("partitions") && resp["partitions"].is_array() ? resp["partitions"] : kEmpty;

  std::vector<SinfoGroup> groups;
  auto add_to_groups = [&](const json* part, const json& n, std::vector<SinfoGroup>& out) {
    std::string key;
    for (char c : node_letters) key += SinfoNodeValue(c, n) + '\x1f';
    if (v.node_oriented) key += Str(n, "name");
    if (v.summarize && !v.node_oriented) key.clear();
    for (auto& g : out)
      if (g.key == key) {
        g.nodes.push_back(&n);
        return;
      }
    out.push_back(SinfoGroup{part, {&n}, key});
  };

  if (v.reasons) {
    for (const auto& n : nodes) {
      if (NodeReason(n) == "none" || !NodeStateWanted(n, v.states)) continue;
      add_to_groups(nullptr, n, groups);
    }
  } else {
    for (const auto& p : parts) {
      std::string name = Str(p, "name");
      if (!v.partitions.empty() && !v.partitions.count(name)) continue;
      std::vector<SinfoGroup> mine;
      for (const auto& n : nodes)
        if (NodeInPartition(n, name) && NodeStateWanted(n, v.states)) add_to_groups(&p, n, mine);
      if (!v.node_oriented) {
        std::stable_sort(mine.begin(), mine.end(), [](const SinfoGroup& a, const SinfoGroup& b) {
          return Str(*a.nodes.front(), "state") > Str(*b.nodes.front(), "state");
        });
        if (mine.empty()) mine.push_back(SinfoGroup{&p, {}, ""});
      }
      groups.insert(groups.end(), mine.begin(), mine.end());
    }
    if (v.node_oriented)
      std::stable_sort(groups.begin(), groups.end(), [](const SinfoGroup& a, const SinfoGroup& b) {
        return HostnameLess(Str(*a.nodes.front(), "name"), Str(*b.nodes.front(), "name"));
      });
  }
  // sinfo -N sizes the node column to the longest name list, at least 9.
  int node_width = 0;
  if (v.node_oriented && v.format.empty()) {
    node_width = 9;
    for (const auto& g : groups) {
      FormatItem n;
      n.letter = 'N';
      node_width = std::max<int>(node_width, static_cast<int>(SinfoValue(n, g).size()));
    }
  }
  if (v.header) r.out += RenderSinfoLine(items, nullptr, node_width);
  for (const auto& g : groups) r.out += RenderSinfoLine(items, &g, node_width);
  return r;
}

Rendered RenderSinfoGroups(const json& resp, const SinfoView& v) {
  struct Group {
    std::set<std::string> sites;
    int alloc = 0, idle = 0, other = 0, total = 0;
    int gpus_free = 0, gpus = 0;
    std::map<std::string, int> models;
  };
  std::map<std::string, Group> groups;
  static const json kEmpty = json::array();
  const json& nodes = resp.contains("nodes") && resp["nodes"].is_array() ? resp["nodes"] : kEmpty;
  for (const auto& n : nodes) {
    if (!NodeStateWanted(n, v.states)) continue;
    if (!v.partitions.empty()) {
      bool in = false;
      for (const auto& p : v.partitions) in |= NodeInPartition(n, p);
      if (!in) continue;
    }
    std::string name = Str(n, "group");
    if (name.empty()) name = Str(n, "site");
    Group& g = groups[name];
    g.sites.insert(Str(n, "site"));
    std::string st = Str(n, "state");
    ++g.total;
    if (st == "alloc" || st == "mix") ++g.alloc;
    else if (st == "idle") ++g.idle;
    else ++g.other;
    if (st == "idle" || st == "mix" || st == "alloc") {  // up, verified and taking work
      int gpus = static_cast<int>(I64(n, "gpus"));
      g.gpus += gpus;
      g.gpus_free += static_cast<int>(I64(n, "gpus_free"));
      if (gpus > 0) g.models[Str(n, "gpu_model")] += gpus;
    }
  }
  std::vector<std::vector<std::string>> rows;
  if (v.header) rows.push_back({"GROUP", "SITES", "NODES(A/I/O/T)", "GPUS(F/T)", "MODELS"});
  for (const auto& [name, g] : groups) {
    std::string sites;
    for (const auto& s : g.sites) sites += (sites.empty() ? "" : ",") + s;
    std::vector<std::pair<int, std::string>> models;
    for (const auto& [m, c] : g.models) models.emplace_back(-c, m);
    std::sort(models.begin(), models.end());
    std::string ms;
    for (const auto& [c, m] : models) ms += (ms.empty() ? "" : ",") + m + ":" + std::to_string(-c);
    rows.push_back({name, sites,
                    std::to_string(g.alloc) + "/" + std::to_string(g.idle) + "/" + std::to_string(g.other) + "/" +
                        std::to_string(g.total),
                    std::to_string(g.gpus_free) + "/" + std::to_string(g.gpus), ms.empty() ? "-" : ms});
  }
  std::vector<size_t> width(5, 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  Rendered r;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 1, ' ');
    }
    r.out += line + "\n";
  }
  return r;
}

// ---- sacct -------------------------------------------------------------------------

std::vector<std::string> SacctFieldNames() {
  std::vector<std::string> out;
  for (const auto& f : SacctFields()) out.push_back(f.name);
  return out;
}

Result<std::string> RenderSacct(const json& jobs, const SacctView& v) {
  std::vector<std::pair<const SacctField*, int>> cols;
  size_t start = 0;
  std::string list = v.fields;
  while (start <= list.size()) {
    size_t comma = std::min(list.find(',', start), list.size());
    std::string item = list.substr(start, comma - start);
    start = comma + 1;
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.erase(0, 1);
    if (item.empty()) continue;
    std::optional<int> width;
    size_t pct = item.find('%');
    if (pct != std::string::npos) {
      width = std::atoi(item.c_str() + pct + 1);
      item = item.substr(0, pct);
    }
    if (Lower(item) == "all") {
      for (const auto& f : SacctFields()) cols.emplace_back(&f, width ? *width : f.len);
      continue;
    }
    const SacctField* f = FindSacctField(item);
    if (!f) return Status::InvalidArgument("Invalid field requested: \"" + item + "\"");
    cols.emplace_back(f, width ? *width : f->len);
  }
  std::string out;
  if (v.header) {
    out += SacctLine(cols, v.parsable, [](const SacctField& f) { return std::string(f.name); });
    if (!v.parsable) {
      std::string dashes;
      for (const auto& [f, len] : cols) dashes += std::string(static_cast<size_t>(std::abs(len)), '-') + " ";
      out += dashes + "\n";
    }
  }
  for (const auto& j : jobs) out += SacctLine(cols, v.parsable, [&](const SacctField& f) { return f.get(j, v); });
  return out;
}

json SelectSacctJobs(const json& jobs, const SacctFilter& f) {
  json out = json::array();
  for (const auto& j : jobs) {
    if (!f.jobs.empty() && !AnyJobIdMatches(f.jobs, j)) continue;
    if (!f.users.empty() && !f.users.count(Str(j, "user"))) continue;
    if (!f.states.empty() && !StateMatches(f.states, j)) continue;
    if (!f.names.empty() && !f.names.count(Str(j, "name"))) continue;
    int64_t submit = I64(j, "submit_ms"), end = I64(j, "end_ms");
    if (f.end_ms && submit > *f.end_ms) continue;
    if (f.start_ms && end > 0 && end < *f.start_ms) continue;
    out.push_back(j);
  }
  return out;
}

Result<int64_t> ParseSlurmTime(const std::string& text, int64_t now_ms, int64_t tz) {
  Status bad = Status::InvalidArgument("Invalid time specification: " + text);
  std::string t = Lower(text);
  int64_t midnight = LocalMidnight(now_ms, tz);
  if (t == "now") return now_ms;
  if (t == "today" || t == "midnight") return midnight;
  if (t == "yesterday") return midnight - 86400 * 1000LL;
  if (t == "tomorrow") return midnight + 86400 * 1000LL;
  if (t == "noon") return midnight + 12 * 3600 * 1000LL;
  if (t.rfind("now", 0) == 0 && t.size() > 4 && (t[3] == '+' || t[3] == '-')) {
    size_t i = 4, digits = 0;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])) && digits < 9) ++i, ++digits;
    if (digits == 0) return bad;
    int64_t n = std::stoll(t.substr(4, digits));
    std::string unit = t.substr(i);
    int64_t mult;
    if (unit.empty() || unit == "s" || unit == "sec" || unit == "second" || unit == "seconds") mult = 1;
    else if (unit == "m" || unit == "min" || unit == "minute" || unit == "minutes") mult = 60;
    else if (unit == "h" || unit == "hour" || unit == "hours") mult = 3600;
    else if (unit == "d" || unit == "day" || unit == "days") mult = 86400;
    else if (unit == "w" || unit == "week" || unit == "weeks") mult = 7 * 86400;
    else return bad;
    return now_ms + (t[3] == '+' ? 1 : -1) * n * mult * 1000;
  }
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, used = 0;
  auto at = [&](int64_t yy, int mm, int dd, int hh, int mn, int ss) -> Result<int64_t> {
    if (mm < 1 || mm > 12 || dd < 1 || dd > 31 || hh > 23 || mn > 59 || ss > 59 || hh < 0 || mn < 0 || ss < 0)
      return bad;
    return (DaysFromCivil(yy, static_cast<unsigned>(mm), static_cast<unsigned>(dd)) * 86400 + hh * 3600 +
            mn * 60 + ss - tz) * 1000;
  };
  auto clock = [&](const std::string& rest) -> bool {  // "" or "Thh:mm[:ss]"
    if (rest.empty()) return true;
    int n2 = 0;
    if (std::sscanf(rest.c_str(), "T%2d:%2d%n", &h, &mi, &n2) != 2) return false;
    std::string secs = rest.substr(static_cast<size_t>(n2));
    int n3 = 0;
    if (!secs.empty() && (std::sscanf(secs.c_str(), ":%2d%n", &s, &n3) != 1 || static_cast<size_t>(n3) != secs.size()))
      return false;
    return true;
  };
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &used) == 3) {
    if (!clock(text.substr(static_cast<size_t>(used)))) return bad;
    return at(y, mo, d, h, mi, s);
  }
  time_t local = static_cast<time_t>(now_ms / 1000 + tz);
  struct tm now_tm;
  gmtime_r(&local, &now_tm);
  if (std::sscanf(text.c_str(), "%2d/%2d%n", &mo, &d, &used) == 2) {
    std::string rest = text.substr(static_cast<size_t>(used));
    int64_t year = now_tm.tm_year + 1900;
    int yy = 0, n2 = 0;
    if (!rest.empty()) {
      if (std::sscanf(rest.c_str(), "/%2d%n", &yy, &n2) != 1 || static_cast<size_t>(n2) != rest.size()) return bad;
      year = 2000 + yy;
    }
    return at(year, mo, d, 0, 0, 0);
  }
  int n = 0;
  if (std::sscanf(text.c_str(), "%2d:%2d%n", &h, &mi, &n) == 2) {
    std::string rest = text.substr(static_cast<size_t>(n));
    int n3 = 0;
    if (!rest.empty() && (std::sscanf(rest.c_str(), ":%2d%n", &s, &n3) != 1 || static_cast<size_t>(n3) != rest.size()))
      return bad;
    if (h > 23 || mi > 59 || s > 59) return bad;
    return midnight + (h * 3600 + mi * 60 + s) * 1000LL;
  }
  return bad;
}

// ---- sprio ----------------------------------------------------------------------------

namespace {

const std::map<char, const char*>& SprioHeaders() {
  static const std::map<char, const char*> k = {
      {'i', "JOBID"},  {'r', "PARTITION"}, {'u', "USER"},      {'Y', "PRIORITY"}, {'y', "PRIORITY"},
      {'S', "SITE"},   {'A', "AGE"},       {'a', "AGE"},       {'B', "ASSOC"},    {'b', "ASSOC"},
      {'F', "FAIRSHARE"}, {'f', "FAIRSHARE"}, {'J', "JOBSIZE"}, {'j', "JOBSIZE"}, {'P', "PARTITION"},
      {'p', "PARTITION"}, {'Q', "QOS"},    {'q', "QOS"},       {'N', "NICE"},     {'T', "TRES"},
      {'t', "TRES"},   {'c', "CLUSTER"}};
  return k;
}

// The weight key of a factor letter (either case); "" for letters without one.
std::string SprioFactorKey(char letter) {
  switch (std::tolower(static_cast<unsigned char>(letter))) {
    case 'a': return "age";
    case 'b': return "assoc";
    case 'f': return "fairshare";
    case 'j': return "job_size";
    case 'p': return "partition_factor";
    case 'q': return "qos";
    default: return "";
  }
}

double Dbl(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

// sprio prints weighted factors as whole numbers and normalised ones with 7
// decimals; the normalised priority is priority / 2^32-1 printed "%16.14f"
// and then cut to the column, as sprio does.
std::string SprioValue(char letter, const json& job) {
  char buf[64];
  switch (letter) {
    case 'i': return std::to_string(I64(job, "id"));
    case 'r': return Str(job, "partition");
    case 'u': return Str(job, "user");
    case 'Y': return std::to_string(std::llround(Dbl(job, "priority")));
    case 'y':
      std::snprintf(buf, sizeof buf, "%16.14f", std::max(0.0, Dbl(job, "priority")) / 4294967295.0);
      return buf;
    case 'S': return std::to_string(std::llround(Dbl(job, "site")));
    case 'N': return std::to_string(I64(job, "nice"));
    case 'T': case 't': return "";
    case 'c': return "(null)";
    default: break;
  }
  std::string key = SprioFactorKey(letter);
  if (std::isupper(static_cast<unsigned char>(letter)))
    return std::to_string(std::llround(Dbl(job, key.c_str())));
  static const json kNone = json::object();
  auto f = job.find("factors");
  std::snprintf(buf, sizeof buf, "%.7f", Dbl(f != job.end() && f->is_object() ? *f : kNone, key.c_str()));
  return buf;
}

std::string SprioWeight(char letter, const json& weights) {
  if (letter == 'i') return "Weights";
  if (letter == 'S') return std::to_string(std::llround(weights.is_object() ? weights.value("site", 1.0) : 1.0));
  if (letter == 'T' || letter == 't') return "(null)";
  std::string key = SprioFactorKey(letter);
  if (key.empty()) return "";
  return std::to_string(std::llround(Dbl(weights, key.c_str())));
}

std::string SprioDefaultFormat(const SprioView& v, const json& weights) {
  if (v.long_format)
    return v.normalized ? "%.15i %9r %.8u %10y %10a %10b %10f %10j %10p %10q %20t"
                        : "%.15i %9r %.8u %.10Y %.10S %.10A %.10B %.10F %.10J %.10P %.10Q %.11N %.20T";
  std::string fmt = "%.15i %9r";
  if (v.show_user) fmt += " %.8u";
  fmt += v.normalized ? " %10y" : " %.10Y %.10S";
  for (char c : std::string("abfjpq"))
    if (Dbl(weights, SprioFactorKey(c).c_str()) != 0)
      fmt += v.normalized ? std::string(" %10") + c
                          : std::string(" %.10") + static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return fmt;
}

}  // namespace

json SelectSprioJobs(const json& jobs, const SprioFilter& f) {
  std::vector<json> rows;
  for (const auto& j : jobs) {
    // A held job's priority is 0 in Slurm, and sprio leaves it out (measured).
    if (j.value("held", false)) continue;
    if (!f.jobs.empty() && std::find(f.jobs.begin(), f.jobs.end(), I64(j, "id")) == f.jobs.end()) continue;
    if (!f.users.empty() && !f.users.count(Str(j, "user"))) continue;
    if (!f.partitions.empty() && !f.partitions.count(Str(j, "partition"))) continue;
    rows.push_back(j);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const json& a, const json& b) { return I64(a, "id") < I64(b, "id"); });
  return json(rows);
}

Rendered RenderSprio(const json& priority, const SprioView& v) {
  Rendered r;
  static const json kNone = json::object();
  const json& weights = priority.contains("weights") && priority["weights"].is_object() ? priority["weights"] : kNone;
  std::string fmt = v.format.empty() ? SprioDefaultFormat(v, weights) : v.format;
  std::vector<FormatItem> items;
  for (const auto& f : ParsePercentFormat(fmt)) {
    if (f.letter && !SprioHeaders().count(f.letter)) {
      r.errors.push_back(std::string("Invalid job format specification: ") + f.letter);
      continue;
    }
    items.push_back(f);
  }
  auto line = [&](const std::function<std::string(char)>& value) {
    std::string out;
    for (const auto& f : items) out += f.letter ? SlurmColumn(value(f.letter), f.width, f.right) : f.literal;
    return out + "\n";
  };
  if (v.header) r.out += line([](char c) { return std::string(SprioHeaders().at(c)); });
  if (v.weights) {
    r.out += line([&](char c) { return SprioWeight(c, weights); });
    return r;
  }
  if (priority.contains("jobs") && priority["jobs"].is_array())
    for (const auto& j : priority["jobs"]) r.out += line([&](char c) { return SprioValue(c, j); });
  return r;
}

// ---- gm node list ----------------------------------------------------------------------

std::string RenderNodeList(const json& nodes) {
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "ID", "PROVIDER", "STATE", "GPUS", "FREE", "MODEL", "PRICE", "TFLOPS", "VERIFIED", "REASON"}};
  std::vector<json> sorted(nodes.begin(), nodes.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const json& a, const json& b) { return HostnameLess(Str(a, "name"), Str(b, "name")); });
  for (const auto& n : sorted) {
    char tflops[32];
    std::snprintf(tflops, sizeof tflops, "%.3f", Dbl(n, "tflops"));
    std::string model = Str(n, "gpu_model", "-");
    if (n.value("declared", false) && I64(n, "gpus") > 0) model += "(declared)";
    std::string reason = Str(n, "drain_reason");
    rows.push_back({Str(n, "name"), Str(n, "id"), Str(n, "provider"), Str(n, "state"),
                    std::to_string(I64(n, "gpus")), std::to_string(I64(n, "gpus_free")),
                    model.empty() ? "-" : model, FormatTokens(I64(n, "price")),
                    Dbl(n, "tflops") > 0 ? tflops : "-", Str(n, "verification", "-"),
                    reason.empty() ? "-" : reason});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      bool numeric = i == 4 || i == 5 || i == 7 || i == 8;
      std::string pad(width[i] - row[i].size(), ' ');
      std::string cell = numeric ? pad + row[i] : (i + 1 == row.size() ? row[i] : row[i] + pad);
      line += (i ? "  " : "") + cell;
    }
    out += line + "\n";
  }
  return out;
}

// ---- scancel -------------------------------------------------------------------------

Status ValidateCancel(const CancelRequest& r) {
  for (const auto& id : r.ids) {
    size_t us = id.find('_');
    bool ok = IsDigits(id.substr(0, us));
    if (ok && us != std::string::npos) {
      std::string task = id.substr(us + 1);
      if (task.size() > 2 && task.front() == '[' && task.back() == ']')
        ok = ExpandHostlist("x" + task).ok() &&
             task.find_first_not_of("0123456789,-[]") == std::string::npos;
      else
        ok = IsDigits(task);
    }
    if (!ok) return Status::InvalidArgument("Invalid job id " + id);
  }
  for (const auto& s : r.states) {
    static const std::set<std::string> k = {"PENDING", "PD", "RUNNING", "R", "SUSPENDED", "S"};
    if (!k.count(s))
      return Status::InvalidArgument("Invalid job state specified: " + Lower(s) +
                                     "\nValid job states are PENDING, RUNNING, and SUSPENDED");
  }
  return Status::OK();
}

std::optional<std::string> SignalName(const std::string& text) {
  static const std::vector<std::pair<int, std::string>> k = {
      {1, "HUP"},   {2, "INT"},   {3, "QUIT"},  {6, "ABRT"},  {9, "KILL"},  {10, "USR1"}, {12, "USR2"},
      {14, "ALRM"}, {15, "TERM"}, {18, "CONT"}, {19, "STOP"}, {20, "TSTP"}, {21, "TTIN"}, {22, "TTOU"},
      {23, "URG"},  {24, "XCPU"}};
  std::string name = Upper(text);
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  for (const auto& [num, n] : k)
    if (name == n || (IsDigits(name) && std::stoll(name) == num)) return n;
  return std::nullopt;
}

std::vector<int64_t> SelectCancelTargets(const json& jobs, const CancelRequest& r,
                                         std::vector<std::string>* missing) {
  std::set<std::string> states;
  for (const auto& s : r.states) {
    if (s == "PD" || s == "PENDING") states.insert("PENDING");
    if (s == "R" || s == "RUNNING") states.insert("RUNNING");
    if (s == "S" || s == "SUSPENDED") states.insert("SUSPENDED");
  }
  auto filtered = [&](const json& j) {
    if (!r.users.empty() && !r.users.count(Str(j, "user"))) return false;
    if (!r.names.empty() && !r.names.count(Str(j, "name"))) return false;
    if (!r.partitions.empty() && !r.partitions.count(Str(j, "partition"))) return false;
    if (!states.empty() && !states.count(Str(j, "state"))) return false;
    return true;
  };
  std::vector<int64_t> out;
  std::set<int64_t> seen;
  if (r.ids.empty()) {
    for (const auto& j : jobs)
      if (!IsTerminal(Str(j, "state")) && filtered(j) && seen.insert(I64(j, "id")).second) out.push_back(I64(j, "id"));
    return out;
  }
  for (const auto& id : r.ids) {
    bool any = false;
    for (const auto& j : jobs) {
      if (!JobIdMatches(id, j)) continue;
      any = true;
      if (filtered(j) && seen.insert(I64(j, "id")).second) out.push_back(I64(j, "id"));
    }
    if (!any && missing) missing->push_back(id);
  }
  return out;
}

// ---- market ----------------------------------------------------------------------

namespace {
std::string MarketPercent(double x) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(1) << 100.0 * x << "%";
  return o.str();
}
}  // namespace

std::string RenderMarket(const json& m, bool header, bool parsable) {
  std::vector<std::vector<std::string>> rows;
  if (header) rows.push_back({"MODEL", "NODES", "GPUS", "FREE", "LOWEST", "MEDIAN", "WAITING", "UTIL"});
  for (const auto& x : m.value("models", json::array()))
    rows.push_back({x.value("model", ""), std::to_string(x.value("nodes", 0)), std::to_string(x.value("gpus", 0)),
                    std::to_string(x.value("gpus_free", 0)), FormatTokens(x.value("lowest_ask", int64_t{0})),
                    FormatTokens(x.value("median_ask", int64_t{0})), std::to_string(x.value("jobs_waiting", 0)),
                    MarketPercent(x.value("utilisation", 0.0))});
  std::string out;
  if (parsable) {
    for (const auto& r : rows) {
      std::string line;
      for (size_t c = 0; c < r.size(); ++c) line += (c ? "|" : "") + r[c];
      out += line + "\n";
    }
  } else {
    std::vector<size_t> width(8, 0);
    for (const auto& r : rows)
      for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
    for (const auto& r : rows) {
      std::string line;
      for (size_t c = 0; c < r.size(); ++c) {
        std::string pad(width[c] - r[c].size(), ' ');
        line += c == 0 ? r[c] + pad : " " + pad + r[c];  // names left, figures right
      }
      out += line + "\n";
    }
  }
  int any = m.value("any_model_waiting", 0);
  if (!parsable && any > 0) out += std::to_string(any) + " more job(s) wait for GPUs of any model\n";
  return out;
}

}  // namespace gm::cli
