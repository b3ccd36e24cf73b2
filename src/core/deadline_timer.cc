#include "core/deadline_timer.h"

namespace waygate {

void DeadlineTimer::init(uv_loop_t* loop, ExpiredFn on_expired, void* owner) {
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  on_expired_ = on_expired;
  owner_ = owner;
}

void DeadlineTimer::set(uint64_t timeout_ms) {
  uint64_t now = uv_now(timer_.loop);
  deadline_ = now + (timeout_ms == 0 ? 1 : timeout_ms);
  if (armed_due_ == 0 || armed_due_ > deadline_) arm(deadline_, now);
}

void DeadlineTimer::arm(uint64_t due, uint64_t now) {
  armed_due_ = due;
  uv_timer_start(&timer_, &DeadlineTimer::on_timer, due - now, 0);
}

void DeadlineTimer::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<DeadlineTimer*>(timer->data);
  self->armed_due_ = 0;
  if (self->deadline_ == 0) return;
  uint64_t now = uv_now(timer->loop);
  if (self->deadline_ > now) {
    self->arm(self->deadline_, now);
    return;
  }
  self->deadline_ = 0;
  self->on_expired_(self->owner_);
}

}  // namespace waygate
