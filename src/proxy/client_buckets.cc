#include "proxy/client_buckets.h"

namespace waygate::proxy {

uint64_t ClientBuckets::take(uint32_t limit_slot, const ClientAddress& client,
                             const routing::RateLimitConfig& limit, uint64_t now_ns) {
  if (!slots_) slots_ = std::make_unique<Slot[]>(kSlots);
  size_t start = client.hash(limit_slot);
  Slot* chosen = nullptr;
  int chosen_rank = 3;  // 0: empty, 1: refilled, 2: idle longest so far
  for (size_t i = 0; i < kProbe; ++i) {
    Slot& slot = slots_[(start + i) % kSlots];
    if (slot.limit_slot == limit_slot && slot.client == client) {
      return slot.bucket.take(limit, now_ns);
    }
    int rank = slot.limit_slot == 0 ? 0 : slot.bucket.full_at(slot.limit, now_ns) ? 1 : 2;
    if (rank < chosen_rank || (rank == 2 && chosen_rank == 2 &&
                               slot.bucket.last_used_ns() < chosen->bucket.last_used_ns())) {
      chosen = &slot;
      chosen_rank = rank;
    }
  }
  *chosen = Slot{client, limit_slot, limit, TokenBucket{}};
  return chosen->bucket.take(limit, now_ns);
}

size_t ClientBuckets::size() const {
  size_t held = 0;
  for (size_t i = 0; slots_ && i < kSlots; ++i)
    held += slots_[i].limit_slot != 0 ? 1 : 0;
  return held;
}

}  // namespace waygate::proxy
