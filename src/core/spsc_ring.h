// A bounded queue between exactly one producer thread and one consumer thread, without locks: a
// worker reports events, the control thread takes them. A full ring refuses the push (the producer
// counts what it drops) rather than block a worker.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>

namespace waygate {

template <typename T, size_t kCapacity>
class SpscRing {
  static_assert((kCapacity & (kCapacity - 1)) == 0, "capacity must be a power of two");

 public:
  // Producer only. False when the ring is full.
  bool push(const T& item) {
    size_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_.load(std::memory_order_acquire) == kCapacity) return false;
    slots_[head & (kCapacity - 1)] = item;
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer only. False when the ring is empty.
  bool pop(T& item) {
    size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_.load(std::memory_order_acquire)) return false;
    item = slots_[tail & (kCapacity - 1)];
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

 private:
  std::array<T, kCapacity> slots_{};
  // Apart, so the producer's and the consumer's writes do not share a cache line.
  alignas(64) std::atomic<size_t> head_{0};
  alignas(64) std::atomic<size_t> tail_{0};
};

}  // namespace waygate
