// GET /clusters: every cluster of the running config with its endpoints as the workers balance over
// them now: health (active checks and outlier ejections), weight, the discovery source each came
// from, and the requests in flight to it summed over the workers. Control thread only.
#pragma once

#include <string>
#include <string_view>

#include "routing/config.h"

namespace waygate::proxy {
class Server;
}  // namespace waygate::proxy

namespace waygate::discovery {
class DiscoveryManager;
}  // namespace waygate::discovery

namespace waygate::admin {

// "round_robin", "least_request", ... as the config names it.
std::string_view lb_policy_name(routing::LbPolicy policy);

// {"clusters": [...]}, in the config's order.
std::string render_clusters(const routing::Config& config, const proxy::Server& server,
                            const discovery::DiscoveryManager& discovery);

}  // namespace waygate::admin
