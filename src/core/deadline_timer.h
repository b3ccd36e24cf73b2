// A per-connection deadline on one uv_timer, re-armed lazily: pushing a deadline later (every read
// does) costs no timer operation; the timer re-arms itself when it fires early.
// A deadline may also ride on another's timer (init_carried): an HTTP/2 stream's rides on its
// connection's, so a stream opens and closes no timer handle of its own.
#pragma once

#include <uv.h>

#include <cstdint>

namespace waygate {

class DeadlineTimer {
 public:
  using ExpiredFn = void (*)(void* owner);

  DeadlineTimer() = default;
  ~DeadlineTimer() { detach(); }
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  void init(uv_loop_t* loop, ExpiredFn on_expired, void* owner);
  // No timer of its own: `carrier`'s fires for it. The carrier (initialised by init) must outlive
  // it; once the carrier's handle is closed, carried deadlines no longer fire.
  void init_carried(DeadlineTimer& carrier, ExpiredFn on_expired, void* owner);

  // The deadline becomes now + timeout_ms (replacing any earlier or later one).
  void set(uint64_t timeout_ms);
  void clear() { deadline_ = 0; }
  bool active() const { return deadline_ != 0; }

  // Only for a timer set up by init().
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&timer_); }
  // The owner given to init(), for close callbacks that only have the handle.
  void* owner() const { return owner_; }

 private:
  static void on_timer(uv_timer_t* timer);
  [[gnu::noinline]] void set_carried(uint64_t timeout_ms);
  void arm(uint64_t due, uint64_t now);
  void detach();

  // What set() reads come first, together: it runs for every request, often on a connection
  // whose lines have left the cache, and the uv_timer_t alone spans two or three of them.
  uint64_t deadline_ = 0;   // loop time in ms; 0 when none
  uint64_t armed_due_ = 0;  // when the uv timer will fire; 0 when not armed
  // Carried: whose timer fires for this one, and the carrier's list of them (unordered: the
  // timer walks it only when it fires, which the lazy re-arming keeps rare).
  DeadlineTimer* carrier_ = nullptr;
  uv_loop_t* loop_ = nullptr;  // init's (timer_.loop, without reaching into timer_)
  ExpiredFn on_expired_ = nullptr;
  void* owner_ = nullptr;
  DeadlineTimer* carried_ = nullptr;  // a carrier's first carried deadline
  DeadlineTimer* previous_ = nullptr;
  DeadlineTimer* next_ = nullptr;
  uv_timer_t timer_;
};

}  // namespace waygate
