// A 64-bit hash that is the same on every worker, build and run: for hash-based load balancing
// (ring hash, Maglev) and sticky-session cookies, where every worker must agree on where a key
// goes. FNV-1a over the bytes, then a finalizer (MurmurHash3's fmix64) so that keys that differ in
// one byte land far apart.
#pragma once

#include <cstdint>
#include <string_view>

namespace waygate {

inline uint64_t hash64(std::string_view bytes, uint64_t seed = 0) {
  uint64_t hash = 0xcbf29ce484222325ULL ^ seed;
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdULL;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ULL;
  hash ^= hash >> 33;
  return hash;
}

}  // namespace waygate
