// A token bucket, the rate limiter behind a route's `rate_limit`: up to `burst` requests at once,
// refilled at a steady rate. The caller passes the time (monotonic nanoseconds), so one bucket
// needs no clock of its own and tests drive it with theirs.
#pragma once

#include <cstdint>

#include "routing/config.h"

namespace waygate::proxy {

class TokenBucket {
 public:
  // Takes one token at `now_ns`. Returns 0 when the request may pass, else how long until a token
  // is back, in nanoseconds (at least 1): the request is refused and the bucket is left as it was.
  uint64_t take(const routing::RateLimitConfig& limit, uint64_t now_ns);
  // Whether, at `now_ns`, it would hold `burst` tokens again: no different from a new bucket, so
  // forgetting it loses nothing.
  bool full_at(const routing::RateLimitConfig& limit, uint64_t now_ns) const;
  uint64_t last_used_ns() const { return updated_ns_; }

 private:
  double tokens_at(const routing::RateLimitConfig& limit, uint64_t now_ns) const;

  double tokens_ = 0;
  uint64_t updated_ns_ = 0;
  bool used_ = false;  // a new bucket is full
};

// Retry-After for a refusal that has to wait `wait_ns`: whole seconds, rounded up.
uint64_t retry_after_seconds(uint64_t wait_ns);

}  // namespace waygate::proxy
