// The immutable routing state workers route with: settings, the route table and the clusters it
// names, published as one object so a worker never sees a route to a cluster it does not know. A
// request keeps the snapshot it started with until it ends. Each cluster's endpoints travel apart,
// in host sets (host_set.h), so an endpoint change never copies the routes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "http/request_target.h"
#include "routing/config.h"
#include "routing/route_table.h"

namespace waygate::routing {

class Topology;

struct ClusterInfo {
  std::string name;
  uint32_t id;  // stable across snapshots: indexes the workers' host sets and balancer state
  LbPolicy lb = LbPolicy::kRoundRobin;
  HashOnConfig hash_on;
  StickyConfig sticky;
  CircuitBreakers circuit_breakers;
};

struct Snapshot {
  Timeouts timeouts;
  Limits limits;
  http::PathOptions paths;
  std::vector<ClusterInfo> clusters;  // route actions refer to clusters by index here
  RouteTable routes;
};

// Builds a snapshot from a validated config whose clusters the topology knows.
std::shared_ptr<const Snapshot> build_snapshot(const Config& config, const Topology& topology);
// The same with cluster ids 0..n-1 in config order (tests and benchmarks).
std::shared_ptr<const Snapshot> build_snapshot(const Config& config);

}  // namespace waygate::routing
