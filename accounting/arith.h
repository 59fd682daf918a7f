// Integer helpers for money: exact a × b ÷ c with 128-bit intermediates.
// Internal to accounting/.
#pragma once

#include <cstdint>

namespace gm::acct {

// floor(a × b ÷ c) for a, b ≥ 0 and c > 0; the product never overflows.
inline int64_t MulDivFloor(int64_t a, int64_t b, int64_t c) {
  return static_cast<int64_t>(static_cast<__int128>(a) * b / c);
}

// Applies basis points: floor(amount × bp ÷ 10,000).
inline int64_t ApplyBp(int64_t amount, int64_t bp) { return MulDivFloor(amount, bp, 10'000); }

inline constexpr int64_t kMsPerHour = 3'600'000;

}  // namespace gm::acct
