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
};

struct HostSet {
  uint32_t cluster_id = 0;
  uint64_t version = 0;  // differs for every host set built, so a balancer can tell a new one
  std::vector<Host> hosts;
  bool uniform_weights = true;  // every host has the same weight: plain round robin will do
};

}  // namespace waygate::routing
