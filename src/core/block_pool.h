// Memory blocks for one type, kept per thread for its next object: for objects made and freed at
// a high rate and in bursts (a session and a stream for each HTTP/2 stream), which malloc serves
// slowly once they are past its per-thread cache (over 1 KiB, or more than 7 at a time).
// A final class uses it through its own operator new and delete (so every block is sizeof(T)).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace waygate {

// Whether freed blocks are kept for reuse: not under AddressSanitizer, which must see each block
// freed to catch a use after free.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kReuseFreedBlocks = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kReuseFreedBlocks = false;
#else
inline constexpr bool kReuseFreedBlocks = true;
#endif
#else
inline constexpr bool kReuseFreedBlocks = true;
#endif

template <typename T, size_t kMaxKept>
class BlockPool {
 public:
  static void* take(size_t size) {
    if constexpr (kReuseFreedBlocks) {
      Blocks& kept = blocks();
      if (!kept.empty()) {
        void* block = kept.back();
        kept.pop_back();
        return block;
      }
    }
    return ::operator new(size);
  }

  static void give(void* block) {
    if constexpr (kReuseFreedBlocks) {
      Blocks& kept = blocks();
      if (kept.size() < kMaxKept) {
        kept.push_back(block);
        return;
      }
    }
    ::operator delete(block);
  }

  // Frees the kept blocks past `count`: after a burst, so that what it left here goes back to the
  // system with the rest (the worker's trim).
  static void keep_at_most(size_t count) {
    Blocks& kept = blocks();
    while (kept.size() > count) {
      ::operator delete(kept.back());
      kept.pop_back();
    }
  }
  static size_t kept() { return blocks().size(); }

 private:
  struct Blocks : std::vector<void*> {
    Blocks() { reserve(kMaxKept); }
    ~Blocks() {
      for (void* block : *this)
        ::operator delete(block);
    }
  };

  static Blocks& blocks() {
    thread_local Blocks kept;
    return kept;
  }
};

}  // namespace waygate
