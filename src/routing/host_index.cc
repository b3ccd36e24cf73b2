#include "routing/host_index.h"

#include <algorithm>
#include <bit>
#include <memory>

namespace waygate::routing {
namespace {

size_t slot_count_for(size_t entries) {
  return entries == 0 ? 0 : std::bit_ceil(std::max<size_t>(entries * 2, 8));
}

// Values copied beside their names start 8-aligned.
size_t aligned(size_t bytes) {
  return (bytes + 7) / 8 * 8;
}

}  // namespace

size_t HostIndex::bytes_for(std::span<const Entry> entries, size_t value_bytes) {
  size_t bytes = slot_count_for(entries.size()) * sizeof(Slot);
  for (const Entry& entry : entries)
    bytes += value_bytes == 0 ? entry.name.size()
                              : aligned(entry.name.size()) + entry.count * value_bytes;
  return aligned(bytes);
}

HostIndex::HostIndex(std::span<const Entry> entries, std::span<std::byte> memory,
                     size_t value_bytes, std::span<uint32_t> slot_of) {
  size_t count = slot_count_for(entries.size());
  if (count == 0) return;
  auto* slots = reinterpret_cast<Slot*>(memory.data());
  std::uninitialized_value_construct_n(slots, count);
  char* names = reinterpret_cast<char*>(slots + count);
  size_t mask = count - 1;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& entry = entries[i];
    uint64_t h = hash(entry.name);
    auto tag = static_cast<uint16_t>(h >> 48);
    uint32_t placed = kNotKept;
    for (size_t at = h & mask;; at = (at + 1) & mask) {
      Slot& slot = slots[at];
      if (!slot.name) {
        char* name = names;
        if (!entry.name.empty()) std::memcpy(name, entry.name.data(), entry.name.size());
        const void* value = entry.value;
        if (value_bytes == 0) {
          names += entry.name.size();
        } else {
          char* copy = name + aligned(entry.name.size());
          if (entry.count != 0) std::memcpy(copy, entry.value, entry.count * value_bytes);
          value = copy;
          names = copy + entry.count * value_bytes;
        }
        slot = Slot{name, value, entry.count, static_cast<uint16_t>(entry.name.size()), tag};
        placed = static_cast<uint32_t>(at);
        ++size_;
        break;
      }
      if (slot.tag == tag && std::string_view(slot.name, slot.length) == entry.name) break;
    }
    if (!slot_of.empty()) slot_of[i] = placed;
  }
  slots_ = std::span<const Slot>(slots, count);
}

}  // namespace waygate::routing
