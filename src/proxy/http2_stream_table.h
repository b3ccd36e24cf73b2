// The streams of one HTTP/2 connection by id: an open-addressing table (linear probing, deletion by
// backward shift, so no tombstones), since a std::unordered_map allocates a node per stream and
// hashes with a prime modulo for each of the many lookups a stream's frames make.
// A client's stream ids are odd and increasing, and the streams alive at once are a window of them
// (at most the connection's stream limit, and those whose session is still closing). Placed by
// id / 2 mod capacity they would sit in one run of taken slots, which a removal has to scan to its
// end; Fibonacci hashing scatters consecutive ids over the table instead, so runs stay short.
// Ids chosen to collide cost probes bounded by the number of streams alive.
#pragma once

#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace waygate::proxy {

template <typename T>
class Http2StreamTable {
 public:
  // Held at most half full, so a probe ends soon at an empty slot.
  static constexpr size_t kMinCapacity = 16;

  // Where a probe for `id` starts among `capacity` slots (a power of two, 2 to 2^32): the top
  // bits of id / 2 times 2^32 / golden ratio, so that consecutive ids land far apart.
  static size_t home_slot(int32_t id, size_t capacity) {
    uint32_t hash = (static_cast<uint32_t>(id) >> 1) * 0x9e3779b9U;
    return hash >> (32 - std::countr_zero(capacity));
  }

  size_t capacity() const { return slots_.size(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Null for an id not here, and for 0 (the connection's own frames), which the first empty slot
  // on its probe matches: an empty slot holds no stream.
  T* find(int32_t id) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = home(id);; i = next(i)) {
      const Slot& slot = slots_[i];
      if (slot.id == id) return slot.value.get();
      if (slot.id == kEmpty) return nullptr;
    }
  }

  // `id` (positive, the connection's own 0 never) must not be in the table.
  T& insert(int32_t id, std::unique_ptr<T> value) {
    assert(id > 0 && !find(id));
    if (2 * (size_ + 1) > slots_.size()) grow();
    size_t i = empty_slot_for(id);
    slots_[i].id = id;
    slots_[i].value = std::move(value);
    ++size_;
    return *slots_[i].value;
  }

  // Removes `id` and hands it back; null when it is not here.
  std::unique_ptr<T> take(int32_t id) {
    if (id <= 0 || slots_.empty()) return nullptr;
    size_t hole = home(id);
    while (slots_[hole].id != id) {
      if (slots_[hole].id == kEmpty) return nullptr;
      hole = next(hole);
    }
    std::unique_ptr<T> taken = std::move(slots_[hole].value);
    --size_;
    // Backward shift: each entry after the hole, up to the next empty slot, moves into the hole
    // unless its home lies cyclically in (hole, its slot], where a probe for it would not pass the
    // hole. So every entry stays reachable from its home without passing an empty slot.
    for (size_t i = next(hole); slots_[i].id != kEmpty; i = next(i)) {
      size_t from_home = (i - home(slots_[i].id)) & mask();
      size_t from_hole = (i - hole) & mask();
      if (from_home >= from_hole) {
        slots_[hole] = std::move(slots_[i]);
        hole = i;
      }
    }
    slots_[hole].id = kEmpty;
    slots_[hole].value.reset();
    return taken;
  }

  // Calls `visit(T&)` for each stream, in no particular order. `visit` must not insert or take.
  template <typename Visit>
  void for_each(Visit&& visit) const {
    for (const Slot& slot : slots_) {
      if (slot.id != kEmpty) visit(*slot.value);
    }
  }

  template <typename Predicate>
  bool any_of(Predicate&& predicate) const {
    for (const Slot& slot : slots_) {
      if (slot.id != kEmpty && predicate(*slot.value)) return true;
    }
    return false;
  }

  void clear() {
    for (Slot& slot : slots_) {
      slot.id = kEmpty;
      slot.value.reset();
    }
    size_ = 0;
  }

 private:
  static constexpr int32_t kEmpty = 0;

  struct Slot {
    int32_t id = kEmpty;
    std::unique_ptr<T> value;
  };

  size_t mask() const { return slots_.size() - 1; }
  size_t home(int32_t id) const { return home_slot(id, slots_.size()); }
  size_t next(size_t i) const { return (i + 1) & mask(); }
  // The first empty slot on the probe for `id`, where it goes.
  size_t empty_slot_for(int32_t id) const {
    size_t i = home(id);
    while (slots_[i].id != kEmpty)
      i = next(i);
    return i;
  }

  void grow() {
    std::vector<Slot> old(slots_.empty() ? kMinCapacity : 2 * slots_.size());
    old.swap(slots_);
    for (Slot& slot : old) {
      if (slot.id != kEmpty) slots_[empty_slot_for(slot.id)] = std::move(slot);
    }
  }

  std::vector<Slot> slots_;  // a power of two of them, or none before the first stream
  size_t size_ = 0;
};

}  // namespace waygate::proxy
