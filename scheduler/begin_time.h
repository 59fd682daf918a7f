// sbatch --begin: when a job becomes eligible, resolved against the
// controller's clock at submission (Slurm's forms: now+N[units], HH:MM[:SS],
// YYYY-MM-DD[THH:MM[:SS]], midnight, noon, teatime, today, tomorrow).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace gm::sched {

// Unix milliseconds. `tz_offset_s` is the controller's local offset from UTC
// (local time = UTC + offset), passed in so the function stays pure.
Result<int64_t> ResolveBeginTime(const std::string& text, int64_t now_ms, int64_t tz_offset_s);

}  // namespace gm::sched
