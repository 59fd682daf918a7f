// Exact decimal <-> micro-token conversion.
#include "common/money.h"

#include <cstdlib>
#include <limits>

namespace gm {

Result<Micros> ParseTokens(const std::string& text, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("invalid " + what + " '" + text + "': " + why);
  };
  if (text.empty()) return bad("empty");
  size_t dot = text.find('.');
  std::string whole = text.substr(0, dot);
  std::string frac = dot == std::string::npos ? "" : text.substr(dot + 1);
  if (whole.empty() || (dot != std::string::npos && frac.empty()))
    return bad("expected a decimal number of tokens");
  if (frac.size() > 6) return bad("at most 6 decimals");
  for (char c : whole + frac)
    if (c < '0' || c > '9') return bad("expected a decimal number of tokens");
  constexpr Micros kMaxWhole = std::numeric_limits<Micros>::max() / kMicrosPerToken - 1;
  Micros w = 0;
  for (char c : whole) {
    w = w * 10 + (c - '0');
    if (w > kMaxWhole) return bad("too large");
  }
  while (frac.size() < 6) frac += '0';
  Micros f = frac.empty() ? 0 : std::strtoll(frac.c_str(), nullptr, 10);
  return w * kMicrosPerToken + f;
}

std::string FormatTokens(Micros micros) {
  bool neg = micros < 0;
  // Negate in unsigned space so INT64_MIN does not overflow.
  unsigned long long m = neg ? 0ULL - static_cast<unsigned long long>(micros)
                             : static_cast<unsigned long long>(micros);
  std::string frac = std::to_string(m % kMicrosPerToken);
  frac.insert(0, 6 - frac.size(), '0');
  return (neg ? "-" : "") + std::to_string(m / kMicrosPerToken) + "." + frac;
}

}  // namespace gm
