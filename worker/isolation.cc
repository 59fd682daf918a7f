// The job user (useradd), cgroup jails (v2, or v1 on hybrid hosts) and
// bubblewrap command lines: how gmd keeps strangers' jobs apart from the
// provider and from each other.
#include "worker/isolation.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace gm::worker {
namespace {

constexpr int64_t kCpuPeriodUs = 100000;  // the kernel's default CFS period
constexpr int kSessionPasses = 100;

std::string Errno() { return std::strerror(errno); }

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// cgroup files take one write(2) each: the kernel parses the whole buffer.
Status WriteCgroupFile(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("cannot open " + path + ": " + Errno());
  ssize_t n = write(fd, value.data(), value.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    if (n < 0 && err == ESRCH) return Status::NotFound("no process " + value + " (writing " + path + ")");
    return Status::IOError("cannot write '" + value + "' to " + path + ": " + std::strerror(n < 0 ? err : EIO));
  }
  return Status::OK();
}

Result<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::IOError("cannot read " + path + ": " + Errno());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<int64_t> ReadInt(const std::string& path) {
  auto text = ReadSmallFile(path);
  if (!text.ok()) return std::nullopt;
  try {
    return std::stoll(*text);
  } catch (...) {
    return std::nullopt;
  }
}

// "key value" lines (memory.events, cpu.stat, memory.oom_control).
std::optional<int64_t> ReadKeyed(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string k;
  int64_t v;
  while (in >> k >> v)
    if (k == key) return v;
  return std::nullopt;
}

Result<std::vector<pid_t>> ReadProcs(const std::string& procs_file) {
  std::ifstream in(procs_file);
  if (!in) return Status::IOError("cannot read " + procs_file + ": " + Errno());
  std::vector<pid_t> pids;
  pid_t p;
  while (in >> p) pids.push_back(p);
  return pids;
}

bool PlainName(const std::string& s) {
  if (s.empty() || s.size() > 64 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

// mountinfo escapes spaces and friends as \ooo.
std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3 && ok; ++k) {
        ok = s[i + k] >= '0' && s[i + k] <= '7';
        if (ok) v = v * 8 + (s[i + k] - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep))
    if (!cur.empty()) out.push_back(cur);
  return out;
}

// ---------------------------------------------------------------------------
// Child processes (useradd, the bwrap probe).

struct ChildResult {
  int wait_status = 0;
  std::string output;  // stdout and stderr together
};

// fork + execve with a fixed environment, optionally as uid/gid. Everything
// the child needs is prepared before fork: gmd has threads, so the child may
// only make async-signal-safe calls.
Result<ChildResult> RunChild(const std::vector<std::string>& argv, std::optional<std::pair<uid_t, gid_t>> as) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::string path_env = "PATH=/usr/sbin:/usr/bin:/sbin:/bin", lang_env = "LC_ALL=C";
  char* envp[] = {path_env.data(), lang_env.data(), nullptr};
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return Status::IOError("pipe: " + Errno());
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return Status::ResourceExhausted("fork: " + Errno());
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    if (as) {
      gid_t g = as->second;
      if (setgroups(1, &g) != 0 || setgid(as->second) != 0 || setuid(as->first) != 0) _exit(126);
    }
    execve(args[0], args.data(), envp);
    _exit(127);
  }
  close(fds[1]);
  ChildResult r;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (r.output.size() < 65536) r.output.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  while (waitpid(pid, &r.wait_status, 0) < 0 && errno == EINTR) {
  }
  while (!r.output.empty() && (r.output.back() == '\n' || r.output.back() == ' ')) r.output.pop_back();
  return r;
}

std::string DescribeWait(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// ---------------------------------------------------------------------------
// Users.

bool ValidUserName(const std::string& n) {
  if (n.empty() || n.size() > 32) return false;
  if (!((n[0] >= 'a' && n[0] <= 'z') || n[0] == '_')) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// getpwnam is not thread-safe; gmd has threads.
bool LookupUser(const std::string& name, uid_t* uid, gid_t* gid) {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  while (getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) == ERANGE) buf.resize(buf.size() * 2);
  if (!found) return false;
  *uid = found->pw_uid;
  *gid = found->pw_gid;
  return true;
}

}  // namespace

Status EnsureJobUser(const std::string& name, uid_t* uid, gid_t* gid) {
  if (!ValidUserName(name))
    return Status::InvalidArgument("'" + name + "' is not a valid user name ([a-z_][a-z0-9_-]{0,31})");
  uid_t u = 0;
  gid_t g = 0;
  if (!LookupUser(name, &u, &g)) {
    if (geteuid() != 0)
      return Status::PermissionDenied("user " + name + " does not exist and only root can create it");
    std::string useradd = Exists("/usr/sbin/useradd") ? "/usr/sbin/useradd" : "/sbin/useradd";
    if (!Exists(useradd)) return Status::IOError("useradd not found (install the passwd package)");
    std::string nologin = Exists("/usr/sbin/nologin") ? "/usr/sbin/nologin" : "/bin/false";
    for (int attempt = 0;; ++attempt) {
      GM_ASSIGN_OR_RETURN(ChildResult r, RunChild({useradd, "--system", "--no-create-home", "--home-dir",
                                                   "/nonexistent", "--shell", nologin, "--user-group",
                                                   "--comment", "GridMint jobs", name},
                                                  std::nullopt));
      int code = WIFEXITED(r.wait_status) ? WEXITSTATUS(r.wait_status) : -1;
      if (code == 0 || code == 9) break;  // 9: created meanwhile by someone else
      // 1 and 10: /etc/passwd or /etc/group locked by another useradd.
      if ((code == 1 || code == 10) && attempt < 10) {
        SleepMs(100 * (attempt + 1));
        continue;
      }
      return Status::IOError("useradd " + name + " failed (" + DescribeWait(r.wait_status) + "): " + r.output);
    }
    if (!LookupUser(name, &u, &g)) return Status::IOError("useradd succeeded but user " + name + " is not found");
  }
  if (u == 0 || g == 0)
    return Status::FailedPrecondition("job user " + name + " has uid " + std::to_string(u) + " and gid " +
                                      std::to_string(g) + "; jobs must never run as root");
  *uid = u;
  *gid = g;
  return Status::OK();
}

// ---------------------------------------------------------------------------
// cgroups.

CgroupTree DetectCgroupTree(const std::string& mountinfo_path) {
  CgroupTree tree;
  std::ifstream in(mountinfo_path);
  if (!in) {
    tree.description = "cannot read " + mountinfo_path;
    return tree;
  }
  std::vector<std::string> notes;
  std::string v2_found;
  std::map<std::string, std::string> v1;
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f = Split(line, ' ');
    auto dash = std::find(f.begin(), f.end(), "-");
    // id parent major:minor root mount-point options [optional...] - fstype source super-options
    if (f.size() < 6 || dash == f.end() || std::distance(dash, f.end()) < 4) continue;
    const std::string mp = Unescape(f[4]);
    const bool rw = f[5].rfind("rw", 0) == 0 && access(mp.c_str(), W_OK) == 0;
    const std::string& fstype = *(dash + 1);
    const std::string& super = *(dash + 3);
    if (fstype == "cgroup2") {
      auto controllers = ReadSmallFile(mp + "/cgroup.controllers");
      std::string first_line = controllers.ok() ? controllers->substr(0, controllers->find('\n')) : "";
      std::vector<std::string> have = Split(first_line, ' ');
      bool mem = std::count(have.begin(), have.end(), "memory") > 0;
      bool cpu = std::count(have.begin(), have.end(), "cpu") > 0;
      if (mem && cpu && rw) {
        if (v2_found.empty()) v2_found = mp;
      } else {
        std::string has;
        for (const auto& h : have) has += (has.empty() ? "" : " ") + h;
        notes.push_back("cgroup2 at " + mp + (!rw ? " is not writable" : " has " + (has.empty() ? std::string("no controllers") : has + " only")) +
                        " (needs memory and cpu)");
      }
    } else if (fstype == "cgroup") {
      for (const std::string& c : Split(super, ','))
        if (c == "memory" || c == "cpu" || c == "cpuacct" || c == "pids") {
          if (rw) v1.emplace(c, mp);
          else notes.push_back("cgroup v1 " + c + " at " + mp + " is not writable");
        }
    }
  }
  auto join_notes = [&] {
    std::string s;
    for (const auto& n : notes) s += "; " + n;
    return s;
  };
  if (!v2_found.empty()) {
    tree.version = CgroupVersion::kV2;
    tree.v2_mount = v2_found;
    tree.description = "cgroup v2 at " + v2_found;
  } else if (v1.count("memory") && v1.count("cpu")) {
    tree.version = CgroupVersion::kV1;
    tree.v1_mounts = v1;
    tree.description = "cgroup v1:";
    for (const auto& [c, mp] : v1) tree.description += " " + c + " at " + mp + ",";
    tree.description.pop_back();
    tree.description += join_notes();
  } else {
    tree.description = "no writable cgroup tree with the memory and cpu controllers" +
                       std::string(v1.count("memory") ? "" : "; no writable v1 memory hierarchy") +
                       std::string(v1.count("cpu") ? "" : "; no writable v1 cpu hierarchy") + join_notes();
  }
  return tree;
}

Result<std::vector<std::pair<std::string, std::string>>> CgroupLimitFiles(CgroupVersion version,
                                                                          const CgroupLimits& limits) {
  std::vector<std::pair<std::string, std::string>> files;
  if (version == CgroupVersion::kNone) return files;
  const bool v2 = version == CgroupVersion::kV2;
  if (limits.memory_bytes) {
    if (*limits.memory_bytes < (1 << 20))
      return Status::InvalidArgument("memory limit " + std::to_string(*limits.memory_bytes) + " is below 1 MiB");
    std::string m = std::to_string(*limits.memory_bytes);
    if (v2) {
      files.emplace_back("memory.max", m);
      files.emplace_back("memory.swap.max", "0");
    } else {
      // limit_in_bytes first: memsw may never be below it.
      files.emplace_back("memory.limit_in_bytes", m);
      files.emplace_back("memory.memsw.limit_in_bytes", m);
    }
  }
  if (limits.cpu_millicores) {
    if (*limits.cpu_millicores < 10)
      return Status::InvalidArgument("cpu limit " + std::to_string(*limits.cpu_millicores) +
                                     " millicores is below 10 (a 1 ms quota)");
    std::string quota = std::to_string(*limits.cpu_millicores * kCpuPeriodUs / 1000);
    if (v2) {
      files.emplace_back("cpu.max", quota + " " + std::to_string(kCpuPeriodUs));
    } else {
      files.emplace_back("cpu.cfs_period_us", std::to_string(kCpuPeriodUs));
      files.emplace_back("cpu.cfs_quota_us", quota);
    }
  }
  if (limits.pids_max) {
    if (*limits.pids_max < 1) return Status::InvalidArgument("pids limit must be >= 1");
    files.emplace_back("pids.max", std::to_string(*limits.pids_max));
  }
  return files;
}

namespace {

// v2: makes `controllers` available to the children of `dir`.
void EnableControllers(const std::string& dir, const std::vector<std::string>& controllers) {
  for (const auto& c : controllers) (void)WriteCgroupFile(dir + "/cgroup.subtree_control", "+" + c);
}

Status MakeDir(const std::string& dir, bool job_dir) {
  if (mkdir(dir.c_str(), 0755) == 0) return Status::OK();
  if (errno != EEXIST) return Status::IOError("cannot create cgroup " + dir + ": " + Errno());
  if (!job_dir) return Status::OK();
  // A leftover from a gmd that died: reuse the name only if it is empty, and
  // start from a fresh directory so that no counter or limit carries over.
  auto procs = ReadProcs(dir + "/cgroup.procs");
  if (procs.ok() && !procs->empty())
    return Status::AlreadyExists("cgroup " + dir + " already exists with " + std::to_string(procs->size()) +
                                 " processes");
  if (rmdir(dir.c_str()) != 0 || mkdir(dir.c_str(), 0755) != 0)
    return Status::IOError("cannot recreate cgroup " + dir + ": " + Errno());
  return Status::OK();
}

std::string DescribeLimits(const CgroupLimits& l) {
  std::string s;
  auto add = [&](const std::string& x) { s += (s.empty() ? "" : ", ") + x; };
  if (l.memory_bytes) add("memory " + std::to_string(*l.memory_bytes) + " bytes");
  if (l.cpu_millicores) {
    char buf[64];
    snprintf(buf, sizeof buf, "cpu %lld.%03lld cores", static_cast<long long>(*l.cpu_millicores / 1000),
             static_cast<long long>(*l.cpu_millicores % 1000));
    add(buf);
  }
  if (l.pids_max) add("pids " + std::to_string(*l.pids_max));
  return s.empty() ? "no limits" : s;
}

// The session id of a process, from /proc/<pid>/stat (the field after
// state, ppid and pgrp, counted from the last ')': comm may hold anything).
std::optional<pid_t> SessionOf(const std::string& pid_dir) {
  auto text = ReadSmallFile(pid_dir + "/stat");
  if (!text.ok()) return std::nullopt;
  auto close_paren = text->rfind(')');
  if (close_paren == std::string::npos) return std::nullopt;
  std::istringstream in(text->substr(close_paren + 1));
  std::string state;
  long ppid, pgrp, session;
  if (!(in >> state >> ppid >> pgrp >> session)) return std::nullopt;
  return static_cast<pid_t>(session);
}

std::vector<pid_t> SessionMembers(pid_t sid) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (struct dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    auto s = SessionOf(std::string("/proc/") + e->d_name);
    if (s && *s == sid) out.push_back(static_cast<pid_t>(pid));
  }
  closedir(d);
  return out;
}

}  // namespace

Result<std::unique_ptr<CgroupJail>> CgroupJail::Create(const CgroupTree& tree, const std::string& job_name,
                                                       const CgroupLimits& limits, const std::string& parent) {
  if (tree.version == CgroupVersion::kNone)
    return Status::FailedPrecondition(tree.description.empty() ? "no usable cgroup tree" : tree.description);
  if (!PlainName(job_name)) return Status::InvalidArgument("cgroup name '" + job_name + "' is not a plain name");
  if (!PlainName(parent)) return Status::InvalidArgument("cgroup parent '" + parent + "' is not a plain name");
  GM_ASSIGN_OR_RETURN(auto files, CgroupLimitFiles(tree.version, limits));

  std::unique_ptr<CgroupJail> jail(new CgroupJail());
  jail->version_ = tree.version;
  jail->limits_text_ = DescribeLimits(limits);
  // Which directory each controller's files go to.
  std::map<std::string, std::string> dir_of;
  if (tree.version == CgroupVersion::kV2) {
    std::vector<std::string> wanted = {"memory", "cpu"};
    auto available = ReadSmallFile(tree.v2_mount + "/cgroup.controllers");
    if (available.ok() && available->find("pids") != std::string::npos) wanted.push_back("pids");
    EnableControllers(tree.v2_mount, wanted);
    std::string base = tree.v2_mount + "/" + parent;
    GM_RETURN_IF_ERROR(MakeDir(base, false));
    EnableControllers(base, wanted);
    std::string dir = base + "/" + job_name;
    GM_RETURN_IF_ERROR(MakeDir(dir, true));
    jail->dirs_ = {dir};
    for (const char* c : {"memory", "cpu", "pids"}) dir_of[c] = dir;
    jail->memory_dir_ = jail->cpuacct_dir_ = dir;
  } else {
    std::map<std::string, std::string> made;  // mount point -> job dir
    for (const auto& [controller, mount] : tree.v1_mounts) {
      if (!made.count(mount)) {
        std::string base = mount + "/" + parent;
        Status s = MakeDir(base, false);
        if (s.ok()) s = MakeDir(base + "/" + job_name, true);
        if (!s.ok()) {
          (void)jail->RemoveDirs(1000);
          jail->destroyed_ = true;
          return s;
        }
        made[mount] = base + "/" + job_name;
        jail->dirs_.push_back(made[mount]);
      }
      dir_of[controller] = made[mount];
    }
    jail->memory_dir_ = dir_of["memory"];
    jail->cpuacct_dir_ = dir_of.count("cpuacct") ? dir_of["cpuacct"] : "";
  }
  for (const auto& d : jail->dirs_) jail->procs_files_.push_back(d + "/cgroup.procs");

  for (const auto& [file, value] : files) {
    std::string controller = file.substr(0, file.find('.'));
    if (!dir_of.count(controller)) continue;  // e.g. pids where it is not mounted
    std::string path = dir_of[controller] + "/" + file;
    const bool optional = file == "memory.memsw.limit_in_bytes" || file == "memory.swap.max";
    if (optional && !Exists(path)) continue;
    Status s = WriteCgroupFile(path, value);
    if (!s.ok()) {
      (void)jail->RemoveDirs(1000);
      jail->destroyed_ = true;
      return s;
    }
  }
  return jail;
}

CgroupJail::~CgroupJail() {
  if (!destroyed_) (void)Destroy();
}

Status CgroupJail::AddProcess(pid_t pid) {
  for (const auto& f : procs_files_) GM_RETURN_IF_ERROR(WriteCgroupFile(f, std::to_string(pid)));
  return Status::OK();
}

Status CgroupJail::AddSession(pid_t sid) {
  for (int pass = 0; pass < kSessionPasses; ++pass) {
    std::vector<pid_t> members = SessionMembers(sid);
    if (pass == 0 && members.empty()) return Status::NotFound("no process in session " + std::to_string(sid));
    GM_ASSIGN_OR_RETURN(std::vector<pid_t> inside_list, Pids());
    std::set<pid_t> inside(inside_list.begin(), inside_list.end());
    int moved = 0;
    for (pid_t p : members) {
      if (inside.count(p)) continue;
      Status s = AddProcess(p);
      if (s.code() == Status::Code::kNotFound) continue;  // exited meanwhile
      GM_RETURN_IF_ERROR(s);
      ++moved;
    }
    if (moved == 0) return Status::OK();
  }
  return Status::ResourceExhausted("session " + std::to_string(sid) + " keeps forking new processes outside " +
                                   dirs_[0]);
}

Result<std::vector<pid_t>> CgroupJail::Pids() const {
  std::set<pid_t> all;
  for (const auto& f : procs_files_) {
    GM_ASSIGN_OR_RETURN(auto pids, ReadProcs(f));
    all.insert(pids.begin(), pids.end());
  }
  return std::vector<pid_t>(all.begin(), all.end());
}

Result<CgroupUsage> CgroupJail::Usage() const {
  CgroupUsage u;
  if (version_ == CgroupVersion::kV2) {
    u.memory_peak_bytes = ReadInt(memory_dir_ + "/memory.peak");
    u.oom_kills = ReadKeyed(memory_dir_ + "/memory.events", "oom_kill");
    if (auto us = ReadKeyed(memory_dir_ + "/cpu.stat", "usage_usec")) u.cpu_usage_ns = *us * 1000;
  } else {
    u.memory_peak_bytes = ReadInt(memory_dir_ + "/memory.max_usage_in_bytes");
    u.oom_kills = ReadKeyed(memory_dir_ + "/memory.oom_control", "oom_kill");
    if (!cpuacct_dir_.empty()) u.cpu_usage_ns = ReadInt(cpuacct_dir_ + "/cpuacct.usage");
  }
  if (!u.memory_peak_bytes && !u.oom_kills && !u.cpu_usage_ns && !Exists(memory_dir_))
    return Status::IOError("cgroup " + memory_dir_ + " is gone");
  return u;
}

Status CgroupJail::RemoveDirs(int timeout_ms) {
  const int64_t deadline = MonotonicMs() + timeout_ms;
  for (const auto& d : dirs_) {
    // An exiting process may keep the cgroup busy for a moment after its kill.
    while (rmdir(d.c_str()) != 0 && errno != ENOENT) {
      if (errno != EBUSY || MonotonicMs() >= deadline)
        return Status::IOError("cannot remove cgroup " + d + ": " + Errno());
      SleepMs(10);
    }
  }
  return Status::OK();
}

Status CgroupJail::Destroy(int timeout_ms) {
  if (destroyed_) return Status::OK();
  const int64_t deadline = MonotonicMs() + timeout_ms;
  if (version_ == CgroupVersion::kV2 && Exists(dirs_[0] + "/cgroup.kill"))
    (void)WriteCgroupFile(dirs_[0] + "/cgroup.kill", "1");  // atomic, fork-proof (Linux 5.14)
  for (;;) {
    auto pids = Pids();
    if (!pids.ok()) break;  // already gone
    if (pids->empty()) break;
    if (MonotonicMs() >= deadline)
      return Status::Unavailable(std::to_string(pids->size()) + " processes still in cgroup " + dirs_[0] +
                                 " after " + std::to_string(timeout_ms) + " ms");
    for (pid_t p : *pids) kill(p, SIGKILL);
    SleepMs(10);
  }
  GM_RETURN_IF_ERROR(RemoveDirs(static_cast<int>(std::max<int64_t>(deadline - MonotonicMs(), 100))));
  destroyed_ = true;
  return Status::OK();
}

std::string CgroupJail::Describe() const {
  std::string s = version_ == CgroupVersion::kV2 ? "cgroup v2 " : "cgroup v1 ";
  for (size_t i = 0; i < dirs_.size(); ++i) s += (i ? ", " : "") + dirs_[i];
  return s + " (" + limits_text_ + ")";
}

// ---------------------------------------------------------------------------
// bubblewrap.

std::vector<std::string> BwrapArgv(const BwrapOptions& o) {
  if (o.job_dir.empty() || o.command.empty()) return {};
  std::vector<std::string> a = {o.bwrap_path,
                                "--ro-bind", "/", "/",
                                "--dev", "/dev",
                                "--proc", "/proc",
                                "--tmpfs", "/tmp"};
  for (const auto& d : o.hidden_dirs) {
    a.push_back("--tmpfs");
    a.push_back(d);
  }
  // After the tmpfs mounts: a job directory inside the state directory
  // reappears, and nothing else of it.
  a.insert(a.end(), {"--bind", o.job_dir, o.job_dir});
  if (!o.gpu_device_indices.empty()) {
    for (const char* ctl : {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"})
      a.insert(a.end(), {"--dev-bind-try", ctl, ctl});
    for (int i : o.gpu_device_indices) {
      std::string dev = "/dev/nvidia" + std::to_string(i);
      a.insert(a.end(), {"--dev-bind-try", dev, dev});
    }
  }
  a.insert(a.end(), {"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"});
  if (o.uid || o.gid) {
    a.push_back("--unshare-user");
    if (o.uid) a.insert(a.end(), {"--uid", std::to_string(*o.uid)});
    if (o.gid) a.insert(a.end(), {"--gid", std::to_string(*o.gid)});
  }
  a.insert(a.end(), {"--chdir", o.chdir.empty() ? o.job_dir : o.chdir, "--"});
  a.insert(a.end(), o.command.begin(), o.command.end());
  return a;
}

bool BwrapAvailable(const std::string& bwrap_path) {
  struct stat st {};
  return stat(bwrap_path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(bwrap_path.c_str(), X_OK) == 0;
}

Status ProbeBwrap(uid_t uid, gid_t gid, const std::string& bwrap_path) {
  if (!BwrapAvailable(bwrap_path)) return Status::NotFound(bwrap_path + " is not an executable (install bubblewrap)");
  GM_ASSIGN_OR_RETURN(ChildResult r, RunChild({bwrap_path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                                               "--unshare-pid", "--die-with-parent", "--", "/bin/true"},
                                              std::pair{uid, gid}));
  if (WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == 0) return Status::OK();
  return Status::Unavailable("bwrap as uid " + std::to_string(uid) + " failed (" + DescribeWait(r.wait_status) +
                             (r.output.empty() ? ")" : "): " + r.output));
}

}  // namespace gm::worker
