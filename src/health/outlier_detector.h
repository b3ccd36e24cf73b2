// Passive health checking (outlier detection): endpoints that fail the requests the workers send
// them — consecutive 5xx, consecutive connect failures, consecutive timeouts — are ejected for a
// while, longer each time they are ejected again, and return on their own. A cap on the share of a
// cluster that may be ejected at once keeps a bad day from emptying a cluster. Control thread: the
// workers' endpoint events arrive here.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>

#include "core/uv_handle.h"
#include "routing/config.h"

namespace waygate::health {

class OutlierDetector {
 public:
  enum class Failure : uint8_t { kServerError, kConnectFailure, kTimeout };

  struct Hooks {
    // The settings for an endpoint (its first cluster's), or null when it is in no cluster.
    std::function<const routing::OutlierConfig*(uint32_t endpoint_id)> config_of;
    // Whether one more endpoint may be ejected from the clusters this one is in, given the cap.
    std::function<bool(uint32_t endpoint_id, uint32_t max_percent)> may_eject;
    // The endpoint was ejected for `duration_ms` (ejected true) or returns; `why` is for the log.
    std::function<void(uint32_t endpoint_id, bool ejected, uint64_t duration_ms,
                       const std::string& why)>
        on_change;
  };

  OutlierDetector(uv_loop_t* loop, Hooks hooks);

  // What the workers saw. `generation` identifies the endpoint behind the id.
  void on_failure(uint32_t endpoint_id, uint32_t generation, Failure failure);
  void on_success(uint32_t endpoint_id, uint32_t generation);
  // The endpoint id left every cluster (or names another endpoint now): forget it.
  void forget(uint32_t endpoint_id);
  // An active health check passed: an ejection ends at once (the endpoint has shown it serves).
  void readmit(uint32_t endpoint_id);

  bool ejected(uint32_t endpoint_id) const;
  // The process is stopping: no more ejections end (or start), and the timer closes.
  void stop() { timer_.reset(); }

 private:
  struct State {
    uint32_t generation = 0;
    uint32_t server_errors = 0;
    uint32_t connect_failures = 0;
    uint32_t timeouts = 0;
    uint32_t times_ejected = 0;
    uint64_t ejected_until = 0;  // loop time, ms; 0: not ejected
    uint64_t returned_at = 0;    // when the last ejection ended
  };

  State& state_for(uint32_t endpoint_id, uint32_t generation);
  void eject(uint32_t endpoint_id, State& state, const routing::OutlierConfig& config,
             const std::string& why);
  void arm();
  static void on_timer(uv_timer_t* timer);

  uv_loop_t* loop_;
  Hooks hooks_;
  std::unordered_map<uint32_t, State> states_;
  std::multimap<uint64_t, uint32_t> returns_;  // ejected_until -> endpoint id
  UvHandle<uv_timer_t> timer_;
};

}  // namespace waygate::health
