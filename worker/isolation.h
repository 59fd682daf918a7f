// Isolation of strangers' jobs on a provider's machine: the unprivileged job
// user, a cgroup per job (memory and CPU limits; cgroup v2, or v1 on hybrid
// hosts such as ours), and a bubblewrap sandbox (read-only system, private
// /tmp, /proc and /dev, no view of the worker's state directory, hence no
// node key).
//
// How gmd puts them together for one job (see JobRunner in job_runner.h):
//   EnsureJobUser("gridmint-job", &uid, &gid)        // once, at start-up
//   jail = CgroupJail::Create(DetectCgroupTree(), "job-7-0", limits)
//   spec.run_as_uid = uid; spec.run_as_gid = gid;    // JobRunner drops root...
//   argv = BwrapArgv(opts)                           // ...then execs bwrap as
//   spec.program = argv[0]; spec.args = argv[1..]    //    the job user
//   runner.Start(); jail->AddSession(runner.pid());  // or join before exec
//   ... runner.Wait(); jail->Usage(); jail->Destroy();
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace gm::worker {

// ---------------------------------------------------------------------------
// The job user.

// Makes sure the system user `name` exists (creating it with useradd as a
// system account: no login shell (/usr/sbin/nologin), no home directory, its
// own group) and returns its uid and primary gid. Safe to race with another
// process creating the same user. Errors: InvalidArgument (not a valid user
// name: [a-z_][a-z0-9_-]{0,31}), FailedPrecondition (the user exists with uid
// or gid 0: jobs must never run as root), PermissionDenied (absent, and this
// process is not root), IOError (useradd missing or failed; its message is
// included).
Status EnsureJobUser(const std::string& name, uid_t* uid, gid_t* gid);

// ---------------------------------------------------------------------------
// cgroups.

enum class CgroupVersion { kNone, kV1, kV2 };

// Where job cgroups can be made on this machine.
struct CgroupTree {
  CgroupVersion version = CgroupVersion::kNone;
  // v2: the cgroup2 mount point with the memory and cpu controllers.
  std::string v2_mount;
  // v1: controller name -> mount point, for memory and cpu (required) and
  // cpuacct and pids (used when mounted). Two names may share a mount
  // ("cpu,cpuacct").
  std::map<std::string, std::string> v1_mounts;
  // One line for the log: what was chosen, or why no tree is usable (e.g.
  // "cgroup2 at /sys/fs/cgroup/unified has hugetlb only (needs memory and cpu)").
  std::string description;
};

// Reads the mount table (mountinfo format) and picks a writable cgroup v2
// mount with the memory and cpu controllers available, else writable v1
// memory and cpu hierarchies, else kNone with the reason. Never fails.
CgroupTree DetectCgroupTree(const std::string& mountinfo_path = "/proc/self/mountinfo");

struct CgroupLimits {
  // Hard memory limit; the kernel's OOM killer acts inside the job beyond
  // it. Swap is limited to the same total (v1 memsw) or to none (v2). nullopt: none.
  std::optional<int64_t> memory_bytes;
  // CPU bandwidth in thousandths of a core (1500 = 1.5 cores), enforced per
  // 100 ms period (CFS quota). Integers, as all resource quantities. nullopt: none.
  std::optional<int64_t> cpu_millicores;
  // Most processes and threads at once (fork bombs); applied where the pids
  // controller is available. nullopt: none.
  std::optional<int64_t> pids_max;
};

// The limit files a jail writes, in order, as (file name, content): for v2
// memory.max, memory.swap.max, cpu.max ("150000 100000"), pids.max; for v1
// memory.limit_in_bytes, memory.memsw.limit_in_bytes, cpu.cfs_period_us,
// cpu.cfs_quota_us, pids.max. Optional files (swap) are skipped when the
// kernel lacks them. Pure; exposed so the formats are tested on any host.
// Errors: InvalidArgument (memory < 1 MiB, cpu < 10 millicores, pids < 1).
Result<std::vector<std::pair<std::string, std::string>>> CgroupLimitFiles(CgroupVersion version,
                                                                          const CgroupLimits& limits);

// Memory and CPU figures of a jail; nullopt where the kernel does not say.
struct CgroupUsage {
  std::optional<int64_t> memory_peak_bytes;  // v1 memory.max_usage_in_bytes, v2 memory.peak
  std::optional<int64_t> oom_kills;          // v1 memory.oom_control, v2 memory.events "oom_kill"
  std::optional<int64_t> cpu_usage_ns;       // v1 cpuacct.usage, v2 cpu.stat usage_usec
};

// One job's cgroup: <mount>/<parent>/<job_name> (in each v1 hierarchy used).
// The destructor calls Destroy() if it was not called. Not thread-safe: one
// owner (the thread supervising the job) calls it.
class CgroupJail {
 public:
  // Makes the cgroup and writes the limits. A leftover cgroup of the same
  // name with no processes (a gmd that died) is replaced. Errors:
  // FailedPrecondition (tree.version is kNone: the message is
  // tree.description), InvalidArgument (job_name or parent not a plain name
  // [A-Za-z0-9._-]{1,64}, or a bad limit), AlreadyExists (a cgroup of that name
  // still has processes), IOError (naming the file that could not be made or
  // written; what was made is removed again).
  static Result<std::unique_ptr<CgroupJail>> Create(const CgroupTree& tree, const std::string& job_name,
                                                    const CgroupLimits& limits,
                                                    const std::string& parent = "gridmint");
  ~CgroupJail();
  CgroupJail(const CgroupJail&) = delete;
  CgroupJail& operator=(const CgroupJail&) = delete;

  // The cgroup.procs files of this jail (one per hierarchy). Writing "0" to
  // each moves the writing process itself in: the race-free way for a job's
  // child to join between fork and exec (before dropping root), so that
  // nothing it forks can be outside. Async-signal-safe to do with open/write.
  const std::vector<std::string>& ProcsFiles() const { return procs_files_; }

  // Moves process `pid` (all its threads) into the jail. Errors: NotFound
  // (no such process), IOError.
  Status AddProcess(pid_t pid);

  // Moves every process of session `sid` into the jail (JobRunner makes the
  // script a session leader, so sid = its pid), repeating until a pass finds
  // none outside: children forked while they were being moved are caught,
  // and a process forked by one already moved is born inside. For callers
  // that can only act after the script started. Errors: NotFound (no process
  // in that session), IOError, ResourceExhausted (still finding new ones
  // after many passes: a fork bomb).
  Status AddSession(pid_t sid);

  // The processes now in the jail. Errors: IOError.
  Result<std::vector<pid_t>> Pids() const;

  // Peak memory, OOM kills and CPU time so far. Errors: IOError.
  Result<CgroupUsage> Usage() const;

  // SIGKILLs everything inside (v2: cgroup.kill where the kernel has it),
  // waits up to timeout_ms for the jail to empty, then removes the cgroup
  // directories. The processes are not reaped here: their parent does that.
  // Calling it again after success does nothing. Errors: Unavailable
  // (processes still inside at the deadline), IOError (rmdir).
  Status Destroy(int timeout_ms = 5000);

  // One line for the log: version, directories and limits.
  std::string Describe() const;

  // The cgroup directories (one for v2; one per hierarchy for v1).
  const std::vector<std::string>& Dirs() const { return dirs_; }

 private:
  CgroupJail() = default;
  Status RemoveDirs(int timeout_ms);

  CgroupVersion version_ = CgroupVersion::kNone;
  std::vector<std::string> dirs_;         // job cgroup directories
  std::vector<std::string> procs_files_;  // dirs_[i] + "/cgroup.procs"
  std::string memory_dir_, cpuacct_dir_;  // where Usage reads (v1); dirs_[0] for v2
  std::string limits_text_;
  bool destroyed_ = false;
};

// ---------------------------------------------------------------------------
// bubblewrap.

struct BwrapOptions {
  std::string bwrap_path = "/usr/bin/bwrap";
  // The job's directory, bound read-write at the same path. Required.
  std::string job_dir;
  // Directories replaced by an empty tmpfs inside the sandbox: the worker's
  // state directory (node key, spool, other jobs' directories) and anything
  // else the job must not see. They must exist. The job directory may lie
  // inside one: it is bound after them.
  std::vector<std::string> hidden_dirs;
  // Working directory inside; empty means job_dir.
  std::string chdir;
  // /dev/nvidiaN nodes (N = the driver's minor number, nvidia-smi's index,
  // PCI order) made visible with the control nodes (nvidiactl, nvidia-uvm,
  // nvidia-uvm-tools, nvidia-modeset). Empty: no GPU at all. Passing only
  // the job's GPUs isolates them at the device level, but CUDA then numbers
  // the visible ones 0..k-1, so CUDA_VISIBLE_DEVICES must be unset or 0..k-1
  // (and CUDA_DEVICE_ORDER=PCI_BUS_ID keeps CUDA's order equal to the
  // driver's). Not tested on a GPU here.
  std::vector<int> gpu_device_indices;
  // When set: --unshare-user --uid U --gid G. These must equal the ids the
  // sandbox is started with (LaunchSpec::run_as_uid/gid): bwrap started by
  // ROOT with --uid maps the sandbox user onto real uid 0 (measured here:
  // such a "nobody" reads root's 0600 files). Start bwrap as the job user;
  // it then makes its own user namespace and the ids stay the real ones.
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  // The job's command: argv[0] (absolute path) and its arguments. Required.
  std::vector<std::string> command;
};

// The bubblewrap command line, argv[0] = bwrap_path: --ro-bind / /, --dev
// /dev, --proc /proc, --tmpfs /tmp, a tmpfs over each hidden dir, --bind
// job_dir, the GPU nodes, --unshare-pid --unshare-ipc --unshare-uts (not the
// network: multi-node jobs need it), --die-with-parent (killing bwrap, which
// JobRunner's process-group signals reach, ends the sandbox), --chdir, then
// "--" and the command. Pure. Empty when job_dir or command is empty.
std::vector<std::string> BwrapArgv(const BwrapOptions& options);

// True when bwrap_path is an executable file.
bool BwrapAvailable(const std::string& bwrap_path = "/usr/bin/bwrap");

// Runs `bwrap --ro-bind / / --proc /proc --unshare-pid -- /bin/true` as
// uid/gid and says whether sandboxes work for that user (they need
// unprivileged user namespaces). Errors: Unavailable with bwrap's complaint
// (e.g. "No permissions to creating new namespace"), NotFound (no bwrap).
Status ProbeBwrap(uid_t uid, gid_t gid, const std::string& bwrap_path = "/usr/bin/bwrap");

}  // namespace gm::worker
