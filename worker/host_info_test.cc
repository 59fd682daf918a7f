// Tests for ReadHostInfo against the real /proc and against crafted proc roots.
#include "worker/host_info.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace gm::worker {
namespace {

class FakeProc {
 public:
  FakeProc() {
    char tmpl[] = "/tmp/gm_host_info_XXXXXX";
    char* dir = mkdtemp(tmpl);
    EXPECT_NE(dir, nullptr);
    root_ = dir != nullptr ? dir : "/nonexistent";
  }
  ~FakeProc() { std::filesystem::remove_all(root_); }
  void Write(const std::string& rel, const std::string& text) {
    std::filesystem::path p = std::filesystem::path(root_) / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

TEST(HostInfoTest, RealValuesAreSane) {
  Result<HostInfo> info = ReadHostInfo();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_GE(info->cpus, 1);
  EXPECT_GT(info->memory_mb, 0);
  EXPECT_FALSE(info->hostname.empty());
  EXPECT_FALSE(info->kernel.empty());
}

TEST(HostInfoTest, CraftedMeminfoGivesExactFigure) {
  FakeProc proc;
  proc.Write("meminfo",
             "MemFree:         1234 kB\n"
             "MemTotal:       8390656 kB\n"
             "MemAvailable:   4000000 kB\n");
  proc.Write("sys/kernel/hostname", "gpu07\n");
  proc.Write("sys/kernel/osrelease", "6.1.0-18-amd64\n");
  Result<HostInfo> info = ReadHostInfo(proc.root());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->memory_mb, 8194);  // 8390656 kB / 1024, rounded down
  EXPECT_EQ(info->hostname, "gpu07");
  EXPECT_EQ(info->kernel, "6.1.0-18-amd64");
  EXPECT_GE(info->cpus, 1);
}

TEST(HostInfoTest, MissingIdentityFilesFallBackToUname) {
  FakeProc proc;
  proc.Write("meminfo", "MemTotal: 2048 kB\n");
  Result<HostInfo> info = ReadHostInfo(proc.root());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->memory_mb, 2);
  EXPECT_FALSE(info->hostname.empty());
  EXPECT_FALSE(info->kernel.empty());
}

TEST(HostInfoTest, MalformedMeminfoIsAClearError) {
  for (const char* text : {"MemTotal:       lots kB\n", "MemTotal: 123\n", "MemTotal: 123 MB\n",
                           "MemTotal: 99999999999999999999999 kB\n", "MemFree: 5 kB\n", ""}) {
    FakeProc proc;
    proc.Write("meminfo", text);
    Result<HostInfo> info = ReadHostInfo(proc.root());
    ASSERT_FALSE(info.ok()) << "accepted: " << text;
    EXPECT_EQ(info.status().code(), Status::Code::kCorruption) << text;
    EXPECT_NE(info.status().message().find("meminfo"), std::string::npos)
        << info.status().ToString();
    EXPECT_NE(info.status().message().find("MemTotal"), std::string::npos)
        << info.status().ToString();
  }
}

TEST(HostInfoTest, MissingMeminfoIsNotFound) {
  FakeProc proc;
  Result<HostInfo> info = ReadHostInfo(proc.root());
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), Status::Code::kNotFound);
  EXPECT_NE(info.status().message().find(proc.root() + "/meminfo"), std::string::npos);
}

}  // namespace
}  // namespace gm::worker
