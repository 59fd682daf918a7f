// Slurm's time-limit and memory-size notations: parsing what users write in
// -t/--time and --mem, and printing durations the way squeue does.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/status.h"

namespace gm {

// Parses a Slurm time limit and returns it in seconds, or std::nullopt for
// "no limit".
//
// Accepted forms (Slurm's time_str2mins): "minutes", "minutes:seconds",
// "hours:minutes:seconds", "days-hours", "days-hours:minutes",
// "days-hours:minutes:seconds". Fields are not range-checked, as in Slurm
// ("90" is 90 minutes, "1:75" is 1 minute 75 seconds).
//
// Slurm's resolution is one minute and it rounds seconds UP: "0:30" is 60 s,
// "1:00:01" is 3660 s. The result is always a whole number of minutes.
//
// No limit: "UNLIMITED", "INFINITE" (any case) and "-1". A limit that
// resolves to zero minutes ("0", "0:00") also means no limit, because sbatch
// turns a zero time limit into INFINITE ("A time limit of zero requests that
// no time limit be imposed", sbatch(1)).
//
// Anything else is InvalidArgument "invalid time limit '<s>'".
Result<std::optional<int64_t>> ParseTimeLimit(const std::string& s);

// A duration as squeue prints TIME and TIMELIMIT (Slurm's secs2time_str):
// "0:00", "5:03", "1:02:03", "1-02:03:04". Negative durations print
// "INVALID", as Slurm does.
std::string FormatDuration(int64_t seconds);

// FormatDuration, or "UNLIMITED" for std::nullopt.
std::string FormatTimeLimit(std::optional<int64_t> seconds);

// Parses a Slurm memory size (Slurm's str_to_mbytes) and returns megabytes.
// A plain number is megabytes; the suffixes K, M, G, T (any case, optionally
// followed by "B": "10GB") scale by 1024. Kilobytes round up to whole
// megabytes ("1K" is 1 MB). "0" is valid: Slurm reads --mem=0 as "all the
// memory of each node". Anything else is InvalidArgument.
Result<int64_t> ParseMemoryMb(const std::string& s);

}  // namespace gm
