// Corpus loading, process running, scontrol parsing and the gm -> scontrol
// mapping used by corpus_test and slurm_diff_test.
#include "tests/slurm/slurm_mapping.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace gm::slurmtest {

namespace {

using json = nlohmann::json;

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::stringstream ss(s);
  while (std::getline(ss, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.push_back("");
  return out;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// [D-]HH:MM:SS or UNLIMITED -> seconds or "UNLIMITED".
std::string TimeSeconds(const std::string& raw) {
  if (raw == "UNLIMITED" || raw == "INFINITE" || raw.empty()) return raw;
  long long days = 0;
  std::string rest = raw;
  size_t dash = raw.find('-');
  if (dash != std::string::npos) {
    days = std::stoll(raw.substr(0, dash));
    rest = raw.substr(dash + 1);
  }
  auto f = Split(rest, ':');
  long long secs = 0;
  for (const auto& x : f) secs = secs * 60 + std::stoll(x);
  return std::to_string(days * 86400 + secs);
}

std::string MemoryMb(const std::string& raw) {
  if (raw.empty()) return raw;
  size_t i = 0;
  while (i < raw.size() && std::isdigit(static_cast<unsigned char>(raw[i]))) ++i;
  if (i == 0) return raw;
  long long v = std::stoll(raw.substr(0, i));
  std::string unit = raw.substr(i);
  if (unit == "G") v *= 1024;
  if (unit == "T") v *= 1024 * 1024;
  return std::to_string(v);
}

// "gres:gpu:a100:2,gres:mps:4" -> "gres:gpu:a100:2"; "gres:gpu" -> "gres:gpu:1".
std::string GpuTres(const std::string& raw) {
  std::string out;
  for (const auto& item : Split(raw, ',')) {
    if (item.rfind("gres:gpu", 0) != 0) continue;
    auto parts = Split(item, ':');
    if (!AllDigits(parts.back())) parts.push_back("1");
    std::string norm;
    for (const auto& p : parts) norm += (norm.empty() ? "" : ":") + p;
    out += (out.empty() ? "" : ",") + norm;
  }
  return out;
}

// "1,3,5-7:2%2" -> "1,3,5,7%2".
std::string ArrayIds(const std::string& raw) {
  if (raw.empty()) return raw;
  std::string body = raw, limit;
  size_t pct = raw.find('%');
  if (pct != std::string::npos) {
    body = raw.substr(0, pct);
    limit = raw.substr(pct);
  }
  std::set<long long> ids;
  for (const auto& item : Split(body, ',')) {
    size_t colon = item.find(':');
    long long step = colon == std::string::npos ? 1 : std::stoll(item.substr(colon + 1));
    std::string range = item.substr(0, colon);
    size_t dash = range.find('-');
    long long lo = std::stoll(range.substr(0, dash));
    long long hi = dash == std::string::npos ? lo : std::stoll(range.substr(dash + 1));
    for (long long i = lo; i <= hi; i += step) ids.insert(i);
  }
  std::string out;
  for (long long i : ids) out += (out.empty() ? "" : ",") + std::to_string(i);
  return out + limit;
}

// "afterok:1(unfulfilled),afterok:2(unfulfilled)" and "afterok:1:2" both
// -> "afterok:1,afterok:2"; the separator (',' or '?') is kept. "ID_*" (all
// of an array) is "ID", since slurmctld writes it so for any array job.
std::string DependencyList(const std::string& raw) {
  if (raw.empty() || raw == "(null)") return "";
  char sep = raw.find('?') != std::string::npos ? '?' : ',';
  std::string out;
  for (std::string dep : Split(raw, sep)) {
    size_t paren = dep.find('(');
    if (paren != std::string::npos) dep = dep.substr(0, paren);
    auto parts = Split(dep, ':');
    std::string type = Lower(parts[0]);
    if (parts.size() == 1) {
      out += (out.empty() ? "" : std::string(1, sep)) + type;
      continue;
    }
    for (size_t i = 1; i < parts.size(); ++i) {
      // slurmctld shows a dependency on a whole array as "ID_*".
      std::string job = parts[i];
      if (job.size() > 2 && job.compare(job.size() - 2, 2, "_*") == 0) job.resize(job.size() - 2);
      out += (out.empty() ? "" : std::string(1, sep)) + type + ":" + job;
    }
  }
  return out;
}

const std::set<std::string>& ScontrolKeys() {
  static const std::set<std::string> k = {
      "JobId", "ArrayJobId", "ArrayTaskId", "ArrayTaskThrottle", "JobName", "UserId", "GroupId", "MCS_label",
      "Priority", "Nice", "Account", "QOS", "JobState", "Reason", "Dependency", "Requeue", "Restarts",
      "BatchFlag", "Reboot", "ExitCode", "RunTime", "TimeLimit", "TimeMin", "SubmitTime", "EligibleTime",
      "AccrueTime", "StartTime", "EndTime", "Deadline", "SuspendTime", "SecsPreSuspend", "LastSchedEval",
      "Scheduler", "Partition", "AllocNode:Sid", "ReqNodeList", "ExcNodeList", "NodeList", "BatchHost",
      "NumNodes", "NumCPUs", "NumTasks", "CPUs/Task", "ReqB:S:C:T", "TRES", "Socks/Node", "NtasksPerN:B:S:C",
      "CoreSpec", "MinCPUsNode", "MinMemoryNode", "MinMemoryCPU", "MinTmpDiskNode", "Features", "DelayBoot",
      "OverSubscribe", "Contiguous", "Licenses", "Network", "Command", "WorkDir", "StdErr", "StdIn", "StdOut",
      "Power", "TresPerNode", "TresPerJob", "TresPerTask", "TresPerSocket", "CpusPerTres", "MemPerTres",
      "MailUser", "MailType", "Comment", "Reservation", "Container", "ContainerID", "NtasksPerTRES",
      "TresBind", "TresFreq", "CPU_Bind", "CpuFreqMin", "CpuFreqMax", "CpuFreqGov", "Switches", "Wait4Switch",
      "KillOInInvalidDependent", "SpreadJob", "Partitions", "HetJobId", "HetJobOffset", "HetJobIdSet",
      "Prolog", "Epilog", "SelinuxContext", "ClusterFeatures", "Cluster", "FedOrigin", "FedViableSiblings",
      "FedActiveSiblings", "AdminComment", "SystemComment", "Extra", "NodeListNext", "ReqFeatures"};
  return k;
}

// How scontrol shows -o/-e for a job that has not started (measured on
// 22.05.8): %A %a %j %u %x are replaced, nothing else; a pattern with "%%"
// or a width is shown as written. Relative paths are under WorkDir.
std::string ScontrolStdio(std::string pattern, bool array, long long id, const std::string& name,
                          const std::string& user, const std::string& workdir) {
  if (pattern.empty()) pattern = array ? "slurm-%A_%a.out" : "slurm-%j.out";
  bool raw = pattern.find("%%") != std::string::npos;
  for (size_t i = 0; i + 1 < pattern.size(); ++i)
    if (pattern[i] == '%' && std::isdigit(static_cast<unsigned char>(pattern[i + 1]))) raw = true;
  std::string out;
  if (raw) {
    out = pattern;
  } else {
    for (size_t i = 0; i < pattern.size(); ++i) {
      if (pattern[i] != '%' || i + 1 >= pattern.size()) {
        out += pattern[i];
        continue;
      }
      char f = pattern[i + 1];
      if (f == 'A' || f == 'j') out += std::to_string(id);
      else if (f == 'a') out += "4294967294";
      else if (f == 'u') out += user;
      else if (f == 'x') out += name;
      else {
        out += pattern[i];
        continue;
      }
      ++i;
    }
  }
  return !out.empty() && out[0] == '/' ? out : workdir + "/" + out;
}

std::string JsonStr(const json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

}  // namespace

std::vector<std::string> CorpusNames(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (!d) return names;
  while (dirent* e = readdir(d)) {
    std::string f = e->d_name;
    if (f.size() > 3 && f.compare(f.size() - 3, 3, ".sh") == 0) names.push_back(f.substr(0, f.size() - 3));
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<CorpusCase> LoadCorpus(const std::string& dir) {
  std::vector<CorpusCase> out;
  for (const auto& name : CorpusNames(dir)) {
    CorpusCase c;
    c.name = name;
    c.script_path = dir + "/" + name + ".sh";
    std::ifstream in(dir + "/" + name + ".case");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      size_t sp = line.find(' ');
      std::string word = line.substr(0, sp), rest = sp == std::string::npos ? "" : line.substr(sp + 1);
      if (word == "arg") {
        c.args.push_back(rest);
      } else if (word == "env") {
        size_t eq = rest.find('=');
        c.env[rest.substr(0, eq)] = eq == std::string::npos ? "" : rest.substr(eq + 1);
      } else if (word == "wrap") {
        c.wrap = rest;
      } else if (word == "expect") {
        size_t eq = rest.find('=');
        c.expect[rest.substr(0, eq)] = eq == std::string::npos ? "" : rest.substr(eq + 1);
      } else if (word == "skip") {
        c.skip.insert(Trim(rest));
      } else if (word == "reject") {
        c.reject = true;
      }
    }
    out.push_back(c);
  }
  return out;
}

const std::vector<std::string>& ComparedKeys() {
  static const std::vector<std::string> k = {
      "JobName",  "Account",   "Dependency",   "Requeue",       "TimeLimit",  "Partition",   "NumNodes",
      "NumTasks", "CPUs/Task", "NtasksPerNode", "MinMemoryNode", "MinMemoryCPU", "Features", "OverSubscribe",
      "WorkDir",  "StdErr",    "StdOut",       "TresPerNode",   "TresPerJob", "ArrayTaskId"};
  return k;
}

std::map<std::string, std::string> ParseScontrolLine(const std::string& line) {
  std::map<std::string, std::string> out;
  std::string key;
  std::stringstream ss(Trim(line));
  std::string word;
  while (std::getline(ss, word, ' ')) {
    size_t eq = word.find('=');
    if (eq != std::string::npos && ScontrolKeys().count(word.substr(0, eq))) {
      key = word.substr(0, eq);
      out[key] = word.substr(eq + 1);
    } else if (!key.empty()) {
      out[key] += " " + word;
    }
  }
  auto it = out.find("NtasksPerN:B:S:C");
  if (it != out.end()) out["NtasksPerNode"] = it->second.substr(0, it->second.find(':'));
  return out;
}

std::string Normalize(const std::string& key, const std::string& raw) {
  if (key == "NumNodes") return raw.empty() || raw.find('-') != std::string::npos ? raw : raw + "-" + raw;
  if (key == "TimeLimit") return TimeSeconds(raw);
  if (key == "MinMemoryNode" || key == "MinMemoryCPU") return MemoryMb(raw);
  if (key == "TresPerNode" || key == "TresPerJob" || key == "TresPerTask") return GpuTres(raw);
  if (key == "ArrayTaskId") return ArrayIds(raw);
  if (key == "Dependency") return DependencyList(raw);
  return raw;
}

std::map<std::string, std::string> GmAsSlurm(const json& gm, long long id, const std::string& cwd,
                                             const std::string& user, const std::string& default_partition) {
  std::map<std::string, std::string> m;
  auto num = [&](const char* key) { return gm[key].is_null() ? std::string() : std::to_string(gm[key].get<long long>()); };
  std::string type = JsonStr(gm, "gpu_type");
  auto gpus = [&](const char* key) {
    return gm[key].is_null() ? std::string() : "gres:gpu:" + (type.empty() ? "" : type + ":") + num(key);
  };
  std::string name = JsonStr(gm, "job_name");
  std::string workdir = gm["chdir"].is_null() ? cwd : gm["chdir"].get<std::string>();
  bool array = !gm["array"].is_null();
  m["JobName"] = name;
  m["NumNodes"] = num("nodes_min") + "-" + num("nodes_max");
  m["NumTasks"] = num("ntasks");
  m["CPUs/Task"] = num("cpus_per_task");
  m["NtasksPerNode"] = gm["ntasks_per_node"].is_null() ? "0" : num("ntasks_per_node");
  m["TresPerNode"] = gpus("gpus_per_node");
  m["TresPerJob"] = gpus("gpus_total");
  bool per_cpu = !gm["mem_per_cpu_mb"].is_null();
  m["MinMemoryCPU"] = num("mem_per_cpu_mb");
  m["MinMemoryNode"] = per_cpu ? "" : (gm["mem_per_node_mb"].is_null() ? "0" : num("mem_per_node_mb"));
  m["TimeLimit"] = gm["time_limit_s"].is_null() ? "UNLIMITED" : num("time_limit_s");
  m["Partition"] = gm["partition"].is_null() ? default_partition : JsonStr(gm, "partition");
  m["Account"] = gm["account"].is_null() ? "(null)" : JsonStr(gm, "account");
  m["Features"] = gm["constraint"].is_null() ? "(null)" : JsonStr(gm, "constraint");
  std::string ids;
  if (array)
    for (const auto& t : gm["array"]) ids += (ids.empty() ? "" : ",") + std::to_string(t.get<long long>());
  if (array && !gm["array_max_running"].is_null()) ids += "%" + num("array_max_running");
  m["ArrayTaskId"] = ids;
  m["Dependency"] = DependencyList(JsonStr(gm, "dependency"));
  m["WorkDir"] = workdir;
  m["OverSubscribe"] = gm["exclusive"].get<bool>() ? "NO" : "OK";
  m["Requeue"] = gm["requeue"].is_boolean() && !gm["requeue"].get<bool>() ? "0" : "1";
  std::string out = ScontrolStdio(JsonStr(gm, "output"), array, id, name, user, workdir);
  std::string err = gm["error"].is_null() ? out : ScontrolStdio(JsonStr(gm, "error"), array, id, name, user, workdir);
  m["StdOut"] = out;
  m["StdErr"] = err;
  return m;
}

std::string Substitute(const std::string& value, long long id, const std::string& cwd) {
  std::string out = value;
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"{id}", std::to_string(id)}, {"{cwd}", cwd}}) {
    size_t pos;
    while ((pos = out.find(from)) != std::string::npos) out.replace(pos, from.size(), to);
  }
  return out;
}

// Output goes to unlinked temporary files, not pipes: a command that starts
// daemons (local-slurm.sh up) would otherwise leave the pipes open forever.
ProcResult RunCommand(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                      const std::string& cwd) {
  ProcResult r;
  char out_name[] = "/tmp/gmrun-out-XXXXXX", err_name[] = "/tmp/gmrun-err-XXXXXX";
  int out_fd = mkstemp(out_name), err_fd = mkstemp(err_name);
  if (out_fd < 0 || err_fd < 0) return r;
  unlink(out_name);
  unlink(err_name);
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    std::vector<char*> args, envp;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    // execvpe searches the PATH of the caller's environment.
    execvpe(args[0], args.data(), envp.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  auto slurp = [](int fd) {
    std::string s;
    char buf[4096];
    lseek(fd, 0, SEEK_SET);
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
    close(fd);
    return s;
  };
  r.out = slurp(out_fd);
  r.err = slurp(err_fd);
  return r;
}

std::vector<std::string> SubmitArgv(const CorpusCase& c, std::vector<std::string> prefix) {
  prefix.insert(prefix.end(), c.args.begin(), c.args.end());
  if (!c.wrap.empty()) {
    prefix.push_back("--wrap");
    prefix.push_back(c.wrap);
  } else {
    prefix.push_back(c.name + ".sh");
  }
  return prefix;
}

}  // namespace gm::slurmtest
