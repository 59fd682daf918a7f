// HostInfo: the CPU, memory and identity figures gmd reports when a machine attaches.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace gm::worker {

struct HostInfo {
  int cpus = 0;           // CPUs this process may run on (its affinity mask), not the machine's total
  int64_t memory_mb = 0;  // MemTotal of <proc_root>/meminfo, in MiB (rounded down)
  std::string hostname;   // <proc_root>/sys/kernel/hostname, else uname()'s nodename
  std::string kernel;     // <proc_root>/sys/kernel/osrelease, else uname()'s release ("6.1.0-18-amd64")
};

// Reads the host's figures. `proc_root` exists so tests can point at a crafted
// directory; only meminfo is required there. Errors: NotFound when meminfo is
// missing, Corruption when it has no parsable MemTotal line.
Result<HostInfo> ReadHostInfo(const std::string& proc_root = "/proc");

}  // namespace gm::worker
