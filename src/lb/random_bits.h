// Several random numbers from one PickContext::random: a pick that draws more than once
// (rejection sampling, two choices) steps a splitmix64 sequence seeded with it.
#pragma once

#include <cstdint>

namespace waygate::lb {

__extension__ typedef unsigned __int128 Uint128;  // __extension__: -Wpedantic knows no __int128

class RandomBits {
 public:
  explicit RandomBits(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound) for bound > 0, by a multiply rather than a division (Lemire's method
  // without its rejection step: the bias, under bound / 2^64, is far below anything measurable).
  uint64_t below(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<Uint128>(next()) * bound) >> 64);
  }

  bool coin() { return (next() >> 63) != 0; }

 private:
  uint64_t state_;
};

}  // namespace waygate::lb
