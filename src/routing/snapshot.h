// The immutable routing state workers route with: settings, the route table and the clusters it
// names, published as one object so a worker never sees a route to a cluster it does not know. A
// request keeps the snapshot it started with until it ends. Each cluster's endpoints travel apart,
// in host sets (host_set.h), so an endpoint change never copies the routes.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "http/request_target.h"
#include "routing/config.h"
#include "routing/route_table.h"

namespace waygate::routing {

class Topology;

struct ClusterInfo {
  std::string name;
  uint32_t id = 0;  // stable across snapshots: indexes the workers' host sets and balancer state
  LbPolicy lb = LbPolicy::kRoundRobin;
  HashOnConfig hash_on;
  StickyConfig sticky;
  CircuitBreakers circuit_breakers;
  // A slot a cluster left by a patch (with_changed_clusters), which no route points at: the
  // others keep their indexes. It has no name and is skipped wherever clusters are listed.
  bool removed() const { return name.empty(); }
};

// A TLS listener's certificates and settings. They travel in the snapshot, so new certificates
// reach the workers as any other change does, and a connection keeps those it started with.
struct ListenerTls {
  std::string address;  // the listener's address text: how a worker knows its socket
  std::string name;
  std::shared_ptr<const tls::ServerContext> context;
  std::string hsts;  // the Strict-Transport-Security value, empty: none
  bool client_certs = false;
};

struct Snapshot {
  Timeouts timeouts;
  Limits limits;
  http::PathOptions paths;
  std::vector<ClusterInfo> clusters;  // route actions refer to clusters by index here
  RouteTable routes;
  // Held by each connection accepted on the listener, for its certificates' lifetime.
  std::vector<std::shared_ptr<const ListenerTls>> tls_listeners;
  // Addresses of the listeners that speak HTTP/2 (ListenerConfig::http2).
  std::vector<std::string> http2_listeners;

  // The TLS settings of the listener on this address, or null for a plain one.
  const std::shared_ptr<const ListenerTls>* tls_for(std::string_view address) const {
    for (const std::shared_ptr<const ListenerTls>& listener : tls_listeners) {
      if (listener->address == address) return &listener;
    }
    return nullptr;
  }
  bool http2_on(std::string_view address) const {
    for (const std::string& listener : http2_listeners) {
      if (listener == address) return true;
    }
    return false;
  }
};

// Builds a snapshot from a validated config whose clusters the topology knows, with the routes of
// the route entries (`entries`) after the config's own. The snapshot keeps the config and the
// entries (its route table points into them), so each is held once however many hold it. Route
// names keep the metric slots `name_slots` gave them in earlier snapshots.
std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const Config> config,
                                               const Topology& topology, RouteNameSlots& name_slots,
                                               std::span<const SharedRoutes> entries = {});
// `previous` with the routes of some route entries changed, and nothing else: the clusters are
// those of `previous` (a change to an entry's clusters takes build_snapshot). Costs what the
// changed entries route, not the whole table.
std::shared_ptr<const Snapshot> with_changed_entries(const Snapshot& previous,
                                                     std::span<const RouteEntryChange> changes,
                                                     RouteNameSlots& name_slots);
// `previous` with some clusters added or changed (`clusters`, which the topology knows now) and
// some removed (their routes are among `changes`), and the routes of some route entries changed:
// a route entry's change that defines clusters. Every other cluster keeps its index, so the routes
// of the other entries and of the config stay as they were compiled. Costs what changed, plus a
// walk over the cluster list (not the routes).
std::shared_ptr<const Snapshot> with_changed_clusters(
    const Snapshot& previous, std::span<const ClusterConfig* const> clusters,
    std::span<const std::string> removed, const Topology& topology,
    std::span<const RouteEntryChange> changes, RouteNameSlots& name_slots);
// A snapshot of a copy of `config`, with cluster ids 0..n-1 in config order (tests and benchmarks).
std::shared_ptr<const Snapshot> build_snapshot(const Config& config);

}  // namespace waygate::routing
