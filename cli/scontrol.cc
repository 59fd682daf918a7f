// gm scontrol: show job|node|partition, and hold, release, requeue and
// update of jobs, through the controller's job API.
#include <iostream>
#include <optional>
#include <sstream>

#include "cli/cli.h"
#include "cli/format.h"
#include "common/hostlist.h"
#include "common/money.h"
#include "common/slurm_time.h"

namespace gm::cli {

namespace {

constexpr const char* kScontrolUsage = R"(Usage: gm scontrol COMMAND [ARGS]

Commands:
  show job [JOBID]               a job's details (default: every pending or running job)
  show node [NAME]               a node's details (default: every node)
  show partition [NAME]          a partition's limits and nodes (default: every partition)
  hold JOBID[,JOBID...]          keep pending jobs from starting
  release JOBID[,JOBID...]       let held jobs start
  requeue JOBID[,JOBID...]       stop running jobs and queue them again (the time run is charged)
  update JobId=JOBID [TimeLimit=TIME] [Nice=N] [QOS=NAME] [Partition=NAME] [MaxPrice=TOKENS]
                                 change a pending job (raising TimeLimit needs an admin)
  update NodeName=NODES State=DRAIN Reason=TEXT
  update NodeName=NODES State=RESUME|UNDRAIN
                                 drain or resume nodes (a hostlist: node[1-3]); the same as
                                 gm node drain/resume; needs an admin or the nodes' provider

Options:
  --help                         show this help
)";

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

std::string OrNull(const std::string& s) { return s.empty() ? "(null)" : s; }

void ShowJob(const json& j, int64_t now_ms) {
  const json& spec = j["spec"];
  std::string nodes = JobNodeList(j);
  auto names = j.value("node_names", std::vector<std::string>{});
  std::string out = spec.value("output", ""), err = spec.value("error", "");
  int64_t limit = j.value("time_limit_s", int64_t{0});
  std::cout << "JobId=" << j["id"].get<int64_t>() << " JobName=" << j["name"].get<std::string>() << "\n";
  if (j.value("array_job_id", int64_t{0}) > 0)
    std::cout << "   ArrayJobId=" << j["array_job_id"].get<int64_t>() << " ArrayTaskId=" << j.value("array_task_id", 0)
              << "\n";
  std::cout << "   UserId=" << j["user"].get<std::string>() << " Account=" << j["account"].get<std::string>()
            << " QOS=" << j.value("qos", "normal") << " Nice=" << j.value("nice", 0) << "\n"
            << "   JobState=" << j["state"].get<std::string>() << " Reason=" << j.value("reason", "None")
            << " Dependency=" << OrNull(spec.value("dependency", "")) << "\n"
            << "   Requeue=" << (spec.value("requeue", json(true)).is_boolean() && !spec["requeue"].get<bool>() ? 0 : 1)
            << " Restarts=" << j.value("attempt", 0) << " BatchFlag=1 ExitCode=" << JobExitCode(j) << "\n"
            << "   RunTime=" << ClockTime(JobElapsedS(j, now_ms))
            << " TimeLimit=" << (limit > 0 ? ClockTime(limit) : "UNLIMITED") << "\n"
            << "   SubmitTime=" << FormatTime(j.value("submit_ms", int64_t{0}))
            << " StartTime=" << FormatTime(j.value("start_ms", int64_t{0}))
            << " EndTime=" << FormatTime(j.value("end_ms", int64_t{0})) << "\n"
            << "   Partition=" << j.value("partition", "") << "\n"
            << "   NodeList=" << OrNull(nodes) << " BatchHost=" << (names.empty() ? "(null)" : names[0]) << "\n"
            << "   NumNodes=" << j.value("nodes_min", 1) << " NumCPUs=" << j.value("cpus", 0)
            << " CPUs/Task=" << spec.value("cpus_per_task", 1) << "\n"
            << "   TRES=cpu=" << j.value("cpus", 0) << ",node=" << names.size()
            << ",gres/gpu=" << j.value("gpus", 0) << "\n"
            << "   Features=" << OrNull(spec.value("constraint", ""))
            << " OverSubscribe=" << (spec.value("exclusive", false) ? "NO" : "OK") << "\n"
            << "   WorkDir=" << j.value("submit_dir", "") << "\n"
            << "   StdErr=" << (err.empty() ? (out.empty() ? "slurm-%j.out" : out) : err) << "\n"
            << "   StdOut=" << (out.empty() ? "slurm-%j.out" : out) << "\n"
            << "   Charged=" << FormatTokens(j.value("charged", Micros{0}))
            << " Fee=" << FormatTokens(j.value("fee", Micros{0}))
            << " Burned=" << FormatTokens(j.value("burned", Micros{0}))
            << " Refunded=" << FormatTokens(j.value("refunded", Micros{0}))
            << " Held=" << FormatTokens(j.value("held", Micros{0})) << "\n"
            << "   Providers=" << OrNull(JobProviders(j)) << "\n\n";
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
            << "   Price=" << FormatTokens(n.value("price", Micros{0})) << "/GPU-hour\n";
  // As Slurm: Reason=TEXT [USER@TIME] for a drained node.
  std::string reason = n.value("drain_reason", "");
  if (!reason.empty()) {
    int64_t at = n.value("drain_time_ms", int64_t{0});
    std::cout << "   Reason=" << reason << " [" << n.value("drain_user", "gmctld") << "@"
              << (at > 0 ? FormatTime(at) : "Unknown") << "]\n";
  }
  std::cout << "\n";
}

void ShowPartition(const json& p, const json& nodes) {
  std::string name = p.value("name", "");
  std::vector<std::string> members;
  int64_t cpus = 0, gpus = 0;
  for (const auto& n : nodes) {
    bool in = false;
    for (const auto& pn : n.value("partitions", json::array())) in = in || pn == name;
    if (!in) continue;
    members.push_back(n.value("name", ""));
    cpus += n.value("cpus", 0);
    gpus += n.value("gpus", 0);
  }
  int64_t def = p.value("default_time_s", int64_t{0}), max = p.value("max_time_s", int64_t{0});
  std::cout << "PartitionName=" << name << "\n"
            << "   Default=" << (p.value("default", false) ? "YES" : "NO") << " MinTrust=" << p.value("min_trust", 1)
            << "\n"
            << "   DefaultTime=" << (def > 0 ? ClockTime(def) : "NONE")
            << " MaxTime=" << (max > 0 ? ClockTime(max) : "UNLIMITED") << "\n"
            << "   Nodes=" << OrNull(members.empty() ? "" : CompressHostlist(members)) << "\n"
            << "   State=UP TotalNodes=" << members.size() << " TotalCPUs=" << cpus << " TotalGPUs=" << gpus
            << "\n\n";
}

std::vector<std::string> JobIds(const std::vector<std::string>& args, size_t from) {
  std::vector<std::string> ids;
  for (size_t i = from; i < args.size(); ++i) {
    std::stringstream ss(args[i]);
    std::string id;
    while (std::getline(ss, id, ',')) if (!id.empty()) ids.push_back(id);
  }
  return ids;
}

bool IsId(const std::string& s) {
  return !s.empty() && s.size() < 19 && s.find_first_not_of("0123456789") == std::string::npos;
}

int Show(ApiClient& api, const std::vector<std::string>& args) {
  const std::string& what = args[1];
  if (what == "node" || what == "nodes" || what == "partition" || what == "partitions") {
    auto r = api.Get("/api/v1/nodes");
    if (!r.ok()) return Fail("scontrol", r.status().message());
    int shown = 0;
    bool nodes = what.rfind("node", 0) == 0;
    for (const auto& item : (*r)[nodes ? "nodes" : "partitions"])
      if (args.size() < 3 || item["name"] == args[2]) {
        if (nodes) ShowNode(item);
        else ShowPartition(item, (*r)["nodes"]);
        ++shown;
      }
    if (args.size() >= 3 && shown == 0)
      return Fail("scontrol", std::string(nodes ? "Node " : "Partition ") + args[2] + " not found");
    return 0;
  }
  std::vector<std::string> ids;
  if (args.size() >= 3) {
    if (!IsId(args[2])) return Fail("scontrol", "Invalid job id specified");
    ids.push_back(args[2]);
  } else {
    auto list = api.Get("/api/v1/jobs");
    if (!list.ok()) return Fail("scontrol", list.status().message());
    for (const auto& j : (*list)["jobs"]) {
      std::string st = j["state"];
      if (st == "PENDING" || st == "RUNNING" || st == "COMPLETING") ids.push_back(std::to_string(j["id"].get<int64_t>()));
    }
    if (ids.empty()) {
      std::cout << "No jobs in the system\n";
      return 0;
    }
  }
  for (const auto& id : ids) {
    auto j = api.Get("/api/v1/jobs/" + id);
    if (!j.ok()) return Fail("scontrol", j.status().message());
    ShowJob(*j, NowMs());
  }
  return 0;
}

int Control(ApiClient& api, const std::string& verb, const std::vector<std::string>& args) {
  auto ids = JobIds(args, 1);
  if (ids.empty()) return Fail("scontrol", "no job id given: gm scontrol " + verb + " JOBID");
  int rc = 0;
  for (const auto& id : ids) {
    if (!IsId(id)) return Fail("scontrol", "Invalid job id specified: " + id);
    auto r = api.Post("/api/v1/jobs/" + id + "/" + verb, json::object());
    if (!r.ok()) {
      std::cerr << "scontrol: error: " << verb << " of job " << id << ": " << r.status().message() << "\n";
      rc = 1;
    }
  }
  return rc;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsNodeUpdate(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); ++i)
    if (Lower(args[i]).rfind("nodename=", 0) == 0) return true;
  return false;
}

// Checks a node update as Slurm's scontrol does, before anything is sent.
struct NodeUpdate {
  std::vector<std::string> nodes;
  std::string verb;  // drain or resume
  json body = json::object();
};

Result<NodeUpdate> ParseNodeUpdate(const std::vector<std::string>& args) {
  NodeUpdate u;
  std::string names, state;
  bool has_reason = false;
  std::string reason;
  for (size_t i = 1; i < args.size(); ++i) {
    size_t eq = args[i].find('=');
    if (eq == std::string::npos)
      return Status::InvalidArgument("Invalid input: " + args[i] + "\nRequest aborted");
    std::string key = Lower(args[i].substr(0, eq)), value = args[i].substr(eq + 1);
    if (key == "nodename" || key == "node") names = value;
    else if (key == "state") state = Lower(value);
    else if (key == "reason") {
      reason = value;
      has_reason = true;
    } else {
      return Status::InvalidArgument("Update of node " + args[i].substr(0, eq) + " is not supported by GridMint "
                                     "(State and Reason are)");
    }
  }
  if (names.empty()) return Status::InvalidArgument("update needs NodeName=NODES");
  auto expanded = ExpandHostlist(names);
  if (!expanded.ok() || expanded->empty()) return Status::InvalidArgument("Invalid node name specified: " + names);
  u.nodes = *expanded;
  if (state == "drain") {
    if (!has_reason || reason.find_first_not_of(" \t") == std::string::npos)
      return Status::InvalidArgument("You must specify a reason when DOWNING or DRAINING a node. Request denied");
    u.verb = "drain";
    u.body["reason"] = reason;
  } else if (state == "resume" || state == "undrain") {
    u.verb = "resume";
  } else if (state.empty()) {
    return Status::InvalidArgument("No changes specified (GridMint updates a node's State: DRAIN, RESUME, UNDRAIN)");
  } else {
    return Status::InvalidArgument("Invalid input: State=" + state +
                                   "\nRequest aborted\n Valid states are: DRAIN RESUME UNDRAIN");
  }
  return u;
}

int UpdateNodes(ApiClient& api, const NodeUpdate& u) {
  int rc = 0;
  for (const auto& node : u.nodes) {
    std::string err = NodeControl(api, node, u.verb, u.body, nullptr);
    if (err.empty()) continue;
    std::cerr << "scontrol: error: update of node " << node << ": " << err << "\n";
    rc = 1;
  }
  return rc;
}

int Update(ApiClient& api, const std::vector<std::string>& args) {
  std::string id;
  json body = json::object();
  for (size_t i = 1; i < args.size(); ++i) {
    size_t eq = args[i].find('=');
    if (eq == std::string::npos) return Fail("scontrol", "Invalid input: " + args[i] + " (expected KEY=VALUE)");
    std::string key = args[i].substr(0, eq), value = args[i].substr(eq + 1);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (key == "jobid" || key == "job") {
      id = value;
    } else if (key == "timelimit") {
      auto t = ParseTimeLimit(value);
      if (!t.ok()) return Fail("scontrol", "Invalid TimeLimit value: " + value);
      if (!t->has_value()) return Fail("scontrol", "TimeLimit=UNLIMITED is not available on GridMint");
      body["time_limit_s"] = **t;
    } else if (key == "nice") {
      char* end = nullptr;
      long n = std::strtol(value.c_str(), &end, 10);
      if (value.empty() || *end) return Fail("scontrol", "Invalid Nice value: " + value);
      body["nice"] = n;
    } else if (key == "qos") {
      body["qos"] = value;
    } else if (key == "partition") {
      body["partition"] = value;
    } else if (key == "maxprice" || key == "gmmaxprice") {
      auto p = ParseTokens(value, "MaxPrice");
      if (!p.ok()) return Fail("scontrol", p.status().message());
      body["max_price"] = *p;
    } else {
      return Fail("scontrol", "Update of " + args[i].substr(0, eq) + " is not supported by GridMint");
    }
  }
  if (!IsId(id)) return Fail("scontrol", "update needs JobId=JOBID");
  if (body.empty()) return Fail("scontrol", "No changes specified");
  auto r = api.Post("/api/v1/jobs/" + id + "/update", body);
  if (!r.ok()) return Fail("scontrol", r.status().message());
  return 0;
}

}  // namespace

int CmdScontrol(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  if (args.empty()) {
    std::cerr << kScontrolUsage;
    return 1;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kScontrolUsage;
    return 0;
  }
  const std::string& verb = args[0];
  bool show = verb == "show" && args.size() >= 2;
  if (!show && verb != "hold" && verb != "release" && verb != "requeue" && verb != "update")
    return Fail("scontrol", "invalid entity or command: " + verb + " (supported: show, hold, release, requeue, update)");
  if (show && args[1] != "job" && args[1] != "jobs" && args[1] != "node" && args[1] != "nodes" &&
      args[1] != "partition" && args[1] != "partitions")
    return Fail("scontrol", "invalid entity: " + args[1] + " for keyword: show");
  std::optional<NodeUpdate> node_update;
  if (verb == "update" && IsNodeUpdate(args)) {
    auto u = ParseNodeUpdate(args);
    if (!u.ok()) return Fail("scontrol", u.status().message());
    node_update = *u;
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail("scontrol", api.status().message());
  if (show) return Show(**api, args);
  if (node_update) return UpdateNodes(**api, *node_update);
  if (verb == "update") return Update(**api, args);
  return Control(**api, verb, args);
}

}  // namespace gm::cli
