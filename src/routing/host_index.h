// Host names to what they lead to, for the route table: an open-addressed table of slots built
// once, with its names, and the values beside them, copied behind its slots in one block, so a
// lookup among a million names costs one probe of one cache line, then a name and its value in
// adjacent lines of the same page, where a node-based map chases a pointer per step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace waygate::routing {

class HostIndex {
 public:
  struct Slot {
    const char* name = nullptr;  // null: empty; else in the index's block
    const void* value = nullptr;
    uint32_t count = 0;  // the value's, if it is an array (a host's paths): no other lookup for it
    uint16_t length = 0;
    uint16_t tag = 0;  // hash bits the slot's position does not use: most misses end here
  };
  struct Entry {
    std::string_view name;  // at most 65,535 bytes (host names are at most 253)
    const void* value = nullptr;
    uint32_t count = 0;  // Slot::count
  };
  static constexpr uint32_t kNotKept = UINT32_MAX;

  // An index of nothing.
  HostIndex() = default;
  // The bytes an index of `entries` takes (a multiple of alignof(Slot)); `value_bytes` as below.
  static size_t bytes_for(std::span<const Entry> entries, size_t value_bytes = 0);
  // An index of `entries` built in `memory` (bytes_for(entries, value_bytes) bytes, aligned for a
  // Slot), which must outlive it; the names are copied there. With `value_bytes` (a multiple of
  // 8), a value is an array of `count` trivially copyable elements of that size, copied beside its
  // name, and the slot's value is the copy. Of two entries with one name, the first wins.
  // `slot_of`, if given, is as long as `entries` and learns each entry's slot (kNotKept: a name
  // before it had it).
  HostIndex(std::span<const Entry> entries, std::span<std::byte> memory, size_t value_bytes = 0,
            std::span<uint32_t> slot_of = {});

  // The value of `name`, or null.
  const void* find(std::string_view name) const {
    const Slot* slot = find(slots_, name, hash(name));
    return slot ? slot->value : nullptr;
  }
  // The slot of `name` in the slots of an index (slots()), or null, with the name's hash(): for a
  // caller that keeps the slots of many indexes at hand and has the hash already.
  // Inline: the route table's lookup is this probe and little else.
  static const Slot* find(std::span<const Slot> slots, std::string_view name, uint64_t hash) {
    if (slots.empty()) return nullptr;
    size_t mask = slots.size() - 1;
    auto tag = static_cast<uint16_t>(hash >> 48);
    for (size_t at = hash & mask;; at = (at + 1) & mask) {
      const Slot& slot = slots[at];
      if (!slot.name) return nullptr;
      if (slot.tag == tag && slot.length == name.size() &&
          std::memcmp(slot.name, name.data(), name.size()) == 0) {
        return &slot;
      }
    }
  }
  std::span<const Slot> slots() const { return slots_; }
  size_t size() const { return size_; }
  static uint64_t hash(std::string_view name) { return std::hash<std::string_view>{}(name); }

 private:
  std::span<const Slot> slots_;  // a power of two, at most half full
  size_t size_ = 0;
};

}  // namespace waygate::routing
