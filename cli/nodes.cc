// gm node (list, show, drain, resume, detach) and gm sprio: managing provider
// nodes through the controller's node API, and Slurm's view of pending jobs'
// priority factors. What they print is cli/format.cc (pure, tested there).
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "cli/format.h"
#include "cli/options.h"
#include "common/hostlist.h"
#include "common/money.h"

namespace gm::cli {

namespace {

constexpr const char* kNodeUsage = R"(Usage:
  gm node list [--json]                     every node: state, GPUs, price, verification, drain reason
  gm node show NODE [--json]                one node's attributes, verification figures and history
  gm node drain NODE --reason TEXT          take no new jobs on NODE (running ones finish)
  gm node resume NODE                       take jobs again (also cancels a pending detach)
  gm node detach NODE [--reason TEXT]       leave the federation: drained now, detached once idle

NODE is a node's name (node1) or id (n1). drain, resume and detach need an
admin token or a token of the node's provider account; a reason is required
to drain, as with Slurm's 'scontrol update nodename=X state=drain reason=...'.
A detached node's gmd can no longer reach the controller; its provider may
attach the machine again under the same name ('gmd attach').
)";

std::string Gpus(const json& n) {
  int gpus = n.value("gpus", 0);
  if (gpus <= 0) return "(none)";
  return "gpu:" + n.value("gpu_model", std::string()) + ":" + std::to_string(gpus) +
         (n.value("declared", false) ? " (declared)" : "");
}

std::string DetailText(const json& d) {
  if (!d.is_object()) return d.dump();
  std::string out;
  for (const auto& [k, v] : d.items())
    out += (out.empty() ? "" : " ") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  return out;
}

void PrintNode(const json& n, const json& events) {
  auto line = [](const std::string& k, const std::string& v) { std::cout << Column(k + ":", 18) << v << "\n"; };
  line("Name", n.value("name", ""));
  line("Id", n.value("id", ""));
  line("Provider", n.value("provider", ""));
  line("State", n.value("state", "") + (n.value("up", true) ? "" : " (not responding)"));
  line("Verification", n.value("verification", ""));
  double tflops = n.value("tflops", 0.0);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", tflops);
  line("Measured TFLOPS", tflops > 0 ? buf : "not measured");
  line("GPUs", Gpus(n) + ", " + std::to_string(n.value("gpus_free", 0)) + " free, " +
                   std::to_string(n.value("gpu_mem_mb", int64_t{0})) + " MB each");
  line("CPUs", std::to_string(n.value("cpus_used", 0)) + " of " + std::to_string(n.value("cpus", 0)) + " in use");
  line("Memory", std::to_string(n.value("mem_mb", int64_t{0})) + " MB");
  line("Price", FormatTokens(n.value("price", Micros{0})) + " tokens per GPU-hour");
  line("Region/Site", n.value("region", "") + " / " + n.value("site", "") + " (group " + n.value("group", "") + ")");
  std::snprintf(buf, sizeof buf, "%.3f", n.value("reputation", 0.0));
  line("Reputation", std::string(buf) + ", trust level " + std::to_string(n.value("trust_level", 1)));
  line("Stake", FormatTokens(n.value("stake", Micros{0})));
  std::string parts;
  for (const auto& p : n.value("partitions", json::array())) parts += (parts.empty() ? "" : ",") + p.get<std::string>();
  line("Partitions", parts.empty() ? "(none)" : parts);
  std::string jobs;
  for (const auto& j : n.value("jobs", json::array())) jobs += (jobs.empty() ? "" : ",") + j.dump();
  line("Jobs", jobs.empty() ? "(none)" : jobs);
  line("Last heartbeat", FormatTime(n.value("last_heartbeat_ms", int64_t{0})));
  if (n.value("drain", false)) {
    std::string reason = n.value("drain_reason", "");
    line("Drain reason", reason.empty() ? "(none)" : reason);
    int64_t at = n.value("drain_time_ms", int64_t{0});
    line("Drained", at > 0 ? FormatTime(at) + " by " + n.value("drain_user", "") : "Unknown (by the controller)");
  }
  if (n.contains("detach") && n["detach"].is_object()) {
    const json& d = n["detach"];
    int64_t done = d.value("done_ms", int64_t{0});
    line("Detach", (done > 0 ? "done " + FormatTime(done) : std::string("pending: leaves once its jobs end")) +
                       ", asked " + FormatTime(d.value("requested_ms", int64_t{0})) + " by " + d.value("by", ""));
  }
  std::cout << "\nHistory (newest first):\n";
  if (events.empty()) std::cout << "  (none)\n";
  for (const auto& e : events)
    std::cout << "  " << FormatTime(e.value("time_ms", int64_t{0})) << "  " << Column(e.value("kind", ""), 18) << " "
              << DetailText(e.value("detail", json())) << "\n";
}

// Takes "--reason TEXT" / "--reason=TEXT" and "--json" out of args.
Status TakeFlags(std::vector<std::string>& args, std::string* reason, bool* has_reason, bool* as_json) {
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--reason") {
      if (i + 1 >= args.size()) return Status::InvalidArgument("--reason needs a text");
      *reason = args[++i];
      *has_reason = true;
    } else if (a.rfind("--reason=", 0) == 0) {
      *reason = a.substr(9);
      *has_reason = true;
    } else if (a == "--json") {
      *as_json = true;
    } else if (a.rfind("--", 0) == 0 && a.size() > 2) {
      return Status::InvalidArgument("unrecognized option '" + a + "'");
    } else {
      rest.push_back(a);
    }
  }
  args = rest;
  return Status::OK();
}

}  // namespace

// One drain/resume/detach through the API; "" on success, else the error.
std::string NodeControl(ApiClient& api, const std::string& node, const std::string& verb, const json& body,
                        json* answer) {
  auto r = api.Post("/api/v1/nodes/" + UrlEncode(node) + "/" + verb, body);
  if (!r.ok()) return r.status().message();
  if (answer) *answer = *r;
  return "";
}

int CmdNode(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  if (args.empty()) {
    std::cerr << kNodeUsage;
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kNodeUsage;
    return 0;
  }
  std::string sub = args[0];
  args.erase(args.begin());
  std::string reason;
  bool has_reason = false, as_json = false;
  if (Status s = TakeFlags(args, &reason, &has_reason, &as_json); !s.ok()) return Fail("node", s.message(), 2);
  bool wants_node = sub == "show" || sub == "drain" || sub == "resume" || sub == "detach";
  if (sub != "list" && !wants_node) {
    std::cerr << kNodeUsage;
    return Fail("node", "unknown subcommand '" + sub + "' (list, show, drain, resume, detach)", 2);
  }
  if (wants_node && args.size() != 1) return Fail("node", "name one node: gm node " + sub + " NODE", 2);
  if (sub == "list" && !args.empty()) return Fail("node", "unexpected argument '" + args[0] + "'", 2);
  if (has_reason && sub != "drain" && sub != "detach")
    return Fail("node", "--reason belongs to drain and detach", 2);
  if (sub == "drain" && (!has_reason || reason.find_first_not_of(" \t") == std::string::npos))
    return Fail("node", "a reason is required to drain a node: gm node drain NODE --reason TEXT", 2);
  auto api = Connect(conn);
  if (!api.ok()) return Fail("node", api.status().message());
  if (sub == "list") {
    auto r = (*api)->Get("/api/v1/nodes");
    if (!r.ok()) return Fail("node", r.status().message());
    if (as_json) std::cout << (*r)["nodes"].dump(2) << "\n";
    else std::cout << RenderNodeList((*r)["nodes"]);
    return 0;
  }
  const std::string& node = args[0];
  if (sub == "show") {
    auto r = (*api)->Get("/api/v1/nodes/" + UrlEncode(node) + "/history");
    if (!r.ok()) return Fail("node", r.status().message());
    if (as_json) std::cout << r->dump(2) << "\n";
    else PrintNode((*r)["node"], (*r)["events"]);
    return 0;
  }
  json body = json::object();
  if (has_reason) body["reason"] = reason;
  json answer;
  std::string err = NodeControl(**api, node, sub, body, &answer);
  if (!err.empty()) return Fail("node", sub + " " + node + ": " + err);
  if (as_json) {
    std::cout << answer.dump(2) << "\n";
    return 0;
  }
  std::string name = answer.value("name", node), state = answer.value("state", "");
  if (sub == "detach" && state != "detached")
    std::cout << "node " << name << " is draining and will be detached when its "
              << answer.value("running_jobs", json::array()).size() << " running job(s) end\n";
  else
    std::cout << "node " << name << ": " << state << "\n";
  return 0;
}

// ---- sprio -----------------------------------------------------------------------

namespace {

const std::vector<OptSpec> kSprioOptions = {
    {'h', "noheader", false, "", "print no header line"},
    {0, "help", false, "", "show this help"},
    {'j', "jobs", true, "JOBIDS", "only these pending jobs (comma separated)"},
    {'l', "long", false, "", "long report: USER, every factor, NICE and TRES"},
    {'n', "norm", false, "", "normalized factors (0 to 1) instead of weighted ones"},
    {'o', "format", true, "FORMAT", "output format with sprio's % fields, e.g. \"%.15i %.8u %.10Y %N\""},
    {'p', "partition", true, "PARTITIONS", "only jobs in these partitions"},
    {'u', "user", true, "USERS", "only jobs of these users (adds the USER column)"},
    {0, "usage", false, "", "same as --help"},
    {'v', "verbose", false, "", "accepted"},
    {'V', "version", false, "", "show the version"},
    {'w', "weights", false, "", "show the configured weight of each factor instead of jobs"},
    {0, "json", false, "", "GridMint: print the selected jobs' factors as JSON"},
};

std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) if (!item.empty()) out.push_back(item);
  return out;
}

}  // namespace

int CmdSprio(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  auto parsed = ParseOptions(args, kSprioOptions);
  if (!parsed.ok()) {
    std::cerr << "sprio: " << parsed.status().message() << "\nTry \"sprio --help\" for more information\n";
    return 1;
  }
  SprioView view;
  SprioFilter filter;
  bool as_json = false;
  for (const auto& [opt, value] : parsed->options) {
    std::string name = opt->long_name;
    if (name == "help" || name == "usage") {
      std::cout << OptionHelp("gm sprio [OPTIONS]",
                              "Shows the factors of pending jobs' scheduling priority, as Slurm's sprio does\n"
                              "(multifactor: age, fair-share, job size, QOS, nice).",
                              kSprioOptions);
      return 0;
    }
    if (name == "version") {
      std::cout << "gridmint 0.1.0 (Slurm 22.05 compatible)\n";
      return 0;
    }
    if (name == "noheader") view.header = false;
    else if (name == "jobs") {
      for (const auto& id : SplitComma(value)) {
        if (id.size() > 18 || id.find_first_not_of("0123456789") != std::string::npos)
          return Fail("sprio", "Invalid job id: " + id);
        filter.jobs.push_back(std::stoll(id));
      }
    } else if (name == "long") view.long_format = true;
    else if (name == "norm") view.normalized = true;
    else if (name == "format") view.format = value;
    else if (name == "partition") for (const auto& p : SplitComma(value)) filter.partitions.insert(p);
    else if (name == "user") {
      for (const auto& u : SplitComma(value)) filter.users.insert(u);
      view.show_user = true;
    } else if (name == "weights") view.weights = true;
    else if (name == "json") as_json = true;
  }
  if (!parsed->operands.empty()) {
    std::cerr << "sprio: unrecognized argument '" << parsed->operands[0]
              << "'\nTry \"sprio --help\" for more information\n";
    return 1;
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail("sprio", api.status().message());
  auto r = (*api)->Get("/api/v1/priority");
  if (!r.ok()) return Fail("sprio", r.status().message());
  json selected = SelectSprioJobs((*r)["jobs"], filter);
  if (as_json) {
    std::cout << json{{"jobs", selected}, {"weights", (*r)["weights"]}}.dump(2) << "\n";
    return 0;
  }
  // As sprio: -j naming no pending job says so (on stdout, exit 0).
  if (!view.weights && !filter.jobs.empty() && selected.empty()) {
    std::cout << "Unable to find jobs matching user/id(s) specified\n";
    return 0;
  }
  json shown = *r;
  shown["jobs"] = selected;
  Rendered out = RenderSprio(shown, view);
  for (const auto& e : out.errors) std::cerr << "sprio: error: " << e << "\n";
  std::cout << out.out;
  return 0;
}

}  // namespace gm::cli
