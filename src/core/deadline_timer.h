// A per-connection deadline on one uv_timer, re-armed lazily: pushing a deadline later (every read
// does) costs no timer operation; the timer re-arms itself when it fires early.
#pragma once

#include <uv.h>

#include <cstdint>

namespace waygate {

class DeadlineTimer {
 public:
  using ExpiredFn = void (*)(void* owner);

  void init(uv_loop_t* loop, ExpiredFn on_expired, void* owner);

  // The deadline becomes now + timeout_ms (replacing any earlier or later one).
  void set(uint64_t timeout_ms);
  void clear() { deadline_ = 0; }
  bool active() const { return deadline_ != 0; }

  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&timer_); }
  // The owner given to init(), for close callbacks that only have the handle.
  void* owner() const { return owner_; }

 private:
  static void on_timer(uv_timer_t* timer);
  void arm(uint64_t due, uint64_t now);

  uv_timer_t timer_;
  ExpiredFn on_expired_ = nullptr;
  void* owner_ = nullptr;
  uint64_t deadline_ = 0;   // loop time in ms; 0 when none
  uint64_t armed_due_ = 0;  // when the uv timer will fire; 0 when not armed
};

}  // namespace waygate
