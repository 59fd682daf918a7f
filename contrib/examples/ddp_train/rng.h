// The trainer's random numbers: xoshiro256** seeded through SplitMix64.
// Written out here rather than taken from <random> so that the stream is the
// same on every standard library and its 256-bit state can be stored in a
// checkpoint and broadcast between ranks as four integers.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

namespace ddp {

class Rng {
 public:
  using State = std::array<uint64_t, 4>;

  explicit Rng(uint64_t seed) {
    for (auto& word : s_) word = SplitMix64(&seed);
  }
  static Rng FromState(const State& s) {
    Rng r(0);
    r.s_ = s;
    return r;
  }
  const State& state() const { return s_; }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, bound), without modulo bias (Lemire's method).
  uint64_t Below(uint64_t bound) {
    unsigned __int128 m = static_cast<unsigned __int128>(Next()) * bound;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < bound) {
      const uint64_t threshold = -bound % bound;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(Next()) * bound;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // Uniform in [-1, 1), exactly representable (24 random bits), so the value
  // does not depend on the platform's floating-point library.
  float UniformSymmetric() {
    return static_cast<float>(static_cast<int32_t>(Next() >> 40) - (1 << 23)) * (1.0f / (1 << 23));
  }

  // Fisher-Yates.
  template <typename T>
  void Shuffle(std::vector<T>* v) {
    for (size_t i = v->size(); i > 1; --i) std::swap((*v)[i - 1], (*v)[Below(i)]);
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t SplitMix64(uint64_t* x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  State s_{};
};

}  // namespace ddp
