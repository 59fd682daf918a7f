// Tests for JobRunner with real processes: /bin/sh scripts in a temporary directory.
#include "worker/job_runner.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace gm::worker {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gm_job_runner_XXXXXX";
    char* d = mkdtemp(tmpl);
    ASSERT_NE(d, nullptr);
    dir_ = d;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string WriteScript(const std::string& name, const std::string& body, mode_t mode = 0755) {
    std::string path = Path(name);
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    chmod(path.c_str(), mode);
    return path;
  }

  static std::string Read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  LaunchSpec Spec(const std::string& program) const {
    LaunchSpec s;
    s.program = program;
    s.workdir = dir_;
    s.env = {{"PATH", "/usr/bin:/bin"}};
    s.stdout_path = Path("out.txt");
    s.stderr_path = Path("err.txt");
    return s;
  }

  ExitInfo RunToEnd(LaunchSpec spec) {
    JobRunner runner(std::move(spec));
    Status s = runner.Start();
    EXPECT_TRUE(s.ok()) << s.ToString();
    return runner.Wait();
  }

  // Polls for a file the script writes once its traps are installed.
  bool WaitForFile(const std::string& path) {
    for (int i = 0; i < 300; ++i) {
      if (access(path.c_str(), F_OK) == 0) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return false;
  }

  static double SecondsSince(steady_clock::time_point t) {
    return std::chrono::duration<double>(steady_clock::now() - t).count();
  }

  std::string dir_;
};

// True once `pid` is gone or a zombie (its reaper may be slow; it runs no more).
bool ProcessDead(pid_t pid) {
  for (int i = 0; i < 200; ++i) {
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    size_t paren = line.rfind(')');
    if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

TEST_F(JobRunnerTest, ExitCodesPropagate) {
  ExitInfo ok = RunToEnd(Spec(WriteScript("ok.sh", "exit 0")));
  EXPECT_EQ(ok.reason, EndReason::kExited);
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.signal, 0);
  EXPECT_GT(ok.start_unix_ms, 0);
  EXPECT_GE(ok.end_unix_ms, ok.start_unix_ms);

  ExitInfo three = RunToEnd(Spec(WriteScript("three.sh", "exit 3")));
  EXPECT_EQ(three.reason, EndReason::kExited);
  EXPECT_EQ(three.exit_code, 3);
  EXPECT_EQ(three.signal, 0);
}

TEST_F(JobRunnerTest, SeparateStdoutAndStderr) {
  ExitInfo info = RunToEnd(Spec(WriteScript("s.sh", "echo to-out; echo to-err >&2; echo arg=$1", 0700)));
  EXPECT_EQ(info.reason, EndReason::kExited);
  EXPECT_EQ(Read(Path("out.txt")), "to-out\narg=\n");
  EXPECT_EQ(Read(Path("err.txt")), "to-err\n");
}

TEST_F(JobRunnerTest, SharedStdoutAndStderrInterleave) {
  std::string script = WriteScript("s.sh", "echo one; echo two >&2; echo three; echo four >&2");
  LaunchSpec spec = Spec(script);
  spec.stderr_path = spec.stdout_path;
  RunToEnd(spec);
  EXPECT_EQ(Read(Path("out.txt")), "one\ntwo\nthree\nfour\n");

  spec.stderr_path.clear();  // empty: same as stdout, as sbatch without -e
  spec.args = {"x"};
  RunToEnd(spec);
  EXPECT_EQ(Read(Path("out.txt")), "one\ntwo\nthree\nfour\n");
}

TEST_F(JobRunnerTest, TruncateOrAppend) {
  std::ofstream(Path("out.txt")) << "old contents that are longer\n";
  std::string script = WriteScript("s.sh", "echo new");
  RunToEnd(Spec(script));
  EXPECT_EQ(Read(Path("out.txt")), "new\n");
  LaunchSpec spec = Spec(script);
  spec.append = true;
  RunToEnd(spec);
  EXPECT_EQ(Read(Path("out.txt")), "new\nnew\n");
}

TEST_F(JobRunnerTest, EnvironmentIsExactlyTheSpec) {
  setenv("GM_PARENT_ONLY", "leak", 1);
  // env itself as the program: a shell would add PWD and friends.
  LaunchSpec spec = Spec("/usr/bin/env");
  spec.env = {{"SLURM_JOB_ID", "42"}, {"EMPTY", ""}, {"WITH_SPACE", "a b=c"}};
  ExitInfo info = RunToEnd(spec);
  unsetenv("GM_PARENT_ONLY");
  EXPECT_EQ(info.reason, EndReason::kExited);
  EXPECT_EQ(info.exit_code, 0);
  EXPECT_EQ(Read(Path("out.txt")), "EMPTY=\nSLURM_JOB_ID=42\nWITH_SPACE=a b=c\n");
}

TEST_F(JobRunnerTest, WorkdirIsHonouredAndRelativeOutputsLandThere) {
  std::filesystem::create_directory(Path("work"));
  LaunchSpec spec = Spec(WriteScript("s.sh", "pwd"));
  spec.workdir = Path("work");
  spec.stdout_path = "slurm-7.out";
  spec.stderr_path = "";
  RunToEnd(spec);
  EXPECT_EQ(Read(Path("work/slurm-7.out")), Path("work") + "\n");
}

TEST_F(JobRunnerTest, KilledBySignalIsReported) {
  ExitInfo info = RunToEnd(Spec(WriteScript("s.sh", "kill -USR1 $$; sleep 5")));
  EXPECT_EQ(info.reason, EndReason::kSignaled);
  EXPECT_EQ(info.signal, SIGUSR1);
  EXPECT_EQ(info.exit_code, 0);
}

TEST_F(JobRunnerTest, TimeLimitTerminatesTheGroup) {
  LaunchSpec spec = Spec(WriteScript("s.sh", "sleep 30"));
  spec.time_limit_s = 1;
  spec.kill_grace_s = 5;
  auto t0 = steady_clock::now();
  ExitInfo info = RunToEnd(spec);
  double took = SecondsSince(t0);
  EXPECT_EQ(info.reason, EndReason::kTimeout);
  EXPECT_EQ(info.signal, SIGTERM);
  EXPECT_GE(took, 0.9);
  EXPECT_LT(took, 3.0);
}

TEST_F(JobRunnerTest, TimeLimitEscalatesToKillAfterGrace) {
  LaunchSpec spec = Spec(WriteScript("s.sh", "trap 'echo caught-term' TERM\nwhile :; do sleep 0.1; done"));
  spec.time_limit_s = 1;
  spec.kill_grace_s = 1;
  auto t0 = steady_clock::now();
  ExitInfo info = RunToEnd(spec);
  double took = SecondsSince(t0);
  EXPECT_EQ(info.reason, EndReason::kTimeout);
  EXPECT_EQ(info.signal, SIGKILL);
  EXPECT_GE(took, 1.9);
  EXPECT_LT(took, 4.0);
  EXPECT_NE(Read(Path("out.txt")).find("caught-term"), std::string::npos);
}

TEST_F(JobRunnerTest, TryWaitAloneEnforcesTheLimit) {
  LaunchSpec spec = Spec(WriteScript("s.sh", "sleep 30"));
  spec.time_limit_s = 1;
  JobRunner runner(spec);
  ASSERT_TRUE(runner.Start().ok());
  EXPECT_FALSE(runner.TryWait().has_value());
  auto t0 = steady_clock::now();
  std::optional<ExitInfo> info;
  while (!info && SecondsSince(t0) < 5) {
    std::this_thread::sleep_for(milliseconds(50));
    info = runner.TryWait();
  }
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason, EndReason::kTimeout);
  EXPECT_EQ(runner.TryWait()->reason, EndReason::kTimeout);  // stable once done
}

TEST_F(JobRunnerTest, CancelFromAnotherThread) {
  std::string ready = Path("ready");
  JobRunner runner(Spec(WriteScript("s.sh", "touch " + ready + "\nsleep 30")));
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_TRUE(WaitForFile(ready));
  auto t0 = steady_clock::now();
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(100));
    runner.Cancel();
  });
  ExitInfo info = runner.Wait();
  canceller.join();
  EXPECT_EQ(info.reason, EndReason::kCancelled);
  EXPECT_EQ(info.signal, SIGTERM);
  EXPECT_LT(SecondsSince(t0), 2.0);
  runner.Cancel();  // after the end: no effect
  EXPECT_EQ(runner.Wait().reason, EndReason::kCancelled);
}

TEST_F(JobRunnerTest, CancelEscalatesToKillWhileWaitBlocks) {
  std::string ready = Path("ready");
  LaunchSpec spec = Spec(WriteScript("s.sh", "trap '' TERM\ntouch " + ready + "\nwhile :; do sleep 0.1; done"));
  spec.kill_grace_s = 1;
  JobRunner runner(spec);
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_TRUE(WaitForFile(ready));
  std::thread canceller([&] { runner.Cancel(); });
  auto t0 = steady_clock::now();
  ExitInfo info = runner.Wait();
  canceller.join();
  EXPECT_EQ(info.reason, EndReason::kCancelled);
  EXPECT_EQ(info.signal, SIGKILL);
  EXPECT_GE(SecondsSince(t0), 0.9);
  EXPECT_LT(SecondsSince(t0), 3.0);
}

TEST_F(JobRunnerTest, CancelGivesTheRestOfTheGroupItsGrace) {
  // The script dies on SIGTERM at once; its child needs a moment to save its
  // work, and gets it, without Wait sitting out the whole grace period.
  std::string ready = Path("ready");
  std::string saved = Path("saved");
  LaunchSpec spec = Spec(WriteScript(
      "s.sh", "( trap 'sleep 0.3; echo done > " + saved + "; exit 0' TERM\n"
              "  while :; do sleep 0.05; done ) &\n"
              "touch " + ready + "\nwait"));
  spec.kill_grace_s = 10;
  JobRunner runner(spec);
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_TRUE(WaitForFile(ready));
  auto t0 = steady_clock::now();
  runner.Cancel();
  ExitInfo info = runner.Wait();
  double took = SecondsSince(t0);
  EXPECT_EQ(info.reason, EndReason::kCancelled);
  EXPECT_EQ(info.signal, SIGTERM);
  EXPECT_EQ(Read(saved), "done\n");
  EXPECT_GE(took, 0.25);
  EXPECT_LT(took, 3.0);
}

TEST_F(JobRunnerTest, SignalReachesTheScriptWithoutEndingSupervision) {
  std::string ready = Path("ready");
  JobRunner runner(
      Spec(WriteScript("s.sh", "trap 'echo got-usr1; exit 7' USR1\ntouch " + ready +
                                   "\nwhile :; do sleep 0.1; done")));
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_TRUE(WaitForFile(ready));
  runner.Signal(SIGUSR1);
  ExitInfo info = runner.Wait();
  EXPECT_EQ(info.reason, EndReason::kExited);
  EXPECT_EQ(info.exit_code, 7);
  EXPECT_NE(Read(Path("out.txt")).find("got-usr1"), std::string::npos);
}

TEST_F(JobRunnerTest, BackgroundChildrenDieWithTheScript) {
  std::string pidfile = Path("bg.pid");
  ExitInfo info = RunToEnd(Spec(WriteScript("s.sh", "sleep 100 &\necho $! > " + pidfile + "\nexit 0")));
  EXPECT_EQ(info.reason, EndReason::kExited);
  pid_t bg = static_cast<pid_t>(std::stol(Read(pidfile)));
  ASSERT_GT(bg, 1);
  EXPECT_TRUE(ProcessDead(bg)) << "background sleep " << bg << " survived the job";
}

TEST_F(JobRunnerTest, ExecFailureIsAClearErrorFromStart) {
  std::string script = WriteScript("noexec.sh", "echo hi", 0644);
  JobRunner runner(Spec(script));
  Status s = runner.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(s.message(), "exec " + script + ": Permission denied");
  ExitInfo info = runner.Wait();
  EXPECT_EQ(info.reason, EndReason::kLaunchFailed);
  EXPECT_EQ(info.message, s.message());
  EXPECT_EQ(runner.pid(), -1);
}

TEST_F(JobRunnerTest, LaunchFailuresNameTheStep) {
  LaunchSpec missing_dir = Spec(WriteScript("s.sh", "true"));
  missing_dir.workdir = Path("no/such/dir");
  Status s = JobRunner(missing_dir).Start();
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "chdir " + Path("no/such/dir") + ": No such file or directory");

  LaunchSpec missing_program = Spec(Path("absent.sh"));
  s = JobRunner(missing_program).Start();
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "exec " + Path("absent.sh") + ": No such file or directory");

  LaunchSpec bad_output = Spec(WriteScript("s.sh", "true"));
  bad_output.stdout_path = Path("no/dir/out.txt");
  s = JobRunner(bad_output).Start();
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "open stdout " + Path("no/dir/out.txt") + ": No such file or directory");
}

TEST_F(JobRunnerTest, BadSpecsAreRejected) {
  LaunchSpec relative = Spec("job.sh");
  EXPECT_EQ(JobRunner(relative).Start().code(), Status::Code::kInvalidArgument);
  LaunchSpec bad_env = Spec(WriteScript("s.sh", "true"));
  bad_env.env["A=B"] = "c";
  EXPECT_EQ(JobRunner(bad_env).Start().code(), Status::Code::kInvalidArgument);
  LaunchSpec zero_limit = Spec(WriteScript("s.sh", "true"));
  zero_limit.time_limit_s = 0;
  EXPECT_EQ(JobRunner(zero_limit).Start().code(), Status::Code::kInvalidArgument);
}

TEST_F(JobRunnerTest, StartTwiceIsRefused) {
  JobRunner runner(Spec(WriteScript("s.sh", "true")));
  ASSERT_TRUE(runner.Start().ok());
  EXPECT_EQ(runner.Start().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(runner.Wait().exit_code, 0);
}

TEST_F(JobRunnerTest, GmdDescriptorsDoNotLeakIntoTheJob) {
  std::string marker = Path("leak-marker");
  int leaked = open(marker.c_str(), O_CREAT | O_WRONLY, 0600);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaked, 0);
  ExitInfo info = RunToEnd(Spec(WriteScript("s.sh", "readlink /proc/$$/fd/*; exit 0")));
  close(leaked);
  EXPECT_EQ(info.exit_code, 0);
  std::string fds = Read(Path("out.txt"));
  EXPECT_NE(fds.find("out.txt"), std::string::npos) << fds;
  EXPECT_EQ(fds.find("leak-marker"), std::string::npos) << fds;
}

TEST_F(JobRunnerTest, RunsAsTheGivenUser) {
  chmod(dir_.c_str(), 0777);  // nobody creates its output files here
  LaunchSpec spec = Spec(WriteScript("s.sh", "id -u; id -g; id -G"));
  spec.run_as_uid = 65534;
  ExitInfo info = RunToEnd(spec);
  EXPECT_EQ(info.reason, EndReason::kExited);
  EXPECT_EQ(info.exit_code, 0) << Read(Path("err.txt"));
  std::istringstream out(Read(Path("out.txt")));
  std::string uid, gid, groups;
  std::getline(out, uid);
  std::getline(out, gid);
  std::getline(out, groups);
  EXPECT_EQ(uid, "65534");
  EXPECT_NE(gid, "0");
  EXPECT_EQ(groups, gid);  // root's supplementary groups were dropped
  struct stat st {};
  ASSERT_EQ(stat(Path("out.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
}

TEST_F(JobRunnerTest, DestructorKillsARunningJob) {
  pid_t pid;
  {
    JobRunner runner(Spec(WriteScript("s.sh", "sleep 30")));
    ASSERT_TRUE(runner.Start().ok());
    pid = runner.pid();
    ASSERT_GT(pid, 0);
  }
  EXPECT_TRUE(ProcessDead(pid));
}

TEST_F(JobRunnerTest, UsageIsMeasured) {
  ExitInfo info = RunToEnd(
      Spec(WriteScript("s.sh", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done")));
  EXPECT_EQ(info.reason, EndReason::kExited);
  EXPECT_GT(info.cpu_seconds, 0.0);
  EXPECT_GT(info.max_rss_kb, 0);
}


TEST(JobRunnerCgroupTest, ChildJoinsCgroupBeforeExecAndFailureIsNamed) {
  // A file standing in for cgroup.procs: the child writes "0" into it.
  char dir_tmpl[] = "/tmp/gm-cg-XXXXXX";
  ASSERT_NE(mkdtemp(dir_tmpl), nullptr);
  std::string dir = dir_tmpl;
  std::string procs = dir + "/cgroup.procs";
  { std::ofstream(procs) << ""; }
  std::string script = dir + "/ok.sh";
  { std::ofstream(script) << "#!/bin/sh\nexit 0\n"; }
  chmod(script.c_str(), 0755);
  LaunchSpec spec;
  spec.program = script;
  spec.workdir = dir;
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.cgroup_procs_files = {procs};
  JobRunner ok(spec);
  ASSERT_TRUE(ok.Start().ok());
  EXPECT_EQ(ok.Wait().exit_code, 0);
  std::ifstream in(procs);
  std::string written((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(written, "0");
  spec.cgroup_procs_files = {dir + "/missing/cgroup.procs"};
  JobRunner bad(spec);
  Status s = bad.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("joining cgroup"), std::string::npos) << s.message();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gm::worker
