// When to ask a DNS source again: after the answer's TTL, clamped to the configured bounds; after
// a failure, sooner, backing off with jitter so a fleet does not retry in step.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <random>

#include "core/uv_handle.h"

namespace waygate::discovery {

class RefreshTimer {
 public:
  RefreshTimer(uv_loop_t* loop, uint64_t min_ms, uint64_t max_ms, std::function<void()> due);

  // The next lookup after a good answer with this TTL (seconds).
  void after_answer(uint32_t ttl_seconds);
  // The next lookup after an empty answer (the name has no records now).
  void after_empty();
  // The next lookup after a failure: min_ms doubling per failure in a row, up to max_ms, +-20%.
  void after_failure();
  uint64_t last_delay_ms() const { return last_delay_ms_; }

 private:
  void arm(uint64_t delay_ms);
  static void on_timer(uv_timer_t* timer);

  UvHandle<uv_timer_t> timer_;
  uint64_t min_ms_;
  uint64_t max_ms_;
  std::function<void()> due_;
  uint32_t failures_ = 0;
  uint64_t last_delay_ms_ = 0;
  std::minstd_rand random_;
};

}  // namespace waygate::discovery
