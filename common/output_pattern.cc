// Expanding sbatch filename patterns the way slurmstepd names batch output.
#include "common/output_pattern.h"

#include <algorithm>
#include <cctype>

namespace gm {

namespace {

constexpr size_t kMaxPadWidth = 10;  // Slurm's MAX_WIDTH

std::string Padded(int64_t n, size_t width) {
  std::string digits = std::to_string(n);
  return digits.size() >= width ? digits : std::string(width - digits.size(), '0') + digits;
}

// Slurm's remove_path_slashes: "\\" keeps one backslash, a lone one goes.
std::string RemoveBackslashes(const std::string& pattern) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '\\') {
      out += pattern[i];
    } else if (i + 1 < pattern.size() && pattern[i + 1] == '\\') {
      out += '\\';
      ++i;
    }
  }
  return out;
}

// The text for one field letter, or nullopt when the letter is not a field.
std::optional<std::string> Field(char letter, size_t width, const OutputPatternVars& v) {
  switch (letter) {
    case 'j': return Padded(v.job_id, width);
    case 'J': return Padded(v.job_id, width) + "." + std::to_string(v.step_id);
    case 'A':
      if (!v.array_task_id) return Padded(v.job_id, width);
      return Padded(v.array_job_id.value_or(v.job_id), width);
    case 'a': return Padded(v.array_task_id.value_or(kNoArrayTaskId), width);
    case 's': return Padded(v.step_id, width);
    case 'n': return Padded(v.node_id, width);
    case 't': return Padded(v.task_id, width);
    case 'x': return v.job_name;
    case 'u': return v.user;
    case 'N': return v.node;
    default: return std::nullopt;
  }
}

}  // namespace

// Follows Slurm's _create_batch_fname closely, including its handling of
// widths before unknown letters, so names match what Slurm would create.
std::string ExpandOutputPattern(const std::string& pattern, const OutputPatternVars& v) {
  if (pattern.find('\\') != std::string::npos) return RemoveBackslashes(pattern);
  std::string out;
  size_t n = pattern.size(), i = 0, literal = 0;  // pattern[literal, i) is pending text
  while (i < n) {
    if (pattern[i] != '%') {
      ++i;
      continue;
    }
    if (i + 1 < n && pattern[i + 1] == '%') {  // "%%": keep the first, drop the second
      out.append(pattern, literal, i + 1 - literal);
      i += 2;
      literal = i;
      continue;
    }
    ++i;
    size_t width = 0;
    if (i < n && std::isdigit(static_cast<unsigned char>(pattern[i]))) {
      out.append(pattern, literal, i - 1 - literal);  // text before the '%'
      size_t start = i;
      while (i < n && std::isdigit(static_cast<unsigned char>(pattern[i]))) ++i;
      std::string digits = pattern.substr(start, i - start);
      digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size()));
      width = digits.size() > 2 ? kMaxPadWidth
                                : std::min<size_t>(digits.empty() ? 0 : std::stoul(digits), kMaxPadWidth);
      literal = i - 1;  // the last digit, which Slurm keeps if no field follows
      if (i == n) break;
    }
    if (std::optional<std::string> text = Field(pattern[i], width, v)) {
      if (literal < i - 1) out.append(pattern, literal, i - 1 - literal);
      out += *text;
      literal = ++i;
    }
  }
  out.append(pattern, literal, n - literal);
  return out;
}

std::string DefaultOutputPattern(bool is_array) {
  return is_array ? "slurm-%A_%a.out" : "slurm-%j.out";
}

}  // namespace gm
