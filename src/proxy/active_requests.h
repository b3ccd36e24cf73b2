// Requests in flight per endpoint id on one worker. The worker counts them and least_request reads
// them as plain numbers; the control thread reads them for GET /clusters with relaxed atomic loads.
// Counting costs the worker a plain store (the only writer needs no read-modify-write), takes no
// lock, and the counts share no cache line with anything another thread writes.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace waygate::proxy {

class ActiveRequests {
 public:
  // Worker thread.
  void change(uint32_t endpoint_id, int delta) {
    if (endpoint_id >= size_) grow(size_t{endpoint_id} + 1);
    uint32_t& cell = cells_[endpoint_id];
    std::atomic_ref<uint32_t>(cell).store(cell + static_cast<uint32_t>(delta),
                                          std::memory_order_relaxed);
  }
  // Worker thread: the counts by endpoint id; ids past the end have none in flight.
  std::span<const uint32_t> counts() const { return {cells_, size_}; }

  // Any thread.
  uint32_t read(uint32_t endpoint_id) const {
    const Table* table = current_.load(std::memory_order_acquire);
    if (!table || endpoint_id >= table->size) return 0;
    return std::atomic_ref<uint32_t>(table->cells()[endpoint_id]).load(std::memory_order_relaxed);
  }

 private:
  // Padding at both ends keeps the counts off cache lines another allocation uses.
  static constexpr size_t kPad = 64 / sizeof(uint32_t);

  struct Table {
    explicit Table(size_t cells) : size(cells), storage(new uint32_t[kPad + cells + kPad]()) {}
    uint32_t* cells() const { return storage.get() + kPad; }
    const size_t size;
    std::unique_ptr<uint32_t[]> storage;
  };

  // Rarely (a new endpoint id past the end): counts move to a table twice as large. The old one
  // stays allocated, as the control thread may be reading it.
  void grow(size_t at_least) {
    auto grown = std::make_unique<Table>(std::max({at_least, size_ * 2, size_t{64}}));
    for (size_t i = 0; i < size_; ++i)
      grown->cells()[i] = cells_[i];
    cells_ = grown->cells();
    size_ = grown->size;
    current_.store(grown.get(), std::memory_order_release);
    tables_.push_back(std::move(grown));
  }

  uint32_t* cells_ = nullptr;  // the current table's; worker thread
  size_t size_ = 0;
  std::atomic<const Table*> current_{nullptr};
  std::vector<std::unique_ptr<Table>> tables_;  // worker thread; the last is current
};

}  // namespace waygate::proxy
