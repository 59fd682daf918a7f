// Slurm time limits, squeue-style durations and memory sizes.
#include "common/slurm_time.h"

#include <cctype>
#include <cstdio>
#include <vector>

namespace gm {

namespace {

// Nine digits keep every product below int64 limits without overflow checks.
constexpr size_t kMaxFieldDigits = 9;

std::string Lower(const std::string& s) {
  std::string out = s;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool AllDigits(const std::string& s) {
  if (s.empty() || s.size() > kMaxFieldDigits) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// Splits "a:b:c" into digit fields; false if any field is empty or not digits.
bool SplitFields(const std::string& s, std::vector<int64_t>* out) {
  size_t start = 0;
  while (true) {
    size_t colon = s.find(':', start);
    std::string field = s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!AllDigits(field)) return false;
    out->push_back(std::stoll(field));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out->size() <= 3;
}

// Seconds from the fields, which mean different things with and without days.
std::optional<int64_t> ToSeconds(const std::string& s) {
  size_t dash = s.find('-');
  std::vector<int64_t> f;
  if (dash == std::string::npos) {
    if (!SplitFields(s, &f)) return std::nullopt;
    if (f.size() == 1) return f[0] * 60;                          // minutes
    if (f.size() == 2) return f[0] * 60 + f[1];                   // minutes:seconds
    return f[0] * 3600 + f[1] * 60 + f[2];                        // hours:minutes:seconds
  }
  std::string days = s.substr(0, dash);
  if (!AllDigits(days) || !SplitFields(s.substr(dash + 1), &f)) return std::nullopt;
  int64_t secs = std::stoll(days) * 86400 + f[0] * 3600;          // days-hours
  if (f.size() >= 2) secs += f[1] * 60;                           // ...:minutes
  if (f.size() == 3) secs += f[2];                                // ...:seconds
  return secs;
}

}  // namespace

Result<std::optional<int64_t>> ParseTimeLimit(const std::string& s) {
  using Limit = std::optional<int64_t>;
  std::string lower = Lower(s);
  if (lower == "unlimited" || lower == "infinite" || lower == "-1") return Limit{};
  std::optional<int64_t> secs = ToSeconds(s);
  if (!secs) return Status::InvalidArgument("invalid time limit '" + s + "'");
  int64_t minutes = (*secs + 59) / 60;  // Slurm rounds up to whole minutes
  if (minutes == 0) return Limit{};     // sbatch: zero means no limit
  return Limit{minutes * 60};
}

std::string FormatDuration(int64_t seconds) {
  if (seconds < 0) return "INVALID";
  int64_t days = seconds / 86400, hours = (seconds / 3600) % 24;
  int64_t minutes = (seconds / 60) % 60, secs = seconds % 60;
  char buf[64];
  if (days > 0) {
    std::snprintf(buf, sizeof buf, "%lld-%02lld:%02lld:%02lld", static_cast<long long>(days),
                  static_cast<long long>(hours), static_cast<long long>(minutes),
                  static_cast<long long>(secs));
  } else if (hours > 0) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(hours),
                  static_cast<long long>(minutes), static_cast<long long>(secs));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(minutes),
                  static_cast<long long>(secs));
  }
  return buf;
}

std::string FormatTimeLimit(std::optional<int64_t> seconds) {
  return seconds ? FormatDuration(*seconds) : "UNLIMITED";
}

Result<int64_t> ParseMemoryMb(const std::string& s) {
  Status invalid = Status::InvalidArgument("invalid memory size '" + s + "'");
  size_t digits = 0;
  while (digits < s.size() && std::isdigit(static_cast<unsigned char>(s[digits]))) ++digits;
  // 12 digits of megabytes is an exabyte; beyond that is a typo, not a node.
  if (digits == 0 || digits > 12) return invalid;
  int64_t value = std::stoll(s.substr(0, digits));
  std::string suffix = Lower(s.substr(digits));
  if (suffix.size() == 2 && suffix[1] == 'b') suffix.pop_back();  // "10GB"
  if (suffix.empty() || suffix == "m") return value;
  if (suffix == "k") return (value + 1023) / 1024;
  if (suffix == "g") return value * 1024;
  if (suffix == "t") return value * 1024 * 1024;
  return invalid;
}

}  // namespace gm
