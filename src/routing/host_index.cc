#include "routing/host_index.h"

#include <algorithm>
#include <bit>
#include <utility>

namespace waygate::routing {

void HostIndex::reserve(size_t count) {
  size_t wanted = std::bit_ceil(std::max<size_t>(count * 2, 8));
  if (wanted <= slots_.size()) return;
  std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(wanted));
  size_ = 0;
  for (const Slot& slot : old) {
    if (slot.name) insert(std::string_view(slot.name, slot.length), slot.value, slot.count);
  }
}

void HostIndex::grow() {
  reserve(std::max<size_t>(size_ + 1, slots_.size()));
}

void HostIndex::insert(std::string_view name, const void* value, uint32_t count) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  uint64_t h = hash(name);
  size_t mask = slots_.size() - 1;
  auto tag = static_cast<uint16_t>(h >> 48);
  for (size_t at = h & mask;; at = (at + 1) & mask) {
    Slot& slot = slots_[at];
    if (!slot.name) {
      slot = Slot{name.data() ? name.data() : "", value, count, static_cast<uint16_t>(name.size()),
                  tag};
      ++size_;
      return;
    }
    if (slot.tag == tag && std::string_view(slot.name, slot.length) == name) return;
  }
}

}  // namespace waygate::routing
