// What gm's Slurm-named commands print, as pure functions from the
// controller's JSON (and the parsed options) to text: squeue, sinfo, sacct,
// scancel's target selection and sbatch --test-only --json. No I/O, no
// clock: the commands in jobs.cc fetch the JSON and pass the time in, and
// the golden tests in tests/slurm/ call these directly.
//
// Formats follow Slurm 22.05: column widths, alignment and truncation as
// squeue/sinfo (_print_str: cut to the width, pad with blanks) and sacct
// (print_fields_str: cut with a '+' in the last column, one blank after
// each field) print them.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/job_spec.h"
#include "common/status.h"

namespace gm::cli {

using json = nlohmann::json;

// ---- shared ------------------------------------------------------------------

// squeue/sinfo's _print_str: width 0 prints the value as is; otherwise the
// value is cut to `width` characters and padded with blanks, on the left when
// `right` is set.
std::string SlurmColumn(const std::string& value, int width, bool right);

// sacct's print_fields_str for one field: |len| characters plus one blank;
// len > 0 right-aligns, len < 0 left-aligns; a longer value is cut and its
// last shown character replaced by '+'.
std::string SacctColumn(const std::string& value, int len);

// Local time as Slurm prints dates: "2026-11-22T03:04:05"; "Unknown" for 0.
// `tz_offset_s` is the local offset from UTC, passed in to keep this pure.
std::string SlurmDate(int64_t unix_ms, int64_t tz_offset_s);

// "1,3,5-7": sorted task ids as Slurm writes an array's pending tasks.
std::string TaskRanges(std::vector<int> ids);

// A job summary's pieces as every command prints them.
std::string JobIdText(const json& job);        // "123", or "100_4" for an array task
std::string JobNodeList(const json& job);      // "gpu[01-02]"; "" before it runs
std::string JobExitCode(const json& job);      // "0:0"
std::string JobProviders(const json& job);     // "alice=0.920000,bob=1.380000"
int64_t JobElapsedS(const json& job, int64_t now_ms);

// ---- sbatch --test-only --json -------------------------------------------------

// The resolution `gm sbatch --test-only --json` prints: exactly the fields
// issue 5 lists, null where the job leaves them to a default that only the
// cluster knows (partition, time limit, account, ...). ntasks and
// cpus_per_task are always resolved, as slurmctld reports them (NumTasks,
// CPUs/Task): ntasks defaults to nodes_min × ntasks_per_node, else nodes_min.
// Keys keep the issue's order.
nlohmann::ordered_json TestOnlyJson(const JobSpec& s);

// ---- squeue --------------------------------------------------------------------

// Slurm's default formats (squeue opts.c).
constexpr const char* kSqueueDefaultFormat = "%.18i %.9P %.8j %.8u %.2t %.10M %.6D %R";
constexpr const char* kSqueueStartFormat = "%.18i %.9P %.8j %.8u %.2t %.19S %.6D %20Y %R";

struct SqueueFilter {
  std::set<std::string> users;       // -u / --me; empty = everyone
  std::vector<std::string> jobs;     // -j: "123" (a job, or a whole array), "123_4" (one task)
  std::set<std::string> states;      // -t, upper case names or codes ("PD", "RUNNING", "ALL")
  std::set<std::string> partitions;  // -p
  bool start = false;                // --start: pending jobs only
};

// Checks -t's list the way squeue does; the error is squeue's two lines.
Status ValidateJobStates(const std::set<std::string>& states);
// Checks -j's ids ("123", "123_4"); the error names the bad one.
Status ValidateJobIds(const std::vector<std::string>& ids);

// The jobs squeue shows, in the controller's order. Without -t (and without
// -j) only PENDING, RUNNING, SUSPENDED and COMPLETING jobs; with -j and no
// -t, jobs in any state, as squeue does.
json SelectSqueueJobs(const json& jobs, const SqueueFilter& f);

struct SqueueView {
  std::string format;        // -o; empty: kSqueueDefaultFormat (kSqueueStartFormat with --start)
  std::string long_format;   // -O; used when not empty
  bool header = true;        // -h clears it
  bool start = false;        // --start
  bool unfold_arrays = false;  // -r: one line per array task
  int64_t now_ms = 0;
  int64_t tz_offset_s = 0;
};

struct Rendered {
  std::string out;                  // stdout
  std::vector<std::string> errors;  // one "squeue: error: ..." line each, for stderr
};

// Sorts as squeue does by default (state code, then priority, highest
// first, then job id; with --start by expected start time, unknown last),
// folds pending tasks of one array into one line "A_[1-3,7]" unless
// `unfold_arrays`, and renders the format. Unknown % letters and -O names
// are kept in the output and reported, as squeue does.
Rendered RenderSqueue(const json& jobs, const SqueueView& v);

// ---- sinfo ---------------------------------------------------------------------

constexpr const char* kSinfoDefaultFormat = "%9P %.5a %.10l %.6D %.6t %N";
constexpr const char* kSinfoNodeFormat = "%N %.6D %.9P %6t";   // -N; %N as wide as the longest name
constexpr const char* kSinfoReasonFormat = "%20E %9U %19H %N";  // -R
constexpr const char* kSinfoSummaryFormat = "%9P %.5a %.10l %.16F %N";  // -s

struct SinfoView {
  std::string format;             // -o; empty: the default for the mode
  bool node_oriented = false;     // -N
  bool reasons = false;           // -R
  bool summarize = false;         // -s
  bool groups = false;            // --groups (GridMint)
  bool header = true;             // -h clears it
  std::set<std::string> partitions;  // -p
  std::set<std::string> states;      // -t (compact or long node state names, lower case)
  int64_t tz_offset_s = 0;
};

// `nodes` is GET /api/v1/nodes: {"nodes": [...], "partitions": [...], ...}.
// Nodes are grouped per partition by every shown node attribute (so nodes
// of one state share a line) and partitions keep the controller's order;
// within one, lines go by state, reverse alphabetical, as sinfo's "#P,-t"
// sort (measured: "mix" before "alloc"). With -N, one line per node and
// partition, sorted by node name.
Rendered RenderSinfo(const json& nodes, const SinfoView& v);

// GridMint's `sinfo --groups`: one line per locality group (the nodes a
// multi-node job may be gang-scheduled across: one site, or sites closer than
// the controller's RTT bound), sorted by name:
//   GROUP SITES NODES(A/I/O/T) GPUS(F/T) MODELS
// A/I/O/T as sinfo's %F (allocated or mixed / idle / other: draining, drained,
// down, unverified / total), GPU
// counts over nodes that are up and verified (free / total), models as
// NAME:GPUS, most GPUs first.
Rendered RenderSinfoGroups(const json& nodes, const SinfoView& v);

// ---- sacct ---------------------------------------------------------------------

constexpr const char* kSacctDefaultFields = "JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode";

struct SacctView {
  std::string fields = kSacctDefaultFields;  // --format, each NAME[%WIDTH]
  bool header = true;                        // -n clears it
  int parsable = 0;                          // 1: -p ("a|b|"), 2: -P/--parsable2 ("a|b")
  int64_t now_ms = 0;
  int64_t tz_offset_s = 0;
};

// The fields --format accepts, in the order sacct resolves prefixes ("jobn"
// is JobName), with their default widths; for --helpformat.
std::vector<std::string> SacctFieldNames();

// Renders jobs (already selected) as sacct does; an unknown field is
// InvalidArgument `Invalid field requested: "NAME"`.
Result<std::string> RenderSacct(const json& jobs, const SacctView& v);

struct SacctFilter {
  std::vector<std::string> jobs;   // -j
  std::set<std::string> users;     // -u; empty = everyone the caller may see
  std::set<std::string> states;    // -s, upper case names or codes
  std::set<std::string> names;     // --name
  std::optional<int64_t> start_ms;  // -S
  std::optional<int64_t> end_ms;    // -E
};

// A job is in the window [S, E] when it was submitted by E and had not ended
// before S, as sacct selects "jobs in any state during the time period".
json SelectSacctJobs(const json& jobs, const SacctFilter& f);

// sacct's -S/-E times: YYYY-MM-DD[THH:MM[:SS]], MM/DD[/YY], HH:MM[:SS]
// (today), now[{+|-}N[seconds|minutes|hours|days|weeks]], today, midnight,
// yesterday, tomorrow. Local time given by `tz_offset_s`.
Result<int64_t> ParseSlurmTime(const std::string& text, int64_t now_ms, int64_t tz_offset_s);

// ---- sprio ---------------------------------------------------------------------

// What sprio 22.05.8 prints (measured against a real slurmctld with
// priority/multifactor): the default format is
// "%.15i %9r %.10Y %.10S %.10A %.10B %.10F %.10J %.10P %.10Q %20T" less every
// factor whose weight is 0 (GridMint has no association, partition or TRES
// factors, so those never show), with "%.8u" after the partition when -u is
// given; -l is "%.15i %9r %.8u %.10Y %.10S %.10A %.10B %.10F %.10J %.10P %.10Q
// %.11N %.20T" whatever the weights; -n uses the normalised letters,
// left-justified ("%10y %10a ..."), without SITE and NICE.
struct SprioView {
  std::string format;          // -o; empty: the default for the mode
  bool long_format = false;    // -l
  bool normalized = false;     // -n
  bool weights = false;        // -w: one "Weights" line instead of jobs
  bool header = true;          // -h clears it
  bool show_user = false;      // -u was given: add the USER column
};

struct SprioFilter {
  std::vector<int64_t> jobs;         // -j
  std::set<std::string> users;       // -u
  std::set<std::string> partitions;  // -p
};

// Jobs of GET /api/v1/priority's "jobs" that pass the filter, by job id;
// held jobs are left out, as sprio leaves them out.
json SelectSprioJobs(const json& jobs, const SprioFilter& f);

// `priority` is GET /api/v1/priority ({"jobs": [...], "weights": {...}});
// its jobs already selected. Unknown % letters are reported in `errors` and
// left out, as sprio does.
Rendered RenderSprio(const json& priority, const SprioView& v);

// ---- gm node list ----------------------------------------------------------------

// GridMint's own table of nodes (GET /api/v1/nodes): one line per node with
// NAME ID PROVIDER STATE GPUS FREE MODEL PRICE TFLOPS VERIFIED REASON, sorted
// by name as hostlists sort (node2 before node10).
std::string RenderNodeList(const json& nodes);

// ---- scancel -------------------------------------------------------------------

struct CancelRequest {
  std::vector<std::string> ids;    // "123" (a job, or all of an array), "123_4", "123_[1-3]"
  std::set<std::string> users;     // -u
  std::set<std::string> names;     // -n
  std::set<std::string> states;    // -t: PENDING, RUNNING, SUSPENDED (or PD, R, S)
  std::set<std::string> partitions;  // -p
};

// Checks ids and states as scancel does: "Invalid job id X", or
// "Invalid job state specified: X" and its second line.
Status ValidateCancel(const CancelRequest& r);

// Slurm signal names and numbers to the name the API takes ("USR1" for
// "SIGUSR1", "usr1" or "10"); nullopt for an unknown signal.
std::optional<std::string> SignalName(const std::string& text);

// The job ids to cancel, in the controller's order. Named ids that match no
// job are returned in `missing`, as scancel reports them.
std::vector<int64_t> SelectCancelTargets(const json& jobs, const CancelRequest& r,
                                         std::vector<std::string>* missing);

// ---- market ----------------------------------------------------------------------

// gm market's table of GET /api/v1/market: MODEL NODES GPUS FREE LOWEST
// MEDIAN WAITING UTIL (asks in tokens per GPU-hour, utilisation in percent
// with one decimal), names left-aligned and figures right-aligned; then a
// line for jobs that wait for GPUs of any model. `parsable`: '|'-separated
// fields and no such line.
std::string RenderMarket(const json& market, bool header, bool parsable);

}  // namespace gm::cli
