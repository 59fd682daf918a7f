// gm's Slurm-named job commands: sbatch, squeue, scancel, sinfo, sacct, and
// fetch (GridMint's way to bring a job's output home). Option handling and
// talking to the controller live here; what they print is cli/format.cc.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "cli/cli.h"
#include "cli/format.h"
#include "cli/options.h"
#include "common/bundle_upload.h"
#include "common/sbatch_options.h"
#include "scheduler/begin_time.h"

namespace gm::cli {

namespace fs = std::filesystem;

namespace {

Result<std::string> ReadPath(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("Unable to open file " + path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

bool IsTerminalName(const std::string& state) {
  return state != "PENDING" && state != "RUNNING" && state != "COMPLETING";
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) if (!item.empty()) out.push_back(item);
  return out;
}

std::set<std::string> SplitSet(const std::string& s, bool upper = false, bool lower = false) {
  std::set<std::string> out;
  for (std::string item : SplitList(s)) {
    for (char& c : item) {
      if (upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    out.insert(item);
  }
  return out;
}

// getopt's complaint, then Slurm's hint; exit code 1 as squeue/sinfo/sacct.
int UsageError(const std::string& cmd, const std::string& message) {
  std::cerr << cmd << ": " << message << "\nTry \"" << cmd << " --help\" for more information\n";
  return 1;
}

void PrintErrors(const std::string& cmd, const Rendered& r) {
  for (const auto& e : r.errors) std::cerr << cmd << ": error: " << e << "\n";
}

std::string Me(ApiClient& api, std::string* role = nullptr) {
  auto who = api.Get("/api/v1/whoami");
  if (!who.ok()) return "";
  if (role) *role = who->value("role", "");
  return who->value("account", "");
}

constexpr const char* kVersion = "gridmint 0.1.0 (Slurm 22.05 compatible)";

std::string Mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// Uploads --gm-stage-in files as a content-addressed bundle and returns its
// id. The controller's limit (GET /whoami) is checked before anything is
// sent; a refusal by the controller is reported with the limit too. On a
// terminal, bundles over 4 MiB show a progress line.
Result<std::string> UploadStageIn(ApiClient& api, std::vector<LocalFile> files, bool quiet) {
  auto who = api.Get("/api/v1/whoami");
  if (!who.ok()) return who.status().Annotate("cannot ask the controller for its bundle limit");
  int64_t limit = who->value("max_bundle_bytes", int64_t{0});
  int64_t total = 0;
  for (const auto& f : files) total += f.entry.size;
  bool progress = !quiet && isatty(2) && total > (4 << 20);
  auto id = UploadBundle(api, std::move(files), limit, [&](int64_t done, int64_t all) {
    if (!progress || all <= 0) return;
    int pct = static_cast<int>(100 * done / all);
    std::cerr << "\rsbatch: uploading stage-in bundle [" << std::string(pct / 5, '#')
              << std::string(20 - pct / 5, ' ') << "] " << pct << "% of " << Mib(all) << std::flush;
  });
  if (progress) std::cerr << "\n";
  if (id.ok()) return id;
  std::string msg = id.status().message();
  // A body over the server's own cap is cut off with a bare HTTP 413.
  if (msg.find("HTTP 413") != std::string::npos)
    msg = "the controller refused the stage-in upload as too large (HTTP 413); its bundle limit is " +
          std::to_string(limit) + " bytes";
  return Status::FromCode(id.status().code(), "stage-in upload failed: " + msg);
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
    std::cout << kVersion << "\n";
    return 0;
  }
  // --begin is resolved by the controller; its syntax is checked here so
  // that --test-only refuses what a submission would.
  if (!r.spec.begin.empty()) {
    int64_t now = NowMs();
    auto begin = sched::ResolveBeginTime(r.spec.begin, now, LocalTzOffset(now));
    if (!begin.ok()) return Fail("sbatch", "Invalid --begin specification: " + r.spec.begin);
  }
  if (!r.flags.quiet)
    for (const auto& n : r.spec.notes) std::cerr << "sbatch: " << n << "\n";
  // --gm-stage-in takes PATH[,PATH...] and may be repeated.
  std::vector<std::string> stage_in;
  for (const auto& p : r.stage_in)
    for (const auto& one : SplitList(p)) stage_in.push_back(one);
  r.stage_in = stage_in;
  r.spec.stage_in = r.stage_in;
  r.spec.stage_out = r.stage_out;
  for (const auto& p : r.stage_out)
    if (auto safe = SafeRelativePath(p); !safe.ok())
      return Fail("sbatch", "--gm-stage-out " + p + ": " + safe.status().message());
  std::vector<LocalFile> stage_files;
  if (!r.stage_in.empty()) {
    auto files = CollectStageIn(r.stage_in, in.cwd);
    if (!files.ok()) return Fail("sbatch", files.status().message());
    stage_files = std::move(*files);
  }
  if (r.flags.test_only) {
    if (r.flags.json) std::cout << TestOnlyJson(r.spec).dump() << "\n";
    else std::cerr << "sbatch: test only: job '" << r.spec.job_name << "' resolves to "
                   << TestOnlyJson(r.spec).dump() << "\n";
    return 0;
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail("sbatch", api.status().message());
  if (!r.stage_in.empty()) {
    auto bundle = UploadStageIn(**api, std::move(stage_files), r.flags.quiet);
    if (!bundle.ok()) return Fail("sbatch", bundle.status().message());
    r.spec.bundle = *bundle;
  }
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
              << ", ExitCode " << JobExitCode(job) << "\n";
  return code;
}

// ---- squeue ------------------------------------------------------------------

namespace {

const std::vector<OptSpec> kSqueueOptions = {
    {'A', "account", true, "ACCOUNTS", "only jobs charged to these accounts"},
    {'a', "all", false, "", "accepted (every partition is shown anyway)"},
    {'h', "noheader", false, "", "print no header line"},
    {0, "help", false, "", "show this help"},
    {'j', "jobs", true, "JOBIDS", "only these jobs (123, or 123_4 for one array task), in any state"},
    {'l', "long", false, "", "long format: %.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R"},
    {0, "me", false, "", "only your own jobs"},
    {'n', "name", true, "NAMES", "only jobs with these names"},
    {'o', "format", true, "FORMAT", "output format with Slurm's % fields, e.g. \"%.18i %.9P %j %R\""},
    {'O', "Format", true, "FIELDS", "output format by field name: jobid:10,name:.20,state"},
    {'p', "partition", true, "PARTITIONS", "only jobs in these partitions"},
    {'r', "array", false, "", "one line per array task (default: pending tasks share a line)"},
    {0, "start", false, "", "pending jobs with their expected start time (START_TIME)"},
    {'t', "states", true, "STATES", "only jobs in these states (PD,R,CG,CD,... or names; all)"},
    {'u', "user", true, "USERS", "only jobs of these users"},
    {0, "usage", false, "", "same as --help"},
    {'v', "verbose", false, "", "accepted"},
    {'V', "version", false, "", "show the version"},
    {0, "json", false, "", "GridMint: print the selected jobs as JSON"},
};

}  // namespace

int CmdSqueue(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  auto parsed = ParseOptions(args, kSqueueOptions);
  if (!parsed.ok()) return UsageError("squeue", parsed.status().message());
  SqueueFilter filter;
  SqueueView view;
  std::set<std::string> accounts, names;
  bool me = false, as_json = false;
  for (const auto& [opt, value] : parsed->options) {
    std::string name = opt->long_name;
    if (name == "help" || name == "usage") {
      std::cout << OptionHelp("gm squeue [OPTIONS]",
                              "Lists pending and running jobs, as Slurm's squeue does.", kSqueueOptions);
      return 0;
    }
    if (name == "version") { std::cout << kVersion << "\n"; return 0; }
    if (name == "account") accounts = SplitSet(value);
    else if (name == "noheader") view.header = false;
    else if (name == "jobs") filter.jobs = SplitList(value);
    else if (name == "long") view.format = "%.18i %.9P %.8j %.8u %.8T %.10M %.9l %.6D %R";
    else if (name == "me") me = true;
    else if (name == "name") names = SplitSet(value);
    else if (name == "format") view.format = value;
    else if (name == "Format") view.long_format = value;
    else if (name == "partition") filter.partitions = SplitSet(value);
    else if (name == "array") view.unfold_arrays = true;
    else if (name == "start") view.start = filter.start = true;
    else if (name == "states") filter.states = SplitSet(value, true);
    else if (name == "user") filter.users = SplitSet(value);
    else if (name == "json") as_json = true;
  }
  if (!parsed->operands.empty()) return UsageError("squeue", "unrecognized argument '" + parsed->operands[0] + "'");
  if (Status s = ValidateJobIds(filter.jobs); !s.ok()) return Fail("squeue", s.message());
  if (Status s = ValidateJobStates(filter.states); !s.ok()) return Fail("squeue", s.message());
  auto api = Connect(conn);
  if (!api.ok()) return Fail("squeue", api.status().message());
  auto list = (*api)->Get("/api/v1/jobs");
  if (!list.ok()) return Fail("squeue", list.status().message());
  if (me) {
    std::string who = Me(**api);
    if (who.empty()) return Fail("squeue", "cannot tell who you are (GET /api/v1/whoami failed)");
    filter.users = {who};
  }
  json selected = SelectSqueueJobs((*list)["jobs"], filter);
  if (!accounts.empty() || !names.empty()) {
    json kept = json::array();
    for (const auto& j : selected)
      if ((accounts.empty() || accounts.count(j.value("account", ""))) &&
          (names.empty() || names.count(j.value("name", ""))))
        kept.push_back(j);
    selected = kept;
  }
  // squeue -j with one id that no job has: slurm_load_jobs' error.
  if (filter.jobs.size() == 1 && selected.empty() && filter.states.empty()) {
    std::cerr << "slurm_load_jobs error: Invalid job id specified\n";
    return 1;
  }
  if (as_json) {
    std::cout << json{{"jobs", selected}}.dump(2) << "\n";
    return 0;
  }
  view.now_ms = (*list).value("now_ms", NowMs());
  view.tz_offset_s = LocalTzOffset(view.now_ms);
  Rendered r = RenderSqueue(selected, view);
  PrintErrors("squeue", r);
  std::cout << r.out;
  return 0;
}

// ---- scancel -----------------------------------------------------------------

namespace {

const std::vector<OptSpec> kScancelOptions = {
    {0, "help", false, "", "show this help"},
    {0, "me", false, "", "only your own jobs"},
    {'n', "name", true, "NAMES", "only jobs with these names (also --jobname)"},
    {0, "jobname", true, "NAMES", "same as --name"},
    {'p', "partition", true, "PARTITIONS", "only jobs in these partitions"},
    {'Q', "quiet", false, "", "no messages for jobs that could not be cancelled"},
    {'s', "signal", true, "SIGNAL", "send SIGNAL (name or number) to running jobs instead of cancelling"},
    {'t', "state", true, "STATES", "only jobs in these states: PENDING, RUNNING, SUSPENDED"},
    {'u', "user", true, "USERS", "only jobs of these users"},
    {0, "usage", false, "", "same as --help"},
    {'v', "verbose", false, "", "say what is done to each job, and report unknown or finished ones"},
    {'V', "version", false, "", "show the version"},
};

}  // namespace

int CmdScancel(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  auto parsed = ParseOptions(args, kScancelOptions);
  if (!parsed.ok()) return UsageError("scancel", parsed.status().message());
  CancelRequest req;
  std::string signal;
  bool verbose = false, quiet = false, me = false;
  for (const auto& [opt, value] : parsed->options) {
    std::string name = opt->long_name;
    if (name == "help" || name == "usage") {
      std::cout << OptionHelp("gm scancel [OPTIONS] [JOBID[_TASK]...]",
                              "Cancels (or signals) pending and running jobs, as Slurm's scancel does.\n"
                              "A job array's id cancels every task of it; ID_TASK or ID_[1-3,5] some.",
                              kScancelOptions);
      return 0;
    }
    if (name == "version") { std::cout << kVersion << "\n"; return 0; }
    if (name == "me") me = true;
    else if (name == "name" || name == "jobname") req.names = SplitSet(value);
    else if (name == "partition") req.partitions = SplitSet(value);
    else if (name == "quiet") quiet = true;
    else if (name == "signal") signal = value;
    else if (name == "state") req.states = SplitSet(value, true);
    else if (name == "user") req.users = SplitSet(value);
    else if (name == "verbose") verbose = true;
  }
  for (const auto& a : parsed->operands)
    for (const auto& id : SplitList(a)) req.ids.push_back(id);
  if (Status s = ValidateCancel(req); !s.ok()) return Fail("scancel", s.message());
  if (req.ids.empty() && req.users.empty() && req.names.empty() && req.states.empty() &&
      req.partitions.empty() && !me)
    return Fail("scancel", "No job identification provided");
  std::string sig_name;
  if (!signal.empty()) {
    auto name = SignalName(signal);
    if (!name) {
      std::cerr << "Unknown job signal: " << signal << "\n";
      return 1;
    }
    sig_name = *name;
  }
  auto api = Connect(conn);
  if (!api.ok()) return Fail("scancel", api.status().message());
  auto list = (*api)->Get("/api/v1/jobs");
  if (!list.ok()) return Fail("scancel", list.status().message());
  std::string role, who = Me(**api, &role);
  // Without ids, a filter reaches only the caller's own jobs, unless the
  // caller is an admin (like root on a Slurm cluster).
  if (me || (req.ids.empty() && req.users.empty() && role != "admin")) req.users = {who};
  std::vector<std::string> missing;
  std::vector<int64_t> targets = SelectCancelTargets((*list)["jobs"], req, &missing);
  int rc = 0;
  for (const auto& id : missing) {
    std::cerr << "scancel: error: Kill job error on job id " << id << ": Invalid job id specified\n";
    rc = 1;
  }
  for (int64_t id : targets) {
    json body = json::object();
    if (!sig_name.empty() && sig_name != "KILL") body["signal"] = sig_name;
    if (verbose)
      std::cerr << (sig_name.empty() ? "scancel: Terminating job " : "scancel: Signal " + sig_name + " to job ")
                << id << "\n";
    auto r = (*api)->Post("/api/v1/jobs/" + std::to_string(id) + "/cancel", body);
    if (r.ok()) continue;
    // As scancel: a job already done is not an error (said only with -v); an
    // unknown one, or one not the caller's, is.
    bool done = r.status().message().find("already completing or completed") != std::string::npos;
    if (done && !verbose) continue;
    if (!quiet || verbose || !done)
      std::cerr << "scancel: error: Kill job error on job id " << id << ": " << r.status().message() << "\n";
    if (!done) rc = 1;
  }
  return rc;
}

// ---- sinfo -------------------------------------------------------------------

namespace {

const std::vector<OptSpec> kSinfoOptions = {
    {'a', "all", false, "", "accepted (every partition is shown anyway)"},
    {'h', "noheader", false, "", "print no header line"},
    {0, "help", false, "", "show this help"},
    {'N', "Node", false, "", "one line per node: NODELIST NODES PARTITION STATE"},
    {'o', "format", true, "FORMAT", "output format with Slurm's % fields, e.g. \"%P %.6D %t %N\""},
    {'p', "partition", true, "PARTITIONS", "only these partitions"},
    {'R', "list-reasons", false, "", "nodes that are down or drained, and why"},
    {'s', "summarize", false, "", "one line per partition: NODES(A/I/O/T)"},
    {'t', "states", true, "STATES", "only nodes in these states (idle,mix,alloc,drain,down,...)"},
    {0, "usage", false, "", "same as --help"},
    {'V', "version", false, "", "show the version"},
    {0, "json", false, "", "GridMint: print the controller's node list as JSON"},
    {0, "groups", false, "", "GridMint: one line per locality group (where a multi-node job may run)"},
};

}  // namespace

int CmdSinfo(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  auto parsed = ParseOptions(args, kSinfoOptions);
  if (!parsed.ok()) return UsageError("sinfo", parsed.status().message());
  SinfoView view;
  bool as_json = false;
  for (const auto& [opt, value] : parsed->options) {
    std::string name = opt->long_name;
    if (name == "help" || name == "usage") {
      std::cout << OptionHelp("gm sinfo [OPTIONS]", "Shows partitions and nodes, as Slurm's sinfo does.",
                              kSinfoOptions);
      return 0;
    }
    if (name == "version") { std::cout << kVersion << "\n"; return 0; }
    if (name == "noheader") view.header = false;
    else if (name == "Node") view.node_oriented = true;
    else if (name == "format") view.format = value;
    else if (name == "partition") view.partitions = SplitSet(value);
    else if (name == "list-reasons") view.reasons = true;
    else if (name == "summarize") view.summarize = true;
    else if (name == "states") view.states = SplitSet(value, false, true);
    else if (name == "json") as_json = true;
    else if (name == "groups") view.groups = true;
  }
  if (!parsed->operands.empty()) return UsageError("sinfo", "unrecognized argument '" + parsed->operands[0] + "'");
  auto api = Connect(conn);
  if (!api.ok()) return Fail("sinfo", api.status().message());
  auto r = (*api)->Get("/api/v1/nodes");
  if (!r.ok()) return Fail("sinfo", r.status().message());
  if (as_json) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  view.tz_offset_s = LocalTzOffset(NowMs());
  Rendered out = view.groups ? RenderSinfoGroups(*r, view) : RenderSinfo(*r, view);
  PrintErrors("sinfo", out);
  std::cout << out.out;
  return 0;
}

// ---- sacct -------------------------------------------------------------------

namespace {

const std::vector<OptSpec> kSacctOptions = {
    {'a', "allusers", false, "", "jobs of every user you may see (default: your own)"},
    {'E', "endtime", true, "TIME", "jobs that were in the system before TIME (default: now)"},
    {'e', "helpformat", false, "", "list the fields --format accepts"},
    {'h', "help", false, "", "show this help"},
    {'j', "jobs", true, "JOBIDS", "only these jobs (123, or 123_4 for one array task); any time"},
    {0, "name", true, "NAMES", "only jobs with these names"},
    {'n', "noheader", false, "", "print no header lines"},
    {'o', "format", true, "FIELDS", "fields to print, each NAME[%WIDTH]; GridMint adds Charged, Fee, Refunded, Providers"},
    {'p', "parsable", false, "", "fields separated by '|', with a trailing '|'"},
    {'P', "parsable2", false, "", "fields separated by '|', without a trailing '|'"},
    {'s', "state", true, "STATES", "only jobs in these states (CD,F,CA,TO,NF,OOM,... or names)"},
    {'S', "starttime", true, "TIME", "jobs still in the system at or after TIME (default: 00:00 today)"},
    {'u', "user", true, "USERS", "only jobs of these users"},
    {0, "usage", false, "", "same as --help"},
    {'V', "version", false, "", "show the version"},
    {'X', "allocations", false, "", "accepted: GridMint keeps no per-step records, so only allocations are shown"},
    {0, "json", false, "", "GridMint: print the selected jobs as JSON"},
};

}  // namespace

int CmdSacct(std::vector<std::string> args) {
  Connection conn = TakeConnection(args);
  auto parsed = ParseOptions(args, kSacctOptions);
  if (!parsed.ok()) return UsageError("sacct", parsed.status().message());
  SacctFilter filter;
  SacctView view;
  std::string start, end;
  bool all_users = false, as_json = false;
  for (const auto& [opt, value] : parsed->options) {
    std::string name = opt->long_name;
    if (name == "help" || name == "usage") {
      std::cout << OptionHelp("gm sacct [OPTIONS]",
                              "Shows finished and running jobs, as Slurm's sacct does, with what each was charged.",
                              kSacctOptions);
      return 0;
    }
    if (name == "version") { std::cout << kVersion << "\n"; return 0; }
    if (name == "helpformat") {
      auto names = SacctFieldNames();
      for (size_t i = 0; i < names.size(); ++i)
        std::cout << SlurmColumn(names[i], 20, false) << ((i % 4 == 3 || i + 1 == names.size()) ? "\n" : "");
      return 0;
    }
    if (name == "allusers") all_users = true;
    else if (name == "endtime") end = value;
    else if (name == "jobs") filter.jobs = SplitList(value);
    else if (name == "name") filter.names = SplitSet(value);
    else if (name == "noheader") view.header = false;
    else if (name == "format") view.fields = value;
    else if (name == "parsable") view.parsable = 1;
    else if (name == "parsable2") view.parsable = 2;
    else if (name == "state") filter.states = SplitSet(value, true);
    else if (name == "starttime") start = value;
    else if (name == "user") filter.users = SplitSet(value);
  }
  if (!parsed->operands.empty()) return UsageError("sacct", "unrecognized argument '" + parsed->operands[0] + "'");
  if (Status s = ValidateJobIds(filter.jobs); !s.ok()) return Fail("sacct", s.message());
  int64_t now = NowMs(), tz = LocalTzOffset(now);
  if (!start.empty()) {
    auto t = ParseSlurmTime(start, now, tz);
    if (!t.ok()) return Fail("sacct", t.status().message());
    filter.start_ms = *t;
  } else if (filter.jobs.empty()) {
    filter.start_ms = *ParseSlurmTime("today", now, tz);  // sacct's default: since midnight
  }
  if (!end.empty()) {
    auto t = ParseSlurmTime(end, now, tz);
    if (!t.ok()) return Fail("sacct", t.status().message());
    filter.end_ms = *t;
  }
  // An unknown field fails before anything is fetched, as in sacct.
  if (auto check = RenderSacct(json::array(), view); !check.ok()) return Fail("sacct", check.status().message());
  auto api = Connect(conn);
  if (!api.ok()) return Fail("sacct", api.status().message());
  auto list = (*api)->Get("/api/v1/jobs");
  if (!list.ok()) return Fail("sacct", list.status().message());
  if (!all_users && filter.users.empty()) {
    std::string who = Me(**api);
    if (who.empty()) return Fail("sacct", "cannot tell who you are (GET /api/v1/whoami failed)");
    filter.users = {who};
  }
  json selected = SelectSacctJobs((*list)["jobs"], filter);
  if (as_json) {
    std::cout << json{{"jobs", selected}}.dump(2) << "\n";
    return 0;
  }
  view.now_ms = (*list).value("now_ms", now);
  view.tz_offset_s = tz;
  auto out = RenderSacct(selected, view);
  if (!out.ok()) return Fail("sacct", out.status().message());
  std::cout << *out;
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
