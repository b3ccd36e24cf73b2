#include "discovery/refresh_timer.h"

#include <algorithm>

namespace waygate::discovery {

RefreshTimer::RefreshTimer(uv_loop_t* loop, uint64_t min_ms, uint64_t max_ms,
                           std::function<void()> due)
    : min_ms_(min_ms),
      max_ms_(std::max(min_ms, max_ms)),
      due_(std::move(due)),
      random_(static_cast<uint32_t>(uv_hrtime())) {
  timer_.init(uv_timer_init, loop, this);
}

void RefreshTimer::after_answer(uint32_t ttl_seconds) {
  failures_ = 0;
  arm(std::clamp<uint64_t>(uint64_t{ttl_seconds} * 1000, min_ms_, max_ms_));
}

void RefreshTimer::after_empty() {
  failures_ = 0;
  // No TTL to go by: look again soon enough to see the name come back, but not in a tight loop.
  arm(std::clamp<uint64_t>(min_ms_ * 5, min_ms_, max_ms_));
}

void RefreshTimer::after_failure() {
  uint64_t delay = min_ms_;
  for (uint32_t i = 0; i < failures_ && delay < max_ms_; ++i)
    delay *= 2;
  ++failures_;
  delay = std::min(delay, max_ms_);
  std::uniform_int_distribution<int64_t> jitter(-static_cast<int64_t>(delay / 5),
                                                static_cast<int64_t>(delay / 5));
  arm(static_cast<uint64_t>(std::max<int64_t>(1, static_cast<int64_t>(delay) + jitter(random_))));
}

void RefreshTimer::arm(uint64_t delay_ms) {
  last_delay_ms_ = delay_ms;
  uv_timer_start(timer_.get(), &RefreshTimer::on_timer, delay_ms, 0);
}

void RefreshTimer::on_timer(uv_timer_t* timer) {
  static_cast<RefreshTimer*>(timer->data)->due_();
}

}  // namespace waygate::discovery
