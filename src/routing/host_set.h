// A cluster's endpoints as the workers balance over them. Published apart from the route table:
// an endpoint change copies one cluster's host set, never the routes. Every endpoint carries a
// stable numeric id given by the control thread, so a worker keeps its per-endpoint state (the
// connection pool, counters) in arrays indexed by id, across publishes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/socket_address.h"
#include "routing/config.h"

namespace waygate::lb {
struct BalancerTable;  // what a balancer precomputes (lb/balancer_table.h); held, never read here
}  // namespace waygate::lb

namespace waygate::routing {

// An endpoint's standing with its active health checks.
enum class HealthVerdict : uint8_t {
  kHealthy,    // passes (or has no checks)
  kUnhealthy,  // fails now, but has passed before
  kUnproven,   // has not passed since it appeared
};

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
  // Has passed its active checks at some time (or started healthy, or has none). Only such a host
  // takes traffic when its cluster panics: one never seen passing, say a backend still warming
  // up, is no better than no backend.
  bool proven = true;
  // Out only because outlier detection ejected it (its active checks, if any, pass): a guess from
  // failures of real requests. When no eligible host is left for a request, such a host is tried
  // as a last resort rather than answering 502 or 503: it may well have recovered.
  bool last_resort = false;
  // hash64(address_text): names the host in sticky-session cookies and places it in hash tables,
  // the same on every worker and across restarts.
  uint64_t hash = 0;
  // The cluster's upstream TLS, null for plain TCP; and the name the address was found under.
  std::shared_ptr<const UpstreamTlsConfig> tls;
  std::string server_name;
  bool http2 = false;  // the cluster speaks HTTP/2 to it (`protocol: http2`)
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
  std::shared_ptr<const lb::BalancerTable> lb_table;
  // (Host::hash, index in hosts), sorted: finds the host a sticky-session cookie names.
  std::vector<std::pair<uint64_t, uint32_t>> by_hash;

  // The index of the host with this hash, or -1.
  int32_t find(uint64_t hash) const {
    auto it = std::lower_bound(by_hash.begin(), by_hash.end(), std::make_pair(hash, uint32_t{0}));
    return it != by_hash.end() && it->first == hash ? static_cast<int32_t>(it->second) : -1;
  }
};

// Whether a balancer may send a request to the host.
inline bool eligible(const HostSet& set, const Host& host) {
  return host.healthy || (set.panic && host.proven);
}

}  // namespace waygate::routing
