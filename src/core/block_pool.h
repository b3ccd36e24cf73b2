// Memory blocks for one type, kept per thread for its next object: for objects made and freed at
// a high rate and in bursts (a session and a stream for each HTTP/2 stream), which malloc serves
// slowly once they are past its per-thread cache (over 1 KiB, or more than 7 at a time).
// A class uses it through its own operator new and delete. Under AddressSanitizer every block
// goes back to malloc, so that a use after free is still caught.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace waygate {

template <typename T, size_t kMaxKept>
class BlockPool {
 public:
  static void* take(size_t size) {
#ifndef __SANITIZE_ADDRESS__
    Blocks& kept = blocks();
    if (size == sizeof(T) && !kept.empty()) {
      void* block = kept.back();
      kept.pop_back();
      return block;
    }
#endif
    return ::operator new(size);
  }

  static void give(void* block, size_t size) {
#ifndef __SANITIZE_ADDRESS__
    Blocks& kept = blocks();
    if (size == sizeof(T) && kept.size() < kMaxKept) {
      kept.push_back(block);
      return;
    }
#endif
    ::operator delete(block, size);
  }

 private:
  struct Blocks : std::vector<void*> {
    Blocks() { reserve(kMaxKept); }
    ~Blocks() {
      for (void* block : *this)
        ::operator delete(block, sizeof(T));
    }
  };

  static Blocks& blocks() {
    thread_local Blocks kept;
    return kept;
  }
};

}  // namespace waygate
