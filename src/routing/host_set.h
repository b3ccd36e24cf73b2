// A cluster's endpoints as the workers balance over them. Published apart from the route table:
// an endpoint change copies one cluster's host set, never the routes. Every endpoint carries a
// stable numeric id given by the control thread, so a worker keeps its per-endpoint state (the
// connection pool, counters) in arrays indexed by id, across publishes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/socket_address.h"

namespace waygate::routing {

struct Host {
  uint32_t endpoint_id = 0;
  // Ids are reused once an endpoint has left every cluster; the generation tells a worker that
  // the id now names another endpoint, whose state starts afresh.
  uint32_t generation = 0;
  uint32_t weight = 1;
  SocketAddress address;
  std::string address_text;  // "10.0.0.7:8080", for logs and the Host of HTTP/1.0 requests
  // Passes its active health checks (or has none) and is not ejected by outlier detection.
  bool healthy = true;
  // hash64(address_text): names the host in sticky-session cookies and places it in hash tables,
  // the same on every worker and across restarts.
  uint64_t hash = 0;
};

struct HostSet {
  uint32_t cluster_id = 0;
  uint64_t version = 0;  // differs for every host set built, so a balancer can tell a new one
  std::vector<Host> hosts;
  bool uniform_weights = true;  // every host has the same weight: plain round robin will do
  uint32_t healthy_count = 0;
  // Too few hosts are healthy (below the cluster's panic threshold): every host takes traffic,
  // healthy or not, rather than a few healthy ones taking it all or requests failing.
  bool panic = false;
  // What the cluster's balancer precomputes for these hosts on the control thread (a hash ring, a
  // Maglev table), so a worker never builds one; null for policies that need none.
  std::shared_ptr<const void> lb_table;
};

// Whether a balancer may send a request to the host.
inline bool eligible(const HostSet& set, const Host& host) {
  return host.healthy || set.panic;
}

}  // namespace waygate::routing
