// GET /metrics: sums the workers' counters (proxy/worker_metrics.h) and reads the control thread's
// own state (host sets, reloads) into the Prometheus text format. Control thread only.
#pragma once

#include <cstdint>
#include <string>

#include "admin/discovery_stats.h"

namespace waygate::proxy {
class Server;
}  // namespace waygate::proxy

namespace waygate::admin {

struct ReloadStats {
  uint64_t applied = 0;
  uint64_t refused = 0;
  double last_duration_seconds = 0;  // of the last reload that applied or was refused
};

std::string render_metrics(const proxy::Server& server, const ReloadStats& reloads,
                           const DiscoveryStats& discovery);

}  // namespace waygate::admin
