// Active health checks: one checker per process, on the control loop (never one per worker, so an
// endpoint sees one probe per interval however many workers run). HTTP checks (a request, an
// expected status range, optionally a body substring) or TCP checks (a connect), each endpoint on
// its own schedule with jitter, so checks spread over the interval instead of arriving in waves.
// An endpoint turns unhealthy after `unhealthy_threshold` failures in a row and healthy after
// `healthy_threshold` passes in a row; while unhealthy it is checked at `unhealthy_interval`. State
// is kept per (cluster, endpoint address) and survives config reloads and discovery updates for
// endpoints that stay.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "routing/config.h"
#include "routing/topology.h"

namespace waygate::health {

class HealthChecker {
 public:
  // Called when an endpoint's verdict changes (never for its initial state).
  using VerdictFn =
      std::function<void(const std::string& cluster, const std::string& address, bool healthy)>;

  HealthChecker(uv_loop_t* loop, VerdictFn on_verdict);
  // Stops every check; no callback afterwards.
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // The endpoints a cluster has now and how to check them (nullopt: no checks; every endpoint
  // counts as healthy). Endpoints that stay keep their state and schedule; new ones start in the
  // configured initial state and are first checked soon (within one interval, spread out);
  // departed ones stop being checked. A changed config restarts the cluster's checks but keeps
  // each endpoint's verdict.
  void set_cluster(const std::string& cluster,
                   const std::optional<routing::HealthCheckConfig>& config,
                   const std::vector<routing::EndpointSpec>& endpoints);
  void remove_cluster(const std::string& cluster);

  // The verdict now: healthy for an endpoint of a cluster without checks, or one not known.
  routing::HealthVerdict verdict(const std::string& cluster, const std::string& address) const;
  bool healthy(const std::string& cluster, const std::string& address) const {
    return verdict(cluster, address) == routing::HealthVerdict::kHealthy;
  }

  // Counters for logs, metrics and tests.
  struct Stats {
    uint64_t checks = 0;  // probes finished (passed or failed)
    uint64_t passed = 0;
    uint64_t failed = 0;
    uint64_t in_flight = 0;
  };
  const Stats& stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace waygate::health
