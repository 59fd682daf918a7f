// JobRunner: runs one batch step (a user's script) as its own process group and supervises it to the end.
#pragma once

#include <sys/types.h>

#include <csignal>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace gm::worker {

struct LaunchSpec {
  // Absolute path of the executable script (already written, mode 0700/0755).
  // It is exec'd directly, so it needs a #! line; no PATH search.
  std::string program;
  std::vector<std::string> args;  // argv[1..]; argv[0] is `program`
  // The child chdirs here before opening the output files and exec; it must
  // exist and, with run_as_uid, be usable by that user.
  std::string workdir;
  // The COMPLETE environment: nothing is inherited from gmd. Keys must be
  // non-empty and hold no '='.
  std::map<std::string, std::string> env;
  // Opened in the child, after it has become run_as_uid (so files are created
  // by and owned by that user, like Slurm's slurmstepd does) and after the
  // chdir (so relative paths are relative to workdir): O_CREAT|O_WRONLY and
  // O_TRUNC, or O_APPEND when `append`; mode 0644 less the umask.
  // Empty stdout_path: /dev/null. Empty stderr_path, or one equal to
  // stdout_path: both streams share ONE open file description (Slurm's default
  // without -e), so their writes interleave instead of overwriting each other.
  std::string stdout_path;
  std::string stderr_path;
  bool append = false;
  // Wall-clock limit from Start; nullopt = none. Must be > 0 when given (map
  // Slurm's --time=0, "unlimited", to nullopt).
  std::optional<int64_t> time_limit_s;
  // Slurm's KillWait: at the limit or on Cancel the group gets SIGCONT+SIGTERM,
  // then SIGKILL this many seconds later. >= 0.
  int kill_grace_s = 30;
  // When given, the child calls setgroups({gid}), setgid, setuid before
  // anything else touches the file system. A uid without a gid uses the
  // user's primary group from the passwd database; a uid not found there is
  // an error (never leave the job with gmd's root group).
  // cgroup membership files (cgroup.procs / tasks) the child writes itself
  // into before anything else, while still privileged: so nothing the job
  // starts can escape its limits, not even in the first instant.
  std::vector<std::string> cgroup_procs_files;
  std::optional<uid_t> run_as_uid;
  std::optional<gid_t> run_as_gid;
};

enum class EndReason {
  kExited,        // the script ended by itself with exit_code
  kSignaled,      // a signal nobody in gmd sent killed it
  kTimeout,       // the time limit ran out (Slurm TIMEOUT)
  kCancelled,     // Cancel() was called before it ended (Slurm CANCELLED)
  kLaunchFailed,  // Start() failed; message says why
};

struct ExitInfo {
  EndReason reason = EndReason::kLaunchFailed;
  // Slurm's ExitCode "exit:signal" of the script (leader) process. For
  // kLaunchFailed: 1:0.
  int exit_code = 0;
  int signal = 0;
  int64_t start_unix_ms = 0;  // wall clock, for sacct's Start/End
  int64_t end_unix_ms = 0;
  // user+sys and peak RSS of the script and the children it waited for
  // (wait4's rusage). Processes the script left behind are not counted; the
  // job's cgroup is the place for exact accounting.
  double cpu_seconds = 0;
  int64_t max_rss_kb = 0;
  std::string message;  // e.g. "exec /jobs/7/script: Permission denied"
};

// Supervises one script. Typical use: Start(), then Wait() on a thread that
// owns the job, with Cancel()/Signal() from other threads.
//
// Deadlines (time limit, kill grace) run on the monotonic clock and are
// enforced inside Wait() and TryWait(): someone must call one of them for the
// limit to be applied. The leader is watched through a pidfd (poll), falling
// back to 20 ms sleeps on kernels without pidfd_open.
//
// Everything in the script's process group dies with the script: when the
// leader exits, the rest of its group gets SIGKILL (while a Cancel or time
// limit is in progress they first get the rest of the grace period). A
// process that leaves the group (setsid, daemonising) escapes this; the job's
// cgroup must catch those.
//
// gmd must not set SIGCHLD to SIG_IGN (the kernel would reap the script
// before JobRunner could read its status).
class JobRunner {
 public:
  explicit JobRunner(LaunchSpec spec);
  // If still running: SIGKILL to the whole group and reap. Must not race with
  // a Wait() on another thread.
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // fork+exec. Returns only after the exec succeeded or failed; a failure in
  // the child (chdir, setuid, opening an output file, exec) comes back as an
  // error naming the step, the path and errno's text, e.g.
  // "exec /jobs/7/script: Permission denied". Errors: InvalidArgument (spec),
  // NotFound / PermissionDenied / IOError (what the child met),
  // FailedPrecondition (started twice).
  Status Start();

  pid_t pid() const;  // the script's pid (= its process group id); -1 before Start

  // Thread-safe. Sends SIGCONT and `sig` to the whole group and arms the
  // SIGKILL after kill_grace_s; the job ends as kCancelled. No effect before
  // Start or after the script has exited.
  void Cancel(int sig = SIGTERM);

  // Thread-safe. Delivers `sig` to the whole group; supervision goes on
  // (scancel --signal, --signal=B:USR1@60).
  void Signal(int sig);

  // Blocks until the script exited and the group's clean-up is done.
  // Enforces the time limit. Returns the same ExitInfo every time after that.
  ExitInfo Wait();

  // Non-blocking Wait: nullopt while the job runs. Also enforces deadlines.
  std::optional<ExitInfo> TryWait();

 private:
  enum class Phase { kIdle, kRunning, kDraining, kDone };
  // What Wait should do next: return, or poll these for so long.
  struct NextPoll {
    bool done = false;
    int fd = -1;          // the pidfd while the leader runs, else -1
    int timeout_ms = -1;  // -1: until fd or the wake eventfd fires
  };

  NextPoll Advance();                 // one non-blocking supervision step; mu_ held
  bool LeaderExited();                // waitid WNOWAIT; mu_ held
  void ReapLeader();                  // wait4 and record the status; mu_ held
  void BeginEscalation(EndReason why, int sig);  // mu_ held
  void Finish();                      // mu_ held
  void Wake();
  int MillisUntil(int64_t deadline_ns) const;

  const LaunchSpec spec_;
  mutable std::mutex mu_;
  Phase phase_ = Phase::kIdle;
  bool start_called_ = false;
  pid_t pid_ = -1;
  int pidfd_ = -1;   // -1 where pidfd_open is unavailable
  int wakefd_ = -1;  // eventfd: Cancel tells a blocked Wait to re-read the deadlines
  int64_t limit_deadline_ns_ = 0;  // monotonic; 0 = none
  int64_t kill_deadline_ns_ = 0;   // monotonic; 0 = no escalation in progress
  bool kill_sent_ = false;
  std::optional<EndReason> forced_reason_;  // kTimeout or kCancelled, whichever came first
  bool leader_reaped_ = false;
  bool status_lost_ = false;  // someone outside JobRunner reaped the leader
  int wait_status_ = 0;
  ExitInfo info_;
};

}  // namespace gm::worker
