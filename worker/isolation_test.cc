// Tests for job isolation, on the real machine, as root: a job user that `id`
// knows, cgroups that OOM-kill a memory hog and hold a CPU quota, sessions
// moved into a jail and killed with it, and bubblewrap sandboxes in which the
// node key and other jobs' directories are out of reach. Every user, cgroup
// and directory made here is removed again.
//
// Suite names start with "isolation" so that `ctest -R isolation` selects
// them: gm_add_test registers tests under their GoogleTest names.
#include "worker/isolation.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/signing.h"
#include "worker/job_runner.h"

namespace gm::worker {
namespace {

namespace fs = std::filesystem;

std::string RunCapture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void DeleteUser(const std::string& name) {
  (void)system(("userdel " + name + " >/dev/null 2>&1; groupdel " + name + " >/dev/null 2>&1").c_str());
}

const std::string& TestTag() {
  static const std::string tag = std::to_string(getpid());
  return tag;
}

// ---------------------------------------------------------------------------
// The job user.

TEST(isolationJobUser, CreatesASystemUserThatIdShows) {
  const std::string name = "gmtestu" + TestTag();
  DeleteUser(name);
  uid_t uid = 0;
  gid_t gid = 0;
  Status s = EnsureJobUser(name, &uid, &gid);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Trim(RunCapture("id -u " + name)), std::to_string(uid));
  EXPECT_EQ(Trim(RunCapture("id -g " + name)), std::to_string(gid));
  EXPECT_GT(uid, 0u);
  EXPECT_LT(uid, 1000u);  // a system account
  // name:x:uid:gid:comment:home:shell
  std::string entry = Trim(RunCapture("getent passwd " + name));
  EXPECT_NE(entry.find(":/nonexistent:"), std::string::npos) << entry;
  EXPECT_NE(entry.find("nologin"), std::string::npos) << entry;
  EXPECT_FALSE(fs::exists("/nonexistent"));
  // Idempotent.
  uid_t uid2 = 0;
  gid_t gid2 = 0;
  ASSERT_TRUE(EnsureJobUser(name, &uid2, &gid2).ok());
  EXPECT_EQ(uid2, uid);
  EXPECT_EQ(gid2, gid);
  DeleteUser(name);
  EXPECT_EQ(Trim(RunCapture("getent passwd " + name)), "");
}

TEST(isolationJobUser, RefusesBadNamesAndRoot) {
  uid_t uid;
  gid_t gid;
  for (const char* bad : {"", "Root", "a b", "x;rm -rf /", "-x", "averyveryveryveryverylongusername1"})
    EXPECT_EQ(EnsureJobUser(bad, &uid, &gid).code(), Status::Code::kInvalidArgument) << bad;
  Status root = EnsureJobUser("root", &uid, &gid);
  EXPECT_EQ(root.code(), Status::Code::kFailedPrecondition) << root.ToString();
}

// ---------------------------------------------------------------------------
// cgroups.

class TempDir {
 public:
  explicit TempDir(const char* prefix = "/tmp/gm-iso-XXXXXX") {
    std::string tmpl = prefix;
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(isolationCgroup, DetectsAUsableTreeOnThisHost) {
  CgroupTree tree = DetectCgroupTree();
  std::cout << tree.description << "\n";
  ASSERT_NE(tree.version, CgroupVersion::kNone) << tree.description;
  // This project's machines are a v1/v2 hybrid whose v2 tree has hugetlb only.
  auto v2 = Slurp("/sys/fs/cgroup/unified/cgroup.controllers");
  if (fs::exists("/sys/fs/cgroup/memory/tasks") && v2.find("memory") == std::string::npos) {
    EXPECT_EQ(tree.version, CgroupVersion::kV1);
    EXPECT_EQ(tree.v1_mounts.at("memory"), "/sys/fs/cgroup/memory");
    EXPECT_EQ(tree.v1_mounts.at("cpu"), "/sys/fs/cgroup/cpu");
    if (!v2.empty()) {
      EXPECT_NE(tree.description.find("/sys/fs/cgroup/unified has"), std::string::npos) << tree.description;
    }
  }
}

TEST(isolationCgroup, DetectionFromAMountTable) {
  TempDir dir;
  const std::string hugetlb_only = dir.path() + "/unified", full = dir.path() + "/with space", v1mem = dir.path() + "/mem",
                    v1cpu = dir.path() + "/cpu";
  for (const auto& d : {hugetlb_only, full, v1mem, v1cpu}) fs::create_directories(d);
  std::ofstream(hugetlb_only + "/cgroup.controllers") << "hugetlb\n";
  std::ofstream(full + "/cgroup.controllers") << "cpuset cpu io memory pids\n";
  auto write_table = [&](const std::string& text) {
    std::ofstream(dir.path() + "/mountinfo") << text;
    return DetectCgroupTree(dir.path() + "/mountinfo");
  };
  const std::string unified_line = "35 25 0:30 / " + hugetlb_only + " rw,nosuid shared:9 - cgroup2 cgroup2 rw\n";
  const std::string mem_line = "36 25 0:31 / " + v1mem + " rw,relatime shared:10 - cgroup cgroup rw,memory\n";
  const std::string cpu_line = "37 25 0:32 / " + v1cpu + " rw,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct\n";
  // The mount point holds a space, escaped as mountinfo does.
  const std::string full_line = "38 25 0:33 / " + dir.path() + "/with\\040space rw,relatime - cgroup2 cgroup2 rw\n";

  CgroupTree v2 = write_table(unified_line + mem_line + full_line);
  EXPECT_EQ(v2.version, CgroupVersion::kV2) << v2.description;
  EXPECT_EQ(v2.v2_mount, full);

  CgroupTree v1 = write_table(unified_line + mem_line + cpu_line);
  EXPECT_EQ(v1.version, CgroupVersion::kV1) << v1.description;
  EXPECT_EQ(v1.v1_mounts.at("memory"), v1mem);
  EXPECT_EQ(v1.v1_mounts.at("cpu"), v1cpu);
  EXPECT_EQ(v1.v1_mounts.at("cpuacct"), v1cpu);  // a shared "cpu,cpuacct" mount
  EXPECT_NE(v1.description.find(hugetlb_only + " has hugetlb only"), std::string::npos) << v1.description;

  CgroupTree none = write_table(unified_line + mem_line);
  EXPECT_EQ(none.version, CgroupVersion::kNone);
  EXPECT_NE(none.description.find("no writable v1 cpu hierarchy"), std::string::npos) << none.description;
  EXPECT_NE(none.description.find("hugetlb only (needs memory and cpu)"), std::string::npos) << none.description;

  CgroupTree readonly = write_table("39 25 0:34 / " + full + " ro,relatime - cgroup2 cgroup2 ro\n");
  EXPECT_EQ(readonly.version, CgroupVersion::kNone);
  EXPECT_NE(readonly.description.find("is not writable"), std::string::npos) << readonly.description;

  EXPECT_EQ(DetectCgroupTree(dir.path() + "/missing").version, CgroupVersion::kNone);
}

TEST(isolationCgroup, LimitFileFormats) {
  CgroupLimits l;
  l.memory_bytes = 64 << 20;
  l.cpu_millicores = 1500;
  l.pids_max = 100;
  using Files = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(*CgroupLimitFiles(CgroupVersion::kV2, l),
            (Files{{"memory.max", "67108864"}, {"memory.swap.max", "0"}, {"cpu.max", "150000 100000"}, {"pids.max", "100"}}));
  EXPECT_EQ(*CgroupLimitFiles(CgroupVersion::kV1, l),
            (Files{{"memory.limit_in_bytes", "67108864"},
                   {"memory.memsw.limit_in_bytes", "67108864"},
                   {"cpu.cfs_period_us", "100000"},
                   {"cpu.cfs_quota_us", "150000"},
                   {"pids.max", "100"}}));
  EXPECT_TRUE(CgroupLimitFiles(CgroupVersion::kV2, {})->empty());
  CgroupLimits bad;
  bad.cpu_millicores = 5;
  EXPECT_EQ(CgroupLimitFiles(CgroupVersion::kV1, bad).status().code(), Status::Code::kInvalidArgument);
  bad = {};
  bad.memory_bytes = 4096;
  EXPECT_EQ(CgroupLimitFiles(CgroupVersion::kV2, bad).status().code(), Status::Code::kInvalidArgument);
}

TEST(isolationCgroup, NoTreeOrBadNamesAreRefused) {
  CgroupTree none;
  none.description = "no writable cgroup tree (test)";
  auto j = CgroupJail::Create(none, "job-1", {});
  EXPECT_EQ(j.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(j.status().message(), "no writable cgroup tree (test)");
  CgroupTree tree = DetectCgroupTree();
  for (const char* bad : {"", "..", "a/b", "../../etc"})
    EXPECT_EQ(CgroupJail::Create(tree, bad, {}).status().code(), Status::Code::kInvalidArgument) << bad;
}

class isolationCgroupJail : public ::testing::Test {
 protected:
  static std::string Parent() { return "gmtest-" + TestTag(); }
  static void TearDownTestSuite() {
    // The library leaves the shared parent in place (other jobs use it); the
    // tests remove theirs.
    CgroupTree tree = DetectCgroupTree();
    if (tree.version == CgroupVersion::kV2) rmdir((tree.v2_mount + "/" + Parent()).c_str());
    for (const auto& [c, mount] : tree.v1_mounts) rmdir((mount + "/" + Parent()).c_str());
  }
  void SetUp() override {
    tree_ = DetectCgroupTree();
    ASSERT_NE(tree_.version, CgroupVersion::kNone) << "no writable cgroup tree: " << tree_.description;
  }
  std::unique_ptr<CgroupJail> MakeJail(const std::string& name, const CgroupLimits& l) {
    auto j = CgroupJail::Create(tree_, name, l, Parent());
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? std::move(j).value() : nullptr;
  }
  // fork; the child joins the jail the way a job's child would before exec
  // (writing "0" to each cgroup.procs), then runs `body`.
  template <typename Body>
  pid_t ForkIntoJail(const CgroupJail& jail, Body body) {
    pid_t pid = fork();
    if (pid == 0) {
      for (const auto& f : jail.ProcsFiles()) {
        int fd = open(f.c_str(), O_WRONLY);
        if (fd < 0 || write(fd, "0", 1) != 1) _exit(90);
        close(fd);
      }
      _exit(body());
    }
    return pid;
  }
  CgroupTree tree_;
};

TEST_F(isolationCgroupJail, MemoryHogIsOomKilled) {
  CgroupLimits l;
  l.memory_bytes = 64 << 20;
  auto jail = MakeJail("oom", l);
  ASSERT_TRUE(jail);
  std::cout << jail->Describe() << "\n";
  pid_t pid = ForkIntoJail(*jail, [] {
    // 300 MiB, every page written and kept, so nothing can be optimised away.
    std::vector<char*> blocks;
    unsigned sum = 0;
    for (int i = 0; i < 300; ++i) {
      char* p = static_cast<char*>(malloc(1 << 20));
      if (!p) return 91;
      memset(p, i + 1, 1 << 20);
      blocks.push_back(p);
      sum += static_cast<unsigned char>(p[i]);
    }
    return static_cast<int>(sum & 1);  // survived: exit 0 or 1
  });
  ASSERT_GT(pid, 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the hog was not killed: exit " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  auto usage = jail->Usage();
  ASSERT_TRUE(usage.ok()) << usage.status().ToString();
  if (usage->oom_kills) {
    EXPECT_GE(*usage->oom_kills, 1);
  }
  if (usage->memory_peak_bytes) {
    EXPECT_LE(*usage->memory_peak_bytes, int64_t{64} << 20);
  }
  std::vector<std::string> dirs = jail->Dirs();
  ASSERT_TRUE(jail->Destroy().ok());
  for (const auto& d : dirs) EXPECT_FALSE(fs::exists(d)) << d;
}

TEST_F(isolationCgroupJail, CpuQuotaIsWrittenAndEnforced) {
  CgroupLimits l;
  l.cpu_millicores = 200;  // a fifth of a core
  l.memory_bytes = 256 << 20;
  auto jail = MakeJail("cpu", l);
  ASSERT_TRUE(jail);
  EXPECT_NE(jail->Describe().find("cpu 0.200 cores"), std::string::npos) << jail->Describe();
  if (tree_.version == CgroupVersion::kV1) {
    std::string cpu_dir = tree_.v1_mounts.at("cpu") + "/" + Parent() + "/cpu";
    EXPECT_EQ(Trim(Slurp(cpu_dir + "/cpu.cfs_quota_us")), "20000");
    EXPECT_EQ(Trim(Slurp(cpu_dir + "/cpu.cfs_period_us")), "100000");
    std::string mem_dir = tree_.v1_mounts.at("memory") + "/" + Parent() + "/cpu";
    EXPECT_EQ(Trim(Slurp(mem_dir + "/memory.limit_in_bytes")), "268435456");
  } else {
    std::string d = tree_.v2_mount + "/" + Parent() + "/cpu";
    EXPECT_EQ(Trim(Slurp(d + "/cpu.max")), "20000 100000");
    EXPECT_EQ(Trim(Slurp(d + "/memory.max")), "268435456");
  }
  // One second of spinning gets about 0.2 s of CPU; never much more.
  pid_t pid = ForkIntoJail(*jail, [] {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    volatile uint64_t x = 0;
    while (std::chrono::steady_clock::now() < end) x = x + 1;
    return 0;
  });
  ASSERT_GT(pid, 0);
  int status = 0;
  struct rusage ru {};
  ASSERT_EQ(wait4(pid, &status, 0, &ru), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  double cpu_s = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  std::cout << "CPU used in 1 s under a 0.2-core quota: " << cpu_s << " s\n";
  EXPECT_LT(cpu_s, 0.35);
  EXPECT_GT(cpu_s, 0.0);
  auto usage = jail->Usage();
  ASSERT_TRUE(usage.ok());
  if (usage->cpu_usage_ns) {
    EXPECT_LT(*usage->cpu_usage_ns, 350'000'000);
  }
  ASSERT_TRUE(jail->Destroy().ok());
}

TEST_F(isolationCgroupJail, SessionMovedAfterStartAndKilledWithTheJail) {
  TempDir dir;
  auto jail = MakeJail("session", {});
  ASSERT_TRUE(jail);
  std::string ready = dir.path() + "/ready";
  std::ofstream(dir.path() + "/job.sh") << "#!/bin/sh\nsleep 60 &\nsleep 60 &\necho up > " << ready << "\nwait\n";
  chmod((dir.path() + "/job.sh").c_str(), 0755);
  LaunchSpec spec;
  spec.program = dir.path() + "/job.sh";
  spec.workdir = dir.path();
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.kill_grace_s = 1;
  JobRunner runner(spec);
  ASSERT_TRUE(runner.Start().ok());
  for (int i = 0; i < 500 && !fs::exists(ready); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(fs::exists(ready));
  // The two sleeps were forked before the move: AddSession must catch them.
  Status s = jail->AddSession(runner.pid());
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto pids = jail->Pids();
  ASSERT_TRUE(pids.ok());
  EXPECT_GE(pids->size(), 3u);
  EXPECT_NE(std::find(pids->begin(), pids->end(), runner.pid()), pids->end());
  EXPECT_EQ(jail->AddSession(999999).code(), Status::Code::kNotFound);
  ASSERT_TRUE(jail->Destroy().ok());
  ExitInfo info = runner.Wait();
  EXPECT_EQ(info.reason, EndReason::kSignaled);
  EXPECT_EQ(info.signal, SIGKILL);
}

TEST_F(isolationCgroupJail, JobRunnerScriptHoggingMemoryIsKilled) {
  TempDir dir;
  CgroupLimits l;
  l.memory_bytes = 64 << 20;
  auto jail = MakeJail("hog", l);
  ASSERT_TRUE(jail);
  // Waits until it has been moved into the jail, then buffers 300 MiB.
  std::ofstream(dir.path() + "/job.sh") << "#!/bin/sh\n"
                                           "while ! grep -q '/"
                                        << Parent()
                                        << "/hog' /proc/$$/cgroup; do sleep 0.01; done\n"
                                           "head -c 300M /dev/zero | tail > /dev/null\n";
  chmod((dir.path() + "/job.sh").c_str(), 0755);
  LaunchSpec spec;
  spec.program = dir.path() + "/job.sh";
  spec.workdir = dir.path();
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.time_limit_s = 60;
  JobRunner runner(spec);
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_TRUE(jail->AddSession(runner.pid()).ok());
  ExitInfo info = runner.Wait();
  // The shell reports its pipeline's SIGKILL as 128 + 9.
  EXPECT_TRUE((info.reason == EndReason::kExited && info.exit_code == 137) ||
              (info.reason == EndReason::kSignaled && info.signal == SIGKILL))
      << "exit " << info.exit_code << " signal " << info.signal;
  auto usage = jail->Usage();
  ASSERT_TRUE(usage.ok());
  if (usage->oom_kills) {
    EXPECT_GE(*usage->oom_kills, 1);
  }
  ASSERT_TRUE(jail->Destroy().ok());
}

// ---------------------------------------------------------------------------
// bubblewrap.

TEST(isolationBwrap, CommandLineShape) {
  BwrapOptions o;
  o.job_dir = "/var/lib/gmd/jobs/7.0";
  o.hidden_dirs = {"/var/lib/gmd"};
  o.uid = 999;
  o.gid = 998;
  o.gpu_device_indices = {2};
  o.command = {"/bin/sh", "-c", "nvidia-smi"};
  std::vector<std::string> want = {
      "/usr/bin/bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
      "--tmpfs", "/var/lib/gmd",
      "--bind", "/var/lib/gmd/jobs/7.0", "/var/lib/gmd/jobs/7.0",
      "--dev-bind-try", "/dev/nvidiactl", "/dev/nvidiactl",
      "--dev-bind-try", "/dev/nvidia-uvm", "/dev/nvidia-uvm",
      "--dev-bind-try", "/dev/nvidia-uvm-tools", "/dev/nvidia-uvm-tools",
      "--dev-bind-try", "/dev/nvidia-modeset", "/dev/nvidia-modeset",
      "--dev-bind-try", "/dev/nvidia2", "/dev/nvidia2",
      "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
      "--unshare-user", "--uid", "999", "--gid", "998",
      "--chdir", "/var/lib/gmd/jobs/7.0", "--",
      "/bin/sh", "-c", "nvidia-smi"};
  EXPECT_EQ(BwrapArgv(o), want);
  for (const auto& a : BwrapArgv(o)) {
    EXPECT_NE(a, "--unshare-net");  // multi-node jobs need the network
    EXPECT_NE(a, "--unshare-all");
  }
  o.command.clear();
  EXPECT_TRUE(BwrapArgv(o).empty());
  EXPECT_FALSE(BwrapAvailable("/nonexistent/bwrap"));
  EXPECT_FALSE(BwrapAvailable("/etc/passwd"));  // not executable
}

// A worker state directory as gmd lays it out: the node key (0600, root) and
// job directories (0700, each owned by the uid its job runs as).
class isolationBwrapJob : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    job_user_ = "gmtestj" + TestTag();
    other_user_ = "gmtesto" + TestTag();
    ok_ = EnsureJobUser(job_user_, &uid_, &gid_).ok() && EnsureJobUser(other_user_, &other_uid_, &other_gid_).ok();
  }
  static void TearDownTestSuite() {
    DeleteUser(job_user_);
    DeleteUser(other_user_);
  }
  void SetUp() override {
    ASSERT_TRUE(BwrapAvailable()) << "bubblewrap is not installed (contrib/install-deps.sh installs it)";
    ASSERT_TRUE(ok_) << "could not create the test users";
    root_ = std::make_unique<TempDir>();
    state_ = root_->path() + "/state";
    job1_ = state_ + "/jobs/1";
    job2_ = state_ + "/jobs/2";
    fs::create_directories(job1_);
    fs::create_directories(job2_);
    // Traversable, not listable: the job user can reach its own directory.
    for (const auto& d : {root_->path(), state_, state_ + "/jobs"}) chmod(d.c_str(), 0711);
    ASSERT_TRUE(GenerateEd25519Key(state_ + "/node.key").ok());
    std::ofstream(job2_ + "/secret.txt") << "job 2's data\n";
    chown(job1_.c_str(), uid_, gid_);
    chmod(job1_.c_str(), 0700);
    chown((job2_ + "/secret.txt").c_str(), other_uid_, other_gid_);
    chown(job2_.c_str(), other_uid_, other_gid_);
    chmod(job2_.c_str(), 0700);
  }
  void TearDown() override { root_.reset(); }

  // Runs argv through JobRunner, like gmd: as `uid` when given (JobRunner
  // drops root before exec), stdout and stderr into one file in the job dir.
  ExitInfo Run(const std::vector<std::string>& argv, bool as_job_user, std::string* output) {
    static int counter = 0;
    LaunchSpec spec;
    spec.program = argv[0];
    spec.args.assign(argv.begin() + 1, argv.end());
    spec.workdir = as_job_user ? job1_ : root_->path();
    spec.env = {{"PATH", "/usr/bin:/bin"}, {"LC_ALL", "C"}};
    spec.stdout_path = spec.workdir + "/out" + std::to_string(++counter) + ".txt";
    spec.time_limit_s = 30;
    if (as_job_user) {
      spec.run_as_uid = uid_;
      spec.run_as_gid = gid_;
    }
    JobRunner runner(spec);
    Status s = runner.Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    ExitInfo info = s.ok() ? runner.Wait() : ExitInfo{};
    *output = Slurp(spec.stdout_path);
    return info;
  }

  std::vector<std::string> Sandboxed(const std::string& shell_command) {
    BwrapOptions o;
    o.job_dir = job1_;
    o.hidden_dirs = {state_};
    o.uid = uid_;
    o.gid = gid_;
    o.command = {"/bin/sh", "-c", shell_command};
    return BwrapArgv(o);
  }

  static inline std::string job_user_, other_user_;
  static inline uid_t uid_ = 0, other_uid_ = 0;
  static inline gid_t gid_ = 0, other_gid_ = 0;
  static inline bool ok_ = false;
  std::unique_ptr<TempDir> root_;
  std::string state_, job1_, job2_;
};

TEST_F(isolationBwrapJob, ProbeSaysSandboxesWorkForTheJobUser) {
  Status s = ProbeBwrap(uid_, gid_);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ProbeBwrap(uid_, gid_, "/nonexistent/bwrap").code(), Status::Code::kNotFound);
}

TEST_F(isolationBwrapJob, NodeKeyIsUnreachableFromTheSandbox) {
  const std::string key = state_ + "/node.key";
  std::string out;
  // Without the sandbox, as root (what gmd is): readable.
  ExitInfo plain = Run({"/bin/cat", key}, /*as_job_user=*/false, &out);
  EXPECT_EQ(plain.reason, EndReason::kExited);
  EXPECT_EQ(plain.exit_code, 0);
  EXPECT_NE(out.find("BEGIN PRIVATE KEY"), std::string::npos);
  // In the sandbox, as the job user: the state directory is an empty tmpfs.
  ExitInfo boxed = Run(Sandboxed("echo alive > proof; cat " + key), true, &out);
  EXPECT_EQ(boxed.reason, EndReason::kExited);
  EXPECT_NE(boxed.exit_code, 0);
  EXPECT_NE(out.find("No such file or directory"), std::string::npos) << out;
  EXPECT_EQ(out.find("PRIVATE KEY"), std::string::npos) << out;
  // The job did run, in its own directory, as the job user.
  struct stat st {};
  ASSERT_EQ(stat((job1_ + "/proof").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uid_);
  // Even without bwrap the job user cannot read the key (mode 0600): two walls.
  ExitInfo unboxed = Run({"/bin/cat", key}, true, &out);
  EXPECT_NE(unboxed.exit_code, 0);
  EXPECT_NE(out.find("Permission denied"), std::string::npos) << out;
}

TEST_F(isolationBwrapJob, CannotListAnotherJobsDirectory) {
  std::string out;
  ExitInfo root_ls = Run({"/bin/ls", job2_}, false, &out);
  EXPECT_EQ(root_ls.exit_code, 0);
  EXPECT_NE(out.find("secret.txt"), std::string::npos);
  ExitInfo boxed = Run(Sandboxed("ls " + job2_ + "; cat " + job2_ + "/secret.txt"), true, &out);
  EXPECT_NE(boxed.exit_code, 0);
  EXPECT_EQ(out.find("secret.txt\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("job 2's data"), std::string::npos) << out;
  // Outside the sandbox the other uid's mode 0700 stops it too.
  ExitInfo unboxed = Run({"/bin/ls", job2_}, true, &out);
  EXPECT_NE(unboxed.exit_code, 0);
  EXPECT_NE(out.find("Permission denied"), std::string::npos) << out;
}

TEST_F(isolationBwrapJob, CancelReachesEveryProcessInTheSandbox) {
  // JobRunner signals the process group; bwrap and the sandbox share it
  // (no --new-session), and --die-with-parent covers the rest.
  LaunchSpec spec;
  std::vector<std::string> argv = Sandboxed("sleep 60 & sleep 60 & echo started; wait");
  spec.program = argv[0];
  spec.args.assign(argv.begin() + 1, argv.end());
  spec.workdir = job1_;
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.stdout_path = job1_ + "/cancel.txt";
  spec.kill_grace_s = 1;
  spec.run_as_uid = uid_;
  spec.run_as_gid = gid_;
  JobRunner runner(spec);
  ASSERT_TRUE(runner.Start().ok());
  for (int i = 0; i < 500 && Slurp(spec.stdout_path).find("started") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const std::string sid = std::to_string(runner.pid());
  EXPECT_GE(std::stoi(Trim(RunCapture("pgrep -c -s " + sid))), 3);  // bwrap, its init or sh, the sleeps
  auto t0 = std::chrono::steady_clock::now();
  runner.Cancel();
  ExitInfo info = runner.Wait();
  EXPECT_EQ(info.reason, EndReason::kCancelled);
  auto took = std::chrono::steady_clock::now() - t0;
  std::cout << "cancel of a sandboxed job took "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  EXPECT_LT(took, std::chrono::seconds(5));
  for (int i = 0; i < 200 && Trim(RunCapture("pgrep -c -s " + sid)) != "0"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(Trim(RunCapture("pgrep -c -s " + sid)), "0") << RunCapture("pgrep -a -s " + sid);
}

TEST_F(isolationBwrapJob, SandboxRunsAsTheJobUserWithItsOwnPidsAndTmp) {
  std::string out;
  const std::string tmp_file = "/tmp/gm-sandbox-" + TestTag();
  ExitInfo info = Run(Sandboxed("id -u; id -g; echo $$; ls /proc | grep -c '^[0-9]*$'; touch " + tmp_file + " && echo tmp-ok; "
                                "touch /usr/gm-should-fail 2>/dev/null || echo ro-ok; pwd"),
                      true, &out);
  ASSERT_EQ(info.exit_code, 0) << out;
  std::istringstream in(out);
  std::string id_u, id_g, pid, nprocs, tmp_ok, ro_ok, pwd;
  in >> id_u >> id_g >> pid >> nprocs >> tmp_ok >> ro_ok >> pwd;
  EXPECT_EQ(id_u, std::to_string(uid_));
  EXPECT_EQ(id_g, std::to_string(gid_));
  EXPECT_LE(std::stoi(pid), 3) << out;      // a fresh PID namespace
  EXPECT_LE(std::stoi(nprocs), 6) << out;   // sees only its own processes
  EXPECT_EQ(tmp_ok, "tmp-ok");
  EXPECT_EQ(ro_ok, "ro-ok");
  EXPECT_EQ(pwd, job1_);
  EXPECT_FALSE(fs::exists(tmp_file)) << "the sandbox's /tmp leaked onto the host";
}

}  // namespace
}  // namespace gm::worker
