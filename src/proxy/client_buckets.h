// One worker's per-client rate-limit buckets, keyed by (the route's limit, the client's address),
// in a table of fixed size: a client with many addresses takes over slots, never more memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "proxy/client_address.h"
#include "proxy/token_bucket.h"
#include "routing/config.h"

namespace waygate::proxy {

class ClientBuckets {
 public:
  // 8192 slots of 64 bytes: half a MiB per worker, allocated at the first per-client limit.
  static constexpr size_t kSlots = 8192;
  // A key lives in one of this many slots from where it hashes to: a lookup reads at most these.
  static constexpr size_t kProbe = 8;

  // Takes a token from the client's bucket for the limit in `limit_slot` (non-zero; a changed
  // limit gets another slot): 0 when the request may pass, else the wait, as TokenBucket::take.
  // A client not in the table gets a new (full) bucket in the place of, by preference, an empty
  // slot, a bucket that has refilled (forgetting it changes nothing), or the one idle longest.
  uint64_t take(uint32_t limit_slot, const ClientAddress& client,
                const routing::RateLimitConfig& limit, uint64_t now_ns);
  // Buckets held (tests).
  size_t size() const;

 private:
  struct Slot {
    ClientAddress client;
    uint32_t limit_slot = 0;  // 0: empty
    routing::RateLimitConfig limit;
    TokenBucket bucket;
  };

  std::unique_ptr<Slot[]> slots_;
};

}  // namespace waygate::proxy
