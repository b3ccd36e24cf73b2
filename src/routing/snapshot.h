// The immutable state workers route with: settings, route table and clusters, published as one
// object so a worker never sees a route to a cluster it does not know. A request keeps the
// snapshot it started with until it ends.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "routing/config.h"
#include "routing/route_table.h"

namespace waygate::routing {

struct Endpoint {
  std::string address_text;
  SocketAddress address;
};

struct Cluster {
  std::string name;
  std::vector<Endpoint> endpoints;
};

struct Snapshot {
  Timeouts timeouts;
  Limits limits;
  std::vector<Cluster> clusters;
  RouteTable routes;
};

// Builds a snapshot from a validated config.
std::shared_ptr<const Snapshot> build_snapshot(const Config& config);

}  // namespace waygate::routing
