#include "core/deadline_timer.h"

namespace waygate {

void DeadlineTimer::init(uv_loop_t* loop, ExpiredFn on_expired, void* owner) {
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  loop_ = loop;
  on_expired_ = on_expired;
  owner_ = owner;
}

void DeadlineTimer::init_carried(DeadlineTimer& carrier, ExpiredFn on_expired, void* owner) {
  carrier_ = &carrier;
  on_expired_ = on_expired;
  owner_ = owner;
  next_ = carrier.carried_;
  if (next_) next_->previous_ = this;
  carrier.carried_ = this;
}

void DeadlineTimer::detach() {
  if (!carrier_) return;
  if (previous_) {
    previous_->next_ = next_;
  } else {
    carrier_->carried_ = next_;
  }
  if (next_) next_->previous_ = previous_;
  carrier_ = previous_ = next_ = nullptr;
}

void DeadlineTimer::set(uint64_t timeout_ms) {
  if (carrier_) [[unlikely]]
    return set_carried(timeout_ms);
  uint64_t now = uv_now(loop_);
  deadline_ = now + (timeout_ms == 0 ? 1 : timeout_ms);
  if (armed_due_ == 0 || armed_due_ > deadline_) arm(deadline_, now);
}

void DeadlineTimer::set_carried(uint64_t timeout_ms) {
  DeadlineTimer& carrier = *carrier_;
  uint64_t now = uv_now(carrier.loop_);
  deadline_ = now + (timeout_ms == 0 ? 1 : timeout_ms);
  // Set after the carrier's handle closed (its connection is going): nothing fires any more.
  if (uv_is_closing(carrier.handle())) return;
  if (carrier.armed_due_ == 0 || carrier.armed_due_ > deadline_) carrier.arm(deadline_, now);
}

void DeadlineTimer::arm(uint64_t due, uint64_t now) {
  armed_due_ = due;
  uv_timer_start(&timer_, &DeadlineTimer::on_timer, due - now, 0);
}

void DeadlineTimer::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<DeadlineTimer*>(timer->data);
  self->armed_due_ = 0;
  uint64_t now = uv_now(timer->loop);
  uint64_t next = 0;
  // What an expiry leads to frees no carried deadline from inside this call (their owners are
  // freed from the loop), so the walk may go on from one to the next.
  for (DeadlineTimer* carried = self->carried_; carried; carried = carried->next_) {
    if (carried->deadline_ == 0) continue;
    if (carried->deadline_ <= now) {
      carried->deadline_ = 0;
      carried->on_expired_(carried->owner_);
    } else if (next == 0 || carried->deadline_ < next) {
      next = carried->deadline_;
    }
  }
  if (self->deadline_ != 0) {
    if (self->deadline_ <= now) {
      self->deadline_ = 0;
      self->on_expired_(self->owner_);
    } else if (next == 0 || self->deadline_ < next) {
      next = self->deadline_;
    }
  }
  // The expiries may have set deadlines of their own (and armed the timer for them), or closed
  // the handle.
  if (next != 0 && (self->armed_due_ == 0 || self->armed_due_ > next) &&
      !uv_is_closing(self->handle())) {
    self->arm(next, now);
  }
}

}  // namespace waygate
