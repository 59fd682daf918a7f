// Partitions as operators write them in gmctld's configuration, one per
// `partition` line, Slurm's PartitionName lines in GridMint's words:
//   partition = name=gpu default=yes gpu-models=H100,A100 regions=eu-west
//               features=ib nodes=node[01-08] min-trust=2
//               default-time=1:00:00 max-time=2-00:00:00
#pragma once

#include <string>
#include <tuple>

#include "common/status.h"
#include "scheduler/model.h"

namespace gm::sched {

// Parses one partition line. Unknown keys and bad values are InvalidArgument
// naming the key.
Result<Partition> ParsePartition(const std::string& line);

// Parses "siteA,siteB,RTT_MS" (a measured round trip between two sites).
Result<std::tuple<std::string, std::string, double>> ParseSiteRtt(const std::string& text);

}  // namespace gm::sched
