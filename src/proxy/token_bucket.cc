#include "proxy/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace waygate::proxy {

double TokenBucket::tokens_at(const routing::RateLimitConfig& limit, uint64_t now_ns) const {
  auto burst = static_cast<double>(limit.burst);
  if (!used_) return burst;
  // A clock that went back (it should not) refills nothing rather than wrapping around.
  uint64_t elapsed_ns = now_ns > updated_ns_ ? now_ns - updated_ns_ : 0;
  double refilled = static_cast<double>(elapsed_ns) * 1e-9 * limit.requests_per_second;
  return std::min(burst, tokens_ + refilled);
}

uint64_t TokenBucket::take(const routing::RateLimitConfig& limit, uint64_t now_ns) {
  double tokens = tokens_at(limit, now_ns);
  if (tokens >= 1) {
    tokens_ = tokens - 1;
    updated_ns_ = now_ns;
    used_ = true;
    return 0;
  }
  // Capped (at about 30 years) so that a very slow rate cannot overflow the conversion.
  double wait_ns = std::min(std::ceil((1 - tokens) / limit.requests_per_second * 1e9), 1e18);
  return std::max<uint64_t>(1, static_cast<uint64_t>(wait_ns));
}

bool TokenBucket::full_at(const routing::RateLimitConfig& limit, uint64_t now_ns) const {
  return tokens_at(limit, now_ns) >= static_cast<double>(limit.burst);
}

uint64_t retry_after_seconds(uint64_t wait_ns) {
  return (wait_ns + 999'999'999) / 1'000'000'000;
}

}  // namespace waygate::proxy
