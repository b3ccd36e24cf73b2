#include "health/outlier_detector.h"

#include <algorithm>

namespace waygate::health {

OutlierDetector::OutlierDetector(uv_loop_t* loop, Hooks hooks)
    : loop_(loop), hooks_(std::move(hooks)) {
  timer_.init(uv_timer_init, loop, this);
  uv_unref(timer_.handle());  // an ejection still to end keeps no process running
}

OutlierDetector::State& OutlierDetector::state_for(uint32_t endpoint_id, uint32_t generation) {
  State& state = states_[endpoint_id];
  if (state.generation != generation) {
    // The id names another endpoint now: its history starts afresh.
    if (state.ejected_until != 0) hooks_.on_change(endpoint_id, false, 0, "it was replaced");
    state = State{};
    state.generation = generation;
  }
  return state;
}

void OutlierDetector::on_failure(uint32_t endpoint_id, uint32_t generation, Failure failure) {
  if (!timer_) return;
  const routing::OutlierConfig* config = hooks_.config_of(endpoint_id);
  if (!config || !config->enabled) return;
  State& state = state_for(endpoint_id, generation);
  if (state.ejected_until != 0) return;  // requests in flight when it was ejected
  uint32_t count = 0;
  uint32_t threshold = 0;
  const char* what = "";
  switch (failure) {
    case Failure::kServerError:
      count = ++state.server_errors;
      threshold = config->consecutive_5xx;
      what = "5xx responses";
      break;
    case Failure::kConnectFailure:
      count = ++state.connect_failures;
      threshold = config->consecutive_connect_failures;
      what = "connect failures";
      break;
    case Failure::kTimeout:
      count = ++state.timeouts;
      threshold = config->consecutive_timeouts;
      what = "timeouts";
      break;
  }
  if (threshold == 0 || count < threshold) return;
  if (!hooks_.may_eject(endpoint_id, config->max_ejection_percent)) return;
  eject(endpoint_id, state, *config, std::to_string(count) + " consecutive " + what);
}

void OutlierDetector::on_success(uint32_t endpoint_id, uint32_t generation) {
  auto it = states_.find(endpoint_id);
  if (it == states_.end()) return;
  State& state = state_for(endpoint_id, generation);
  state.server_errors = state.connect_failures = state.timeouts = 0;
}

void OutlierDetector::eject(uint32_t endpoint_id, State& state,
                            const routing::OutlierConfig& config, const std::string& why) {
  // An endpoint that has served well for as long as the longest ejection starts over.
  if (state.returned_at != 0 && uv_now(loop_) - state.returned_at > config.max_ejection_ms) {
    state.times_ejected = 0;
  }
  ++state.times_ejected;
  uint64_t duration = std::min(config.base_ejection_ms * state.times_ejected,
                               std::max(config.base_ejection_ms, config.max_ejection_ms));
  state.ejected_until = uv_now(loop_) + duration;
  state.server_errors = state.connect_failures = state.timeouts = 0;
  returns_.emplace(state.ejected_until, endpoint_id);
  arm();
  hooks_.on_change(endpoint_id, true, duration, why);
}

void OutlierDetector::forget(uint32_t endpoint_id) {
  states_.erase(endpoint_id);
}

void OutlierDetector::readmit(uint32_t endpoint_id) {
  auto it = states_.find(endpoint_id);
  if (it == states_.end() || it->second.ejected_until == 0) return;
  it->second.ejected_until = 0;  // its entry in returns_ is skipped when due
  it->second.returned_at = uv_now(loop_);
  hooks_.on_change(endpoint_id, false, 0, "an active health check passed");
}

bool OutlierDetector::ejected(uint32_t endpoint_id) const {
  auto it = states_.find(endpoint_id);
  return it != states_.end() && it->second.ejected_until != 0;
}

void OutlierDetector::arm() {
  if (!timer_) return;
  if (returns_.empty()) {
    uv_timer_stop(timer_.get());
    return;
  }
  uint64_t now = uv_now(loop_);
  uint64_t due = returns_.begin()->first;
  uv_timer_start(timer_.get(), &OutlierDetector::on_timer, due > now ? due - now : 0, 0);
}

void OutlierDetector::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<OutlierDetector*>(timer->data);
  uint64_t now = uv_now(self->loop_);
  while (!self->returns_.empty() && self->returns_.begin()->first <= now) {
    auto [until, endpoint_id] = *self->returns_.begin();
    self->returns_.erase(self->returns_.begin());
    auto it = self->states_.find(endpoint_id);
    if (it == self->states_.end() || it->second.ejected_until != until) continue;
    it->second.ejected_until = 0;
    it->second.returned_at = now;
    self->hooks_.on_change(endpoint_id, false, 0, "its ejection ended");
  }
  self->arm();
}

}  // namespace waygate::health
