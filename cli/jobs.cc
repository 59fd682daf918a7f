// gm's Slurm-named job commands: sbatch, squeue, scancel, sinfo, sacct, and
// fetch (GridMint's way to bring a job's output home).
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "cli/cli.h"
#include "common/hostlist.h"
#include "common/money.h"
#include "common/sbatch_options.h"
#include "common/slurm_time.h"

namespace gm::cli {

namespace fs = std::filesystem;

namespace {

Result<std::string> ReadPath(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("Unable to open file " + path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

template <typename T>
json OrNull(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}
json OrNull(const std::string& v) { return v.empty() ? json(nullptr) : json(v); }

// The resolution `gm sbatch --test-only --json` prints: one object, null where unset.
json TestOnlyJson(const JobSpec& s) {
  return json{{"job_name", OrNull(s.job_name)},
              {"nodes_min", s.nodes_min},
              {"nodes_max", s.nodes_max},
              {"ntasks", OrNull(s.ntasks)},
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
              {"array", s.array_tasks.empty() ? json(nullptr) : json(s.array_tasks)},
              {"array_max_running", OrNull(s.array_max_running)},
              {"dependency", OrNull(s.dependency)},
              {"chdir", OrNull(s.chdir)},
              {"exclusive", s.exclusive},
              {"requeue", OrNull(s.requeue)},
              {"output", OrNull(s.output)},
              {"error", OrNull(s.error)}};
}

bool IsTerminalName(const std::string& state) {
  return state != "PENDING" && state != "RUNNING" && state != "COMPLETING";
}

int64_t ElapsedS(const json& j, int64_t now_ms) {
  int64_t start = j.value("start_ms", int64_t{0}), end = j.value("end_ms", int64_t{0});
  if (start <= 0) return 0;
  return std::max<int64_t>(0, ((end > 0 ? end : now_ms) - start) / 1000);
}

std::string NodeList(const json& j) {
  auto names = j.value("node_names", std::vector<std::string>{});
  return names.empty() ? "" : CompressHostlist(names);
}

// "provider1=0.000920,provider2=0.001380": who was paid what for a job.
std::string Providers(const json& j) {
  std::string out;
  const json providers = j.value("providers", json::object());
  for (const auto& [account, share] : providers.items())
    out += (out.empty() ? "" : ",") + account + "=" + FormatTokens(share.get<Micros>());
  return out;
}

std::string ExitCode(const json& j) {
  return std::to_string(j.value("exit_code", 0)) + ":" + std::to_string(j.value("exit_signal", 0));
}

Result<json> FetchJobs(ApiClient& api) {
  GM_ASSIGN_OR_RETURN(json r, api.Get("/api/v1/jobs"));
  return r;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) if (!item.empty()) out.push_back(item);
  return out;
}

std::set<std::string> SplitSet(const std::string& s) {
  std::set<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) if (!item.empty()) out.insert(item);
  return out;
}

// One squeue field (%i, %j, …) of a job.
std::string SqueueField(char f, const json& j, int64_t now_ms) {
  std::string state = j.value("state", "");
  switch (f) {
    case 'i': case 'A': return std::to_string(j.value("id", int64_t{0}));
    case 'P': return j.value("partition", "");
    case 'j': return j.value("name", "");
    case 'u': return j.value("user", "");
    case 'a': return j.value("account", "");
    case 't': return j.value("state_code", "");
    case 'T': return state;
    case 'M': return FormatDuration(ElapsedS(j, now_ms));
    case 'l': return FormatDuration(j.value("time_limit_s", int64_t{0}));
    case 'D': return std::to_string(std::max<int>(j.value("nodes_min", 1),
                                                  static_cast<int>(j.value("node_names", json::array()).size())));
    case 'C': return std::to_string(j.value("cpus", 0));
    case 'b': return "gpu:" + std::to_string(j.value("gpus", 0));
    case 'N': return NodeList(j);
    case 'r': return j.value("reason", "None");
    case 'R': return state == "PENDING" ? "(" + j.value("reason", "None") + ")" : NodeList(j);
    case 'V': return FormatTime(j.value("submit_ms", int64_t{0}));
    case 'S': return state == "PENDING" ? "N/A" : FormatTime(j.value("start_ms", int64_t{0}));
    default: return std::string("%") + f;
  }
}

const std::map<char, std::string> kSqueueHeaders = {
    {'i', "JOBID"}, {'A', "JOBID"}, {'P', "PARTITION"}, {'j', "NAME"}, {'u', "USER"},
    {'a', "ACCOUNT"}, {'t', "ST"}, {'T', "STATE"}, {'M', "TIME"}, {'l', "TIME_LIMIT"},
    {'D', "NODES"}, {'C', "CPUS"}, {'b', "TRES_PER_NODE"}, {'N', "NODELIST"}, {'r', "REASON"},
    {'R', "NODELIST(REASON)"}, {'V', "SUBMIT_TIME"}, {'S', "START_TIME"}};

// Renders squeue's -o format: literal text and %[.][width]letter fields.
std::string RenderSqueue(const std::string& fmt, const json* job, int64_t now_ms) {
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%' || i + 1 >= fmt.size()) {
      out += fmt[i];
      continue;
    }
    ++i;
    bool right = false;
    if (fmt[i] == '.') { right = true; ++i; }
    int width = 0;
    while (i < fmt.size() && isdigit(static_cast<unsigned char>(fmt[i]))) width = width * 10 + (fmt[i++] - '0');
    if (i >= fmt.size()) break;
    char f = fmt[i];
    std::string v;
    if (job) v = SqueueField(f, *job, now_ms);
    else v = kSqueueHeaders.count(f) ? kSqueueHeaders.at(f) : std::string(1, f);
    out += width ? Column(v, right ? -width : width) : v;
  }
  return out;
}

}  // namespace

// ---- sbatch ------------------------------------------------------------------

int CmdSbatch(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  SbatchInput in;
  in.argv = args;
  in.env = Environment();
  in.cwd = Cwd();
  in.read_file = [&](const std::string& p) {
    return ReadPath(fs::path(p).is_absolute() ? p : (fs::path(in.cwd) / p).string());
  };
  // A script on standard input is read only when the command line names none.
  const std::string kProbe = "#!/gm-no-script-given\n";
  in.stdin_script = kProbe;
  auto req = ParseSbatch(in);
  if (req.ok() && req->spec.script == kProbe) {
    if (isatty(0)) return Fail("sbatch", "no batch script given (name a file, use --wrap, or pipe one in)");
    in.stdin_script.assign(std::istreambuf_iterator<char>(std::cin), {});
    req = ParseSbatch(in);
  }
  if (!req.ok()) return Fail("sbatch", req.status().message());
  SbatchRequest& r = *req;
  if (r.flags.help || r.flags.usage) {
    std::cout << SbatchUsage();
    return 0;
  }
  if (r.flags.version) {
    std::cout << "gridmint 0.1.0 (sbatch of Slurm 22.05 compatible)\n";
    return 0;
  }
  if (!r.flags.quiet)
    for (const auto& n : r.spec.notes) std::cerr << "sbatch: " << n << "\n";
  if (!r.stage_in.empty() || !r.stage_out.empty())
    return Fail("sbatch", "--gm-stage-in/--gm-stage-out are not supported by this version yet");
  if (r.flags.test_only) {
    if (r.flags.json) std::cout << TestOnlyJson(r.spec).dump() << "\n";
    else std::cerr << "sbatch: test only: job '" << r.spec.job_name << "' resolves to "
                   << TestOnlyJson(r.spec).dump() << "\n";
    return 0;
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail("sbatch", api.status().message());
  auto out = (*api)->Post("/api/v1/jobs", json{{"spec", r.spec}});
  if (!out.ok()) return Fail("sbatch", "Batch job submission failed: " + out.status().message());
  int64_t id = (*out)["job_id"].get<int64_t>();
  if (!r.flags.quiet)
    for (const auto& w : (*out)["warnings"]) std::cerr << "sbatch: warning: " << w.get<std::string>() << "\n";
  if (r.flags.parsable) std::cout << id << "\n";
  else if (!r.flags.quiet) std::cout << "Submitted batch job " << id << "\n";
  std::cout.flush();
  if (!r.flags.wait) return 0;
  json job;
  for (int delay = 100;; delay = std::min(delay * 2, 1000)) {
    auto j = (*api)->Get("/api/v1/jobs/" + std::to_string(id));
    if (!j.ok()) return Fail("sbatch", j.status().message());
    job = *j;
    if (IsTerminalName(job["state"])) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  }
  std::vector<std::string> written;
  Status fs_status = FetchOutputs(**api, id, "", false, &written);
  if (!fs_status.ok()) std::cerr << "sbatch: warning: fetching output: " << fs_status.message() << "\n";
  int code = job.value("exit_code", 0);
  if (code == 0 && job["state"] != "COMPLETED") code = 1;
  if (!r.flags.quiet && job["state"] != "COMPLETED")
    std::cerr << "sbatch: error: Batch job " << id << " " << job["state"].get<std::string>()
              << ", ExitCode " << ExitCode(job) << "\n";
  return code;
}

// ---- squeue ------------------------------------------------------------------

int CmdSqueue(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  std::string fmt = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R", users, jobs, states, parts;
  bool header = true, me = false, as_json = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& shrt, const std::string& lng, std::string* out) {
      if ((a == shrt || a == lng) && i + 1 < args.size()) { *out = args[++i]; return true; }
      if (!lng.empty() && a.rfind(lng + "=", 0) == 0) { *out = a.substr(lng.size() + 1); return true; }
      if (!shrt.empty() && a.size() > 2 && a.rfind(shrt, 0) == 0 && a[1] != '-') { *out = a.substr(2); return true; }
      return false;
    };
    if (a == "-h" || a == "--noheader") header = false;
    else if (a == "--me") me = true;
    else if (a == "--json") as_json = true;
    else if (a == "--help") {
      std::cout << "Usage: gm squeue [-h] [--me] [-u USERS] [-j JOBIDS] [-t STATES] [-p PARTITIONS]\n"
                   "                 [-o FORMAT] [--json]\n"
                   "Lists pending and running jobs, as Slurm's squeue does.\n";
      return 0;
    } else if (value("-u", "--user", &users) || value("-j", "--jobs", &jobs) ||
               value("-t", "--states", &states) || value("-p", "--partition", &parts) ||
               value("-o", "--format", &fmt)) {
    } else {
      return Fail("squeue", "unrecognized option '" + a + "'");
    }
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail("squeue", api.status().message());
  auto list = FetchJobs(**api);
  if (!list.ok()) return Fail("squeue", list.status().message());
  if (me) {
    auto who = (*api)->Get("/api/v1/whoami");
    if (!who.ok()) return Fail("squeue", who.status().message());
    users = (*who)["account"];
  }
  auto user_set = SplitSet(users), job_set = SplitSet(jobs), part_set = SplitSet(parts);
  std::set<std::string> state_set;
  for (std::string s : SplitSet(states)) {
    std::transform(s.begin(), s.end(), s.begin(), ::toupper);
    state_set.insert(s);
  }
  int64_t now = (*list).value("now_ms", NowMs());
  json selected = json::array();
  for (const auto& j : (*list)["jobs"]) {
    std::string st = j["state"], code = j["state_code"];
    if (state_set.empty() ? IsTerminalName(st)
                          : !(state_set.count(st) || state_set.count(code) || state_set.count("ALL")))
      continue;
    if (!user_set.empty() && !user_set.count(j["user"])) continue;
    if (!job_set.empty() && !job_set.count(std::to_string(j["id"].get<int64_t>()))) continue;
    if (!part_set.empty() && !part_set.count(j["partition"])) continue;
    selected.push_back(j);
  }
  if (as_json) {
    std::cout << json{{"jobs", selected}}.dump(2) << "\n";
    return 0;
  }
  if (header) std::cout << RenderSqueue(fmt, nullptr, now) << "\n";
  for (const auto& j : selected) std::cout << RenderSqueue(fmt, &j, now) << "\n";
  return 0;
}

// ---- scancel -----------------------------------------------------------------

int CmdScancel(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  std::vector<int64_t> ids;
  for (const auto& a : args) {
    if (a == "--help") {
      std::cout << "Usage: gm scancel JOBID...\nCancels pending and running jobs.\n";
      return 0;
    }
    char* end = nullptr;
    long long id = std::strtoll(a.c_str(), &end, 10);
    if (a.empty() || *end || id <= 0) return Fail("scancel", "Invalid job id " + a);
    ids.push_back(id);
  }
  if (ids.empty()) return Fail("scancel", "No job identification provided");
  auto api = Connect(conn);
  if (!api.ok()) return Fail("scancel", api.status().message());
  int rc = 0;
  for (int64_t id : ids) {
    auto r = (*api)->Post("/api/v1/jobs/" + std::to_string(id) + "/cancel", json::object());
    if (!r.ok()) {
      std::cerr << "scancel: error: Kill job error on job id " << id << ": " << r.status().message() << "\n";
      rc = 1;
    }
  }
  return rc;
}

// ---- sinfo -------------------------------------------------------------------

int CmdSinfo(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  bool node_oriented = false, header = true, as_json = false;
  for (const auto& a : args) {
    if (a == "-N" || a == "--Node") node_oriented = true;
    else if (a == "-h" || a == "--noheader") header = false;
    else if (a == "--json") as_json = true;
    else if (a == "--help") {
      std::cout << "Usage: gm sinfo [-N] [-h] [--json]\nShows partitions and nodes, as Slurm's sinfo does.\n";
      return 0;
    } else return Fail("sinfo", "unrecognized option '" + a + "'");
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail("sinfo", api.status().message());
  auto r = (*api)->Get("/api/v1/nodes");
  if (!r.ok()) return Fail("sinfo", r.status().message());
  if (as_json) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  std::string part = (*r)["partition"];
  std::string limit = FormatDuration((*r)["max_time_limit_s"].get<int64_t>());
  if (node_oriented) {
    if (header) std::cout << "NODELIST   NODES PARTITION STATE \n";
    for (const auto& n : (*r)["nodes"])
      std::cout << Column(n["name"], 10) << " " << Column("1", -5) << " " << Column(part + "*", 9) << " "
                << Column(n["state"], 6) << "\n";
    return 0;
  }
  std::map<std::string, std::vector<std::string>> by_state;
  for (const auto& n : (*r)["nodes"]) by_state[n["state"]].push_back(n["name"]);
  int pw = std::max<int>(9, static_cast<int>(part.size()) + 1);
  if (header)
    std::cout << Column("PARTITION", pw) << " AVAIL  TIMELIMIT  NODES  STATE NODELIST\n";
  if (by_state.empty())
    std::cout << Column(part + "*", pw) << " " << Column("up", -5) << " " << Column(limit, -10) << " "
              << Column("0", -6) << " " << Column("n/a", -6) << " \n";
  for (const auto& [state, names] : by_state)
    std::cout << Column(part + "*", pw) << " " << Column("up", -5) << " " << Column(limit, -10) << " "
              << Column(std::to_string(names.size()), -6) << " " << Column(state, -6) << " "
              << CompressHostlist(names) << "\n";
  return 0;
}

// ---- sacct -------------------------------------------------------------------

int CmdSacct(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  std::string jobs, format = "JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode";
  bool header = true, parsable = false, all_users = false, as_json = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-n" || a == "--noheader") header = false;
    else if (a == "-P" || a == "--parsable2") parsable = true;
    else if (a == "-a" || a == "--allusers") all_users = true;
    else if (a == "-X" || a == "--allocations") {}
    else if (a == "--json") as_json = true;
    else if ((a == "-j" || a == "--jobs") && i + 1 < args.size()) jobs = args[++i];
    else if (a.rfind("--jobs=", 0) == 0) jobs = a.substr(7);
    else if ((a == "-o" || a == "--format") && i + 1 < args.size()) format = args[++i];
    else if (a.rfind("--format=", 0) == 0) format = a.substr(9);
    else if (a == "--help") {
      std::cout << "Usage: gm sacct [-j JOBIDS] [-a] [-n] [-P] [-X] [--format FIELDS] [--json]\n"
                   "Shows finished and running jobs, as Slurm's sacct does.\n";
      return 0;
    } else return Fail("sacct", "unrecognized option '" + a + "'");
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail("sacct", api.status().message());
  auto list = FetchJobs(**api);
  if (!list.ok()) return Fail("sacct", list.status().message());
  std::string me;
  if (!all_users) {
    auto who = (*api)->Get("/api/v1/whoami");
    if (!who.ok()) return Fail("sacct", who.status().message());
    me = (*who)["account"];
  }
  auto job_set = SplitSet(jobs);
  int64_t now = (*list).value("now_ms", NowMs());
  struct Field { std::string name; int width; std::function<std::string(const json&)> get; };
  const std::vector<Field> known = {
      {"JobID", 12, [](const json& j) { return std::to_string(j["id"].get<int64_t>()); }},
      {"JobName", -10, [](const json& j) { return j.value("name", ""); }},
      {"Partition", -10, [](const json& j) { return j.value("partition", ""); }},
      {"Account", -10, [](const json& j) { return j.value("account", ""); }},
      {"User", -9, [](const json& j) { return j.value("user", ""); }},
      {"AllocCPUS", -10, [](const json& j) { return std::to_string(j.value("cpus", 0)); }},
      {"AllocNodes", -10, [](const json& j) { return std::to_string(j.value("node_names", json::array()).size()); }},
      {"NNodes", -8, [](const json& j) { return std::to_string(j.value("nodes_min", 1)); }},
      {"NodeList", -15, [](const json& j) { return NodeList(j); }},
      {"State", -10, [](const json& j) { return j.value("state", ""); }},
      {"ExitCode", -8, [](const json& j) { return ExitCode(j); }},
      {"Elapsed", -10, [now](const json& j) { return FormatDuration(ElapsedS(j, now)); }},
      {"Timelimit", -10, [](const json& j) { return FormatDuration(j.value("time_limit_s", int64_t{0})); }},
      {"Submit", -19, [](const json& j) { return FormatTime(j.value("submit_ms", int64_t{0})); }},
      {"Start", -19, [](const json& j) { return FormatTime(j.value("start_ms", int64_t{0})); }},
      {"End", -19, [](const json& j) { return FormatTime(j.value("end_ms", int64_t{0})); }},
      {"Restarts", -8, [](const json& j) { return std::to_string(j.value("attempt", 0)); }},
      {"Charged", -14, [](const json& j) { return FormatTokens(j.value("charged", Micros{0})); }},
      {"Fee", -14, [](const json& j) { return FormatTokens(j.value("fee", Micros{0})); }},
      {"Refunded", -14, [](const json& j) { return FormatTokens(j.value("refunded", Micros{0})); }},
      {"Providers", -30, [](const json& j) { return Providers(j); }},
  };
  std::vector<const Field*> cols;
  for (std::string name : SplitList(format)) {
    int width = 0;
    auto pct = name.find('%');
    if (pct != std::string::npos) { width = std::atoi(name.c_str() + pct + 1); name = name.substr(0, pct); }
    const Field* f = nullptr;
    for (const auto& k : known)
      if (strcasecmp(k.name.c_str(), name.c_str()) == 0) f = &k;
    if (!f) return Fail("sacct", "Invalid field requested: \"" + name + "\"");
    cols.push_back(f);
    (void)width;
  }
  json selected = json::array();
  for (const auto& j : (*list)["jobs"]) {
    if (!me.empty() && j["user"] != me) continue;
    if (!job_set.empty() && !job_set.count(std::to_string(j["id"].get<int64_t>()))) continue;
    selected.push_back(j);
  }
  if (as_json) {
    std::cout << json{{"jobs", selected}}.dump(2) << "\n";
    return 0;
  }
  auto emit = [&](const std::function<std::string(const Field&)>& value) {
    std::string line;
    for (size_t c = 0; c < cols.size(); ++c) {
      if (parsable) line += (c ? "|" : "") + value(*cols[c]);
      else line += Column(value(*cols[c]), cols[c]->width == 12 ? 12 : cols[c]->width) + " ";
    }
    std::cout << line << "\n";
  };
  if (header) {
    emit([](const Field& f) { return f.name; });
    if (!parsable) emit([](const Field& f) { return std::string(std::abs(f.width), '-'); });
  }
  for (const auto& j : selected) emit([&](const Field& f) { return f.get(j); });
  return 0;
}

// ---- fetch -------------------------------------------------------------------

Status FetchOutputs(ApiClient& api, int64_t job_id, const std::string& dest_dir, bool progress,
                    std::vector<std::string>* written) {
  std::string base = "/api/v1/jobs/" + std::to_string(job_id);
  GM_ASSIGN_OR_RETURN(json job, api.Get(base));
  GM_ASSIGN_OR_RETURN(json list, api.Get(base + "/outputs"));
  std::string submit_dir = job.value("submit_dir", Cwd());
  for (const auto& o : list["outputs"]) {
    std::string name = o["name"];
    fs::path target = dest_dir.empty()
                          ? (fs::path(name).is_absolute() ? fs::path(name) : fs::path(submit_dir) / name)
                          : fs::path(dest_dir) / fs::path(name).filename();
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    std::string tmp = target.string() + ".gm-part";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return Status::IOError("cannot write " + tmp);
    int64_t total = o.value("size", int64_t{0});
    Status s = api.Download(
        base + "/output?name=" + UrlEncode(name),
        [&](const char* d, size_t n) { out.write(d, static_cast<std::streamsize>(n)); return out.good(); },
        [&](uint64_t done, uint64_t) {
          if (!progress || total <= 0) return;
          int pct = static_cast<int>(100 * done / static_cast<uint64_t>(total));
          std::cerr << "\r[" << std::string(pct / 5, '#') << std::string(20 - pct / 5, ' ') << "] "
                    << pct << "% " << fs::path(name).filename().string() << std::flush;
        });
    out.close();
    if (progress && total > 0) std::cerr << "\n";
    if (!s.ok()) {
      fs::remove(tmp, ec);
      return s;
    }
    fs::rename(tmp, target, ec);
    if (ec) return Status::IOError("cannot write " + target.string() + ": " + ec.message());
    written->push_back(target.string());
  }
  return Status::OK();
}

int CmdFetch(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  std::string dest;
  int64_t id = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--dest" && i + 1 < args.size()) dest = args[++i];
    else if (args[i].rfind("--dest=", 0) == 0) dest = args[i].substr(7);
    else if (args[i] == "--help") {
      std::cout << "Usage: gm fetch JOBID [--dest DIR]\n"
                   "Downloads a job's output files: into DIR, or to the paths the job named\n"
                   "(relative ones against the directory it was submitted from).\n";
      return 0;
    } else if (id == 0 && std::all_of(args[i].begin(), args[i].end(), ::isdigit) && !args[i].empty())
      id = std::stoll(args[i]);
    else return Fail("fetch", "unexpected argument '" + args[i] + "'");
  }
  if (id <= 0) return Fail("fetch", "name the job: gm fetch JOBID [--dest DIR]");
  auto api = Connect(conn, 120);
  if (!api.ok()) return Fail("fetch", api.status().message());
  std::vector<std::string> written;
  Status s = FetchOutputs(**api, id, dest, isatty(2), &written);
  if (!s.ok()) return Fail("fetch", s.message());
  for (const auto& w : written) std::cout << w << "\n";
  if (written.empty()) std::cerr << "fetch: job " << id << " has no output files (yet)\n";
  return 0;
}

}  // namespace gm::cli

namespace gm::cli {

namespace {

// scontrol prints run times as [days-]HH:MM:SS.
std::string ClockTime(int64_t s) {
  char buf[48];
  if (s >= 86400)
    snprintf(buf, sizeof buf, "%lld-%02lld:%02lld:%02lld", static_cast<long long>(s / 86400),
             static_cast<long long>(s / 3600 % 24), static_cast<long long>(s / 60 % 60),
             static_cast<long long>(s % 60));
  else
    snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", static_cast<long long>(s / 3600),
             static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  return buf;
}

void ShowJob(const json& j, int64_t now_ms) {
  const json& spec = j["spec"];
  std::string nodes = NodeList(j);
  auto names = j.value("node_names", std::vector<std::string>{});
  std::string out = spec.value("output", ""), err = spec.value("error", "");
  std::cout << "JobId=" << j["id"].get<int64_t>() << " JobName=" << j["name"].get<std::string>() << "\n"
            << "   UserId=" << j["user"].get<std::string>() << " Account=" << j["account"].get<std::string>()
            << "\n"
            << "   JobState=" << j["state"].get<std::string>() << " Reason=" << j.value("reason", "None")
            << " Dependency=" << (spec.value("dependency", "").empty() ? "(null)" : spec["dependency"].get<std::string>())
            << "\n"
            << "   Restarts=" << j.value("attempt", 0) << " BatchFlag=1 ExitCode=" << ExitCode(j) << "\n"
            << "   RunTime=" << ClockTime(ElapsedS(j, now_ms))
            << " TimeLimit=" << ClockTime(j.value("time_limit_s", int64_t{0})) << "\n"
            << "   SubmitTime=" << FormatTime(j.value("submit_ms", int64_t{0}))
            << " StartTime=" << FormatTime(j.value("start_ms", int64_t{0}))
            << " EndTime=" << FormatTime(j.value("end_ms", int64_t{0})) << "\n"
            << "   Partition=" << j.value("partition", "") << "\n"
            << "   NodeList=" << (nodes.empty() ? "(null)" : nodes)
            << " BatchHost=" << (names.empty() ? "(null)" : names[0]) << "\n"
            << "   NumNodes=" << j.value("nodes_min", 1) << " NumCPUs=" << j.value("cpus", 0)
            << " CPUs/Task=" << spec.value("cpus_per_task", 1) << "\n"
            << "   TRES=cpu=" << j.value("cpus", 0) << ",node=" << names.size()
            << ",gres/gpu=" << j.value("gpus", 0) << "\n"
            << "   WorkDir=" << j.value("submit_dir", "") << "\n"
            << "   StdErr=" << (err.empty() ? (out.empty() ? "slurm-%j.out" : out) : err) << "\n"
            << "   StdOut=" << (out.empty() ? "slurm-%j.out" : out) << "\n"
            << "   Charged=" << FormatTokens(j.value("charged", Micros{0}))
            << " Fee=" << FormatTokens(j.value("fee", Micros{0}))
            << " Refunded=" << FormatTokens(j.value("refunded", Micros{0}))
            << " Held=" << FormatTokens(j.value("held", Micros{0})) << "\n"
            << "   Providers=" << (Providers(j).empty() ? "(null)" : Providers(j)) << "\n\n";
}

void ShowNode(const json& n) {
  std::cout << "NodeName=" << n["name"].get<std::string>() << " NodeId=" << n["id"].get<std::string>()
            << " Provider=" << n["provider"].get<std::string>() << "\n"
            << "   CPUAlloc=" << n.value("cpus_used", 0) << " CPUTot=" << n.value("cpus", 0)
            << " RealMemory=" << n.value("mem_mb", int64_t{0}) << "\n"
            << "   Gres=gpu:" << n.value("gpu_model", "") << ":" << n.value("gpus", 0)
            << (n.value("declared", false) ? "(declared)" : "") << " GresUsed=gpu:"
            << n.value("gpus", 0) - n.value("gpus_free", 0) << "\n"
            << "   State=" << n["state"].get<std::string>() << " Region=" << n.value("region", "")
            << " Site=" << n.value("site", "") << "\n"
            << "   Price=" << FormatTokens(n.value("price", Micros{0})) << "/GPU-hour\n\n";
}

}  // namespace

int CmdScontrol(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  if (args.empty() || args[0] == "--help") {
    std::cout << "Usage: gm scontrol show job [JOBID] | show node [NAME]\n";
    return args.empty() ? 2 : 0;
  }
  if (args[0] != "show" || args.size() < 2 || (args[1] != "job" && args[1] != "node"))
    return Fail("scontrol", "invalid entity or command: " + args[0] + " (supported: show job, show node)");
  auto api = Connect(conn);
  if (!api.ok()) return Fail("scontrol", api.status().message());
  if (args[1] == "node") {
    auto r = (*api)->Get("/api/v1/nodes");
    if (!r.ok()) return Fail("scontrol", r.status().message());
    int shown = 0;
    for (const auto& n : (*r)["nodes"])
      if (args.size() < 3 || n["name"] == args[2]) { ShowNode(n); ++shown; }
    if (args.size() >= 3 && shown == 0) return Fail("scontrol", "Node " + args[2] + " not found");
    return 0;
  }
  std::vector<int64_t> ids;
  if (args.size() >= 3) {
    char* end = nullptr;
    long long id = std::strtoll(args[2].c_str(), &end, 10);
    if (*end || id <= 0) return Fail("scontrol", "Invalid job id specified");
    ids.push_back(id);
  } else {
    auto list = FetchJobs(**api);
    if (!list.ok()) return Fail("scontrol", list.status().message());
    for (const auto& j : (*list)["jobs"])
      if (!IsTerminalName(j["state"])) ids.push_back(j["id"].get<int64_t>());
    if (ids.empty()) {
      std::cout << "No jobs in the system\n";
      return 0;
    }
  }
  for (int64_t id : ids) {
    auto j = (*api)->Get("/api/v1/jobs/" + std::to_string(id));
    if (!j.ok()) return Fail("scontrol", j.status().message());
    ShowJob(*j, NowMs());
  }
  return 0;
}

}  // namespace gm::cli
