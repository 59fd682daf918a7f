// Reads CPU count, memory, host name and kernel release from the OS for gmd's node report.
#include "worker/host_info.h"

#include <sched.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace gm::worker {
namespace {

// The affinity mask, not sysconf, because a provider may pin gmd (and so its
// jobs) to a subset of the cores with taskset or a cpuset; those are the CPUs
// it can actually offer.
int CpusFromAffinity() {
  for (int ncpu = 1024; ncpu <= (1 << 20); ncpu *= 2) {
    cpu_set_t* set = CPU_ALLOC(ncpu);
    if (set == nullptr) return 0;
    size_t size = CPU_ALLOC_SIZE(ncpu);
    CPU_ZERO_S(size, set);
    if (sched_getaffinity(0, size, set) == 0) {
      int n = CPU_COUNT_S(size, set);
      CPU_FREE(set);
      return n;
    }
    int err = errno;
    CPU_FREE(set);
    // EINVAL: the kernel's mask is wider than ours; try a bigger one.
    if (err != EINVAL) return 0;
  }
  return 0;
}

int CpusFromCpuinfo(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("processor", 0) == 0 && line.find(':') != std::string::npos) ++n;
  }
  return n;
}

// Parses "MemTotal:   16318480 kB" strictly: a figure we cannot read exactly
// must not become a wrong memory size offered to the market.
Result<int64_t> ParseMemTotalKb(const std::string& line, const std::string& path) {
  auto bad = [&] { return Status::Corruption(path + ": malformed MemTotal line \"" + line + "\""); };
  size_t i = std::strlen("MemTotal:");
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i == line.size() || line[i] < '0' || line[i] > '9') return bad();
  int64_t kb = 0;
  for (; i < line.size() && line[i] >= '0' && line[i] <= '9'; ++i) {
    if (kb > (std::numeric_limits<int64_t>::max() - 9) / 10) return bad();
    kb = kb * 10 + (line[i] - '0');
  }
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (line.compare(i, std::string::npos, "kB") != 0) return bad();
  if (kb <= 0) return bad();
  return kb;
}

Result<int64_t> ReadMemTotalMb(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open " + path + ": " + std::strerror(errno));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemTotal:", 0) == 0) {
      GM_ASSIGN_OR_RETURN(int64_t kb, ParseMemTotalKb(line, path));
      return kb / 1024;
    }
  }
  return Status::Corruption(path + ": no MemTotal line");
}

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

Result<HostInfo> ReadHostInfo(const std::string& proc_root) {
  HostInfo info;
  GM_ASSIGN_OR_RETURN(info.memory_mb, ReadMemTotalMb(proc_root + "/meminfo"));

  info.cpus = CpusFromAffinity();
  if (info.cpus <= 0) info.cpus = CpusFromCpuinfo(proc_root + "/cpuinfo");
  if (info.cpus <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    info.cpus = n > 0 ? static_cast<int>(n) : 1;
  }

  info.hostname = ReadFirstLine(proc_root + "/sys/kernel/hostname");
  info.kernel = ReadFirstLine(proc_root + "/sys/kernel/osrelease");
  if (info.hostname.empty() || info.kernel.empty()) {
    struct utsname u {};
    if (uname(&u) == 0) {
      if (info.hostname.empty()) info.hostname = u.nodename;
      if (info.kernel.empty()) info.kernel = u.release;
    }
  }
  return info;
}

}  // namespace gm::worker
