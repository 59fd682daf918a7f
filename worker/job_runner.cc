// Launches a batch script in its own session and process group, then supervises it: limits, cancel, clean-up, exit status.
#include "worker/job_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <pwd.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <utility>

namespace gm::worker {
namespace {

// Without a pidfd, how often Wait looks at the leader.
constexpr int kFallbackPollMs = 20;
// How often a draining group is checked for live members; a check may scan /proc.
constexpr int kDrainPollMs = 50;

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t UnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The step of the child's set-up that failed, sent to Start over the pipe.
enum class ChildStep : int {
  kSignals = 1,
  kSetsid,
  kSetgroups,
  kSetgid,
  kSetuid,
  kChdir,
  kOpenStdin,
  kOpenStdout,
  kOpenStderr,
  kDup2,
  kCloseFds,
  kExec,
  kCgroup,
};

struct ChildReport {
  ChildStep step;
  int err;
};

// Everything the child needs, prepared before fork: after fork in a threaded
// process only async-signal-safe calls are allowed, so no allocation there.
struct ChildPlan {
  const char* program;
  char* const* argv;
  char* const* envp;
  const char* workdir;
  const char* stdout_path;
  const char* stderr_path;  // nullptr: share stdout's open file description
  int out_flags;
  const char* const* cgroup_files;  // nullptr-terminated
  bool set_groups;  // only root may call setgroups
  bool set_gid;
  bool set_uid;
  gid_t gid;
  uid_t uid;
};

[[noreturn]] void ChildFail(int report_fd, ChildStep step) {
  ChildReport r{step, errno};
  ssize_t n;
  do {
    n = write(report_fd, &r, sizeof(r));
  } while (n < 0 && errno == EINTR);
  _exit(127);
}

// Returns an fd above 2, so the dup2 onto 0/1/2 never hits a descriptor that
// is itself one of the targets (gmd may run with 0-2 closed).
int MoveAbove2(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  int saved = errno;
  close(fd);
  errno = saved;
  return moved;
}

// Marks every descriptor from 3 up close-on-exec, so nothing of gmd's (sockets,
// the store, other jobs' files) reaches the job, including descriptors another
// gmd thread opened without O_CLOEXEC.
bool CloseOnExecFrom3() {
  if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return true;
  // Kernels before 5.11: walk /proc/self/fd with raw getdents64 (no malloc).
  int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    struct rlimit rl {};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
    rlim_t top = std::min<rlim_t>(rl.rlim_cur, 1 << 20);
    for (rlim_t fd = 3; fd < top; ++fd) fcntl(static_cast<int>(fd), F_SETFD, FD_CLOEXEC);
    return true;
  }
  alignas(struct dirent64) char buf[4096];
  for (;;) {
    long n = syscall(SYS_getdents64, dir, buf, sizeof(buf));
    if (n < 0) return false;
    if (n == 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      int fd = 0;
      bool number = d->d_name[0] != '\0';
      for (const char* c = d->d_name; *c != '\0'; ++c) {
        if (*c < '0' || *c > '9') number = false;
        else fd = fd * 10 + (*c - '0');
      }
      if (number && fd > 2 && fd != dir) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
  close(dir);
  return true;
}

[[noreturn]] void RunChild(const ChildPlan& p, int report_fd) {
  report_fd = MoveAbove2(report_fd);
  if (report_fd < 0) _exit(127);

  // Ignored signals and the blocked mask survive exec; the job must start
  // with defaults, whatever gmd's threads set up for themselves.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);  // EINVAL for libc's own: fine
  }

  if (setsid() < 0) ChildFail(report_fd, ChildStep::kSetsid);
  for (const char* const* f = p.cgroup_files; f && *f; ++f) {
    int fd = open(*f, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) ChildFail(report_fd, ChildStep::kCgroup);
    close(fd);
  }
  if (p.set_groups && setgroups(1, &p.gid) != 0) ChildFail(report_fd, ChildStep::kSetgroups);
  if (p.set_gid && setgid(p.gid) != 0) ChildFail(report_fd, ChildStep::kSetgid);
  if (p.set_uid && setuid(p.uid) != 0) ChildFail(report_fd, ChildStep::kSetuid);
  if (chdir(p.workdir) != 0) ChildFail(report_fd, ChildStep::kChdir);

  int in = MoveAbove2(open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (in < 0) ChildFail(report_fd, ChildStep::kOpenStdin);
  int out = MoveAbove2(open(p.stdout_path, p.out_flags, 0644));
  if (out < 0) ChildFail(report_fd, ChildStep::kOpenStdout);
  int err = out;
  if (p.stderr_path != nullptr) {
    err = MoveAbove2(open(p.stderr_path, p.out_flags, 0644));
    if (err < 0) ChildFail(report_fd, ChildStep::kOpenStderr);
  }
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) ChildFail(report_fd, ChildStep::kDup2);
  if (!CloseOnExecFrom3()) ChildFail(report_fd, ChildStep::kCloseFds);

  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) ChildFail(report_fd, ChildStep::kSignals);
  execve(p.program, p.argv, p.envp);
  ChildFail(report_fd, ChildStep::kExec);
}

// Whether any process of group `pgid` still runs. kill(-pgid, 0) alone is not
// enough: it also succeeds on zombies, and an init that reaps orphans slowly
// (or gmd running as PID 1 in a container) would then hold the job open for
// the whole grace period after everything in it had died.
bool GroupHasLiveMembers(pid_t pgid) {
  if (kill(-pgid, 0) != 0 && errno == ESRCH) return false;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return true;
  bool live = false;
  while (struct dirent* e = readdir(proc)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    std::string path = std::string("/proc/") + e->d_name + "/stat";
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buf[512];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = '\0';
    // "pid (comm) S ppid pgrp ...": comm may hold spaces and ')', so parse from the last ')'.
    const char* paren = std::strrchr(buf, ')');
    char state = 0;
    int ppid = 0, pgrp = 0;
    if (paren == nullptr || std::sscanf(paren + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') {
      live = true;
      break;
    }
  }
  closedir(proc);
  return live;
}

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

Status ValidateSpec(const LaunchSpec& s) {
  if (s.program.empty() || s.program[0] != '/' || HasNul(s.program)) {
    return Status::InvalidArgument("program must be an absolute path, got \"" + s.program + "\"");
  }
  if (s.workdir.empty() || HasNul(s.workdir)) return Status::InvalidArgument("workdir is empty");
  if (HasNul(s.stdout_path) || HasNul(s.stderr_path)) {
    return Status::InvalidArgument("output path holds a NUL byte");
  }
  for (const std::string& a : s.args) {
    if (HasNul(a)) return Status::InvalidArgument("argument holds a NUL byte");
  }
  for (const auto& [key, value] : s.env) {
    if (key.empty() || key.find('=') != std::string::npos || HasNul(key) || HasNul(value)) {
      return Status::InvalidArgument("bad environment variable name \"" + key + "\"");
    }
  }
  if (s.time_limit_s && *s.time_limit_s <= 0) {
    return Status::InvalidArgument("time limit must be positive, got " +
                                   std::to_string(*s.time_limit_s) + " s");
  }
  if (s.time_limit_s && *s.time_limit_s > INT64_MAX / 1000000000) {
    return Status::InvalidArgument("time limit too large");
  }
  if (s.kill_grace_s < 0) return Status::InvalidArgument("kill_grace_s must be >= 0");
  return Status::OK();
}

Result<gid_t> PrimaryGroupOf(uid_t uid) {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::string buf(size > 0 ? static_cast<size_t>(size) : 16384, '\0');
  struct passwd pw {};
  struct passwd* found = nullptr;
  int rc = getpwuid_r(uid, &pw, buf.data(), buf.size(), &found);
  if (found == nullptr) {
    return Status::InvalidArgument("run_as_uid " + std::to_string(uid) +
                                   " has no passwd entry, so no group to run as" +
                                   (rc != 0 ? std::string(": ") + std::strerror(rc) : ""));
  }
  return pw.pw_gid;
}

Status StatusForErrno(int err, const std::string& message) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return Status::NotFound(message);
    case EACCES:
    case EPERM:
      return Status::PermissionDenied(message);
    case ENOEXEC:
      return Status::InvalidArgument(message + " (no #! line?)");
    default:
      return Status::IOError(message);
  }
}

std::string DescribeStep(ChildStep step, const LaunchSpec& s, const ChildPlan& p) {
  switch (step) {
    case ChildStep::kSignals: return "resetting signals";
    case ChildStep::kSetsid: return "setsid";
    case ChildStep::kSetgroups: return "setgroups " + std::to_string(p.gid);
    case ChildStep::kSetgid: return "setgid " + std::to_string(p.gid);
    case ChildStep::kSetuid: return "setuid " + std::to_string(p.uid);
    case ChildStep::kChdir: return "chdir " + s.workdir;
    case ChildStep::kOpenStdin: return "open /dev/null";
    case ChildStep::kOpenStdout: return std::string("open stdout ") + p.stdout_path;
    case ChildStep::kOpenStderr: return "open stderr " + s.stderr_path;
    case ChildStep::kDup2: return "dup2";
    case ChildStep::kCloseFds: return "marking descriptors close-on-exec";
    case ChildStep::kExec: return "exec " + s.program;
    case ChildStep::kCgroup: return "joining cgroup";
  }
  return "launch";
}

// Owns the strings a ChildPlan points into.
struct ExecStrings {
  std::vector<std::string> args;
  std::vector<std::string> env;
  std::vector<char*> argv;
  std::vector<char*> envp;
  std::vector<const char*> cgroup_files;
};

Result<ChildPlan> PlanChild(const LaunchSpec& s, ExecStrings* strings) {
  GM_RETURN_IF_ERROR(ValidateSpec(s));
  ChildPlan plan{};
  plan.set_uid = s.run_as_uid.has_value();
  plan.set_gid = s.run_as_gid.has_value() || plan.set_uid;
  if (plan.set_uid) plan.uid = *s.run_as_uid;
  if (s.run_as_gid) {
    plan.gid = *s.run_as_gid;
  } else if (plan.set_uid) {
    GM_ASSIGN_OR_RETURN(plan.gid, PrimaryGroupOf(plan.uid));
  }
  plan.set_groups = plan.set_gid && geteuid() == 0;

  strings->args.push_back(s.program);
  strings->args.insert(strings->args.end(), s.args.begin(), s.args.end());
  for (const auto& [key, value] : s.env) strings->env.push_back(key + "=" + value);
  for (std::string& a : strings->args) strings->argv.push_back(a.data());
  strings->argv.push_back(nullptr);
  for (std::string& e : strings->env) strings->envp.push_back(e.data());
  strings->envp.push_back(nullptr);

  for (const std::string& f : s.cgroup_procs_files) strings->cgroup_files.push_back(f.c_str());
  strings->cgroup_files.push_back(nullptr);
  plan.cgroup_files = strings->cgroup_files.data();
  plan.program = s.program.c_str();
  plan.argv = strings->argv.data();
  plan.envp = strings->envp.data();
  plan.workdir = s.workdir.c_str();
  plan.stdout_path = s.stdout_path.empty() ? "/dev/null" : s.stdout_path.c_str();
  plan.stderr_path =
      (s.stderr_path.empty() || s.stderr_path == s.stdout_path) ? nullptr : s.stderr_path.c_str();
  plan.out_flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY | (s.append ? O_APPEND : O_TRUNC);
  return plan;
}

// Forks and execs; returns the running script's pid, or why the child could
// not get as far as exec (it is reaped then).
Result<pid_t> Launch(const LaunchSpec& spec) {
  ExecStrings strings;
  GM_ASSIGN_OR_RETURN(ChildPlan plan, PlanChild(spec, &strings));
  // Closed by a successful exec, so an EOF on it means the script is running.
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) return Status::IOError(std::string("pipe2: ") + std::strerror(errno));

  pid_t child = fork();
  if (child == 0) RunChild(plan, report[1]);
  int fork_errno = errno;
  close(report[1]);
  if (child < 0) {
    close(report[0]);
    return Status::ResourceExhausted(std::string("fork: ") + std::strerror(fork_errno));
  }
  ChildReport r{};
  ssize_t got;
  do {
    got = read(report[0], &r, sizeof(r));
  } while (got < 0 && errno == EINTR);
  close(report[0]);
  if (got <= 0) return child;

  int status;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return StatusForErrno(r.err, DescribeStep(r.step, spec, plan) + ": " + std::strerror(r.err));
}

}  // namespace

JobRunner::JobRunner(LaunchSpec spec) : spec_(std::move(spec)) {
  info_.reason = EndReason::kLaunchFailed;
  info_.exit_code = 1;
  info_.message = "not started";
}

JobRunner::~JobRunner() {
  std::lock_guard<std::mutex> lock(mu_);
  if (phase_ == Phase::kRunning || phase_ == Phase::kDraining) {
    kill(-pid_, SIGKILL);
    if (!leader_reaped_) {
      int status;
      while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  if (pidfd_ >= 0) close(pidfd_);
  if (wakefd_ >= 0) close(wakefd_);
}

pid_t JobRunner::pid() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pid_;
}

Status JobRunner::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (start_called_) return Status::FailedPrecondition("JobRunner::Start called twice");
  start_called_ = true;
  const int64_t start_ns = MonotonicNs();
  info_.start_unix_ms = UnixMs();
  wakefd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  Result<pid_t> child = wakefd_ >= 0
                            ? Launch(spec_)
                            : Result<pid_t>(Status::IOError(std::string("eventfd: ") + std::strerror(errno)));
  if (!child.ok()) {
    info_.message = child.status().message();
    info_.end_unix_ms = UnixMs();
    return child.status();
  }
  pid_ = *child;
  // Opened before anyone can reap the child, so it cannot name a reused pid.
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  if (spec_.time_limit_s) limit_deadline_ns_ = start_ns + *spec_.time_limit_s * 1000000000;
  info_.message.clear();
  phase_ = Phase::kRunning;
  return Status::OK();
}

void JobRunner::Cancel(int sig) {
  std::lock_guard<std::mutex> lock(mu_);
  if (phase_ == Phase::kRunning && LeaderExited()) return;  // it finished on its own first
  if (phase_ != Phase::kRunning && phase_ != Phase::kDraining) return;
  BeginEscalation(EndReason::kCancelled, sig);
  Wake();
}

void JobRunner::Signal(int sig) {
  std::lock_guard<std::mutex> lock(mu_);
  if (phase_ == Phase::kRunning || phase_ == Phase::kDraining) kill(-pid_, sig);
}

ExitInfo JobRunner::Wait() {
  for (;;) {
    NextPoll next;
    int wakefd;
    {
      std::lock_guard<std::mutex> lock(mu_);
      next = Advance();
      if (next.done) return info_;
      wakefd = wakefd_;
    }
    pollfd fds[2];
    nfds_t n = 0;
    if (next.fd >= 0) fds[n++] = pollfd{next.fd, POLLIN, 0};
    fds[n++] = pollfd{wakefd, POLLIN, 0};
    poll(fds, n, next.timeout_ms);  // EINTR or timeout: Advance looks again
    uint64_t ignored;
    while (read(wakefd, &ignored, sizeof(ignored)) > 0) {
    }
  }
}

std::optional<ExitInfo> JobRunner::TryWait() {
  std::lock_guard<std::mutex> lock(mu_);
  if (Advance().done) return info_;
  return std::nullopt;
}

JobRunner::NextPoll JobRunner::Advance() {
  NextPoll next;
  if (phase_ == Phase::kIdle || phase_ == Phase::kDone) {
    next.done = true;
    return next;
  }
  const int64_t now = MonotonicNs();

  if (phase_ == Phase::kRunning) {
    if (LeaderExited()) {
      if (kill_deadline_ns_ != 0 && !kill_sent_) {
        // Cancel or time limit under way: the rest of the group keeps its
        // grace period to finish (checkpoint) before SIGKILL, as in Slurm.
        ReapLeader();
        phase_ = Phase::kDraining;
      } else {
        // The unreaped leader still holds the group id, so this cannot hit a
        // group that reused the number.
        kill(-pid_, SIGKILL);
        ReapLeader();
        Finish();
        next.done = true;
        return next;
      }
    } else {
      if (limit_deadline_ns_ != 0 && now >= limit_deadline_ns_) {
        BeginEscalation(EndReason::kTimeout, SIGTERM);
      }
      if (kill_deadline_ns_ != 0 && !kill_sent_ && now >= kill_deadline_ns_) {
        kill(-pid_, SIGKILL);
        kill_sent_ = true;
      }
      int64_t deadline = 0;
      if (limit_deadline_ns_ != 0) deadline = limit_deadline_ns_;
      if (kill_deadline_ns_ != 0 && !kill_sent_ && (deadline == 0 || kill_deadline_ns_ < deadline)) {
        deadline = kill_deadline_ns_;
      }
      next.timeout_ms = deadline != 0 ? MillisUntil(deadline) : -1;
      if (pidfd_ >= 0) {
        next.fd = pidfd_;
      } else if (next.timeout_ms < 0 || next.timeout_ms > kFallbackPollMs) {
        next.timeout_ms = kFallbackPollMs;
      }
      return next;
    }
  }

  // kDraining: the leader is gone; wait for the group to empty or the grace to end.
  if (kill_sent_ || !GroupHasLiveMembers(pid_)) {
    Finish();
    next.done = true;
    return next;
  }
  if (now >= kill_deadline_ns_) {
    kill(-pid_, SIGKILL);
    kill_sent_ = true;
    Finish();
    next.done = true;
    return next;
  }
  next.timeout_ms = std::min(kDrainPollMs, MillisUntil(kill_deadline_ns_));
  return next;
}

bool JobRunner::LeaderExited() {
  if (leader_reaped_) return true;
  siginfo_t si{};
  int rc;
  do {
    rc = waitid(P_PID, static_cast<id_t>(pid_), &si, WEXITED | WNOHANG | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) {
    // ECHILD: something else in gmd reaped it (SIGCHLD ignored, waitpid(-1)).
    // The job is over either way; its status is lost.
    status_lost_ = true;
    return true;
  }
  return si.si_pid == pid_;
}

void JobRunner::ReapLeader() {
  if (leader_reaped_) return;
  leader_reaped_ = true;
  if (status_lost_) return;
  struct rusage ru {};
  int status = 0;
  pid_t rc;
  do {
    rc = wait4(pid_, &status, 0, &ru);
  } while (rc < 0 && errno == EINTR);
  if (rc != pid_) {
    status_lost_ = true;
    return;
  }
  wait_status_ = status;
  info_.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                      static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  info_.max_rss_kb = ru.ru_maxrss;  // Linux reports kilobytes
}

void JobRunner::BeginEscalation(EndReason why, int sig) {
  if (!forced_reason_) forced_reason_ = why;
  limit_deadline_ns_ = 0;  // once the job is being ended, the limit has done its work
  // SIGCONT first, as Slurm does: a stopped process cannot act on SIGTERM.
  kill(-pid_, SIGCONT);
  kill(-pid_, sig);
  if (sig == SIGKILL) {
    kill_sent_ = true;
  } else if (kill_deadline_ns_ == 0) {
    kill_deadline_ns_ = MonotonicNs() + static_cast<int64_t>(spec_.kill_grace_s) * 1000000000;
  }
}

void JobRunner::Finish() {
  info_.end_unix_ms = UnixMs();
  if (status_lost_) {
    info_.reason = forced_reason_.value_or(EndReason::kExited);
    info_.exit_code = 0;
    info_.signal = 0;
    info_.message = "exit status lost: the process was reaped outside JobRunner";
  } else {
    info_.exit_code = WIFEXITED(wait_status_) ? WEXITSTATUS(wait_status_) : 0;
    info_.signal = WIFSIGNALED(wait_status_) ? WTERMSIG(wait_status_) : 0;
    if (forced_reason_) {
      info_.reason = *forced_reason_;
    } else {
      info_.reason = WIFSIGNALED(wait_status_) ? EndReason::kSignaled : EndReason::kExited;
    }
  }
  phase_ = Phase::kDone;
}

void JobRunner::Wake() {
  uint64_t one = 1;
  ssize_t rc = write(wakefd_, &one, sizeof(one));
  (void)rc;  // EAGAIN: the counter is already non-zero, Wait will wake anyway
}

int JobRunner::MillisUntil(int64_t deadline_ns) const {
  int64_t left = deadline_ns - MonotonicNs();
  if (left <= 0) return 0;
  int64_t ms = (left + 999999) / 1000000;  // round up, so Wait never wakes early and spins
  return static_cast<int>(std::min<int64_t>(ms, INT_MAX));
}

}  // namespace gm::worker
