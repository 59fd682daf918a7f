// Clock: the one way GridMint's shells read time, so tests can use a fake.
// The pure cores never read a clock; time is passed to them.
#pragma once

#include <chrono>
#include <cstdint>

namespace gm {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowUnixMs() const = 0;  // wall clock, for records users see
};

class RealClock final : public Clock {
 public:
  int64_t NowUnixMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace gm
