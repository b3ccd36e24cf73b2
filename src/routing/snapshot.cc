#include "routing/snapshot.h"

#include <unordered_map>

#include "routing/topology.h"

namespace waygate::routing {
namespace {

std::unordered_map<std::string, uint32_t> cluster_index(const std::vector<ClusterInfo>& clusters) {
  std::unordered_map<std::string, uint32_t> index;
  for (uint32_t i = 0; i < clusters.size(); ++i)
    index.emplace(clusters[i].name, i);
  return index;
}

std::shared_ptr<const Snapshot> build(std::shared_ptr<const Config> shared,
                                      std::vector<ClusterInfo> clusters, RouteNameSlots* name_slots,
                                      std::span<const SharedRoutes> entries) {
  const Config& config = *shared;
  std::unordered_map<std::string, uint32_t> index = cluster_index(clusters);
  std::vector<std::shared_ptr<const ListenerTls>> tls_listeners;
  std::vector<std::string> http2_listeners;
  for (const ListenerConfig& listener : config.listeners) {
    if (listener.http2) http2_listeners.push_back(listener.address_text);
    if (!listener.tls) continue;
    std::string hsts;
    if (listener.tls->hsts_max_age_s != 0) {
      hsts = "max-age=" + std::to_string(listener.tls->hsts_max_age_s);
    }
    tls_listeners.push_back(std::make_shared<const ListenerTls>(
        ListenerTls{listener.address_text, listener.name, listener.tls->context, std::move(hsts),
                    !listener.tls->client_ca.empty()}));
  }
  return std::make_shared<const Snapshot>(
      Snapshot{config.timeouts, config.limits, config.normalize_paths, std::move(clusters),
               RouteTable(std::move(shared), index, name_slots, entries), std::move(tls_listeners),
               std::move(http2_listeners)});
}

}  // namespace

std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const Config> config,
                                               const Topology& topology, RouteNameSlots& name_slots,
                                               std::span<const SharedRoutes> entries) {
  std::vector<ClusterInfo> clusters;
  for (const ClusterConfig& cluster : config->clusters) {
    clusters.push_back(ClusterInfo{cluster.name, topology.cluster_id(cluster.name), cluster.lb,
                                   cluster.hash_on, cluster.sticky, cluster.circuit_breakers});
  }
  return build(std::move(config), std::move(clusters), &name_slots, entries);
}

std::shared_ptr<const Snapshot> build_snapshot(const Config& config) {
  std::vector<ClusterInfo> clusters;
  for (const ClusterConfig& cluster : config.clusters) {
    clusters.push_back(ClusterInfo{cluster.name, static_cast<uint32_t>(clusters.size()), cluster.lb,
                                   cluster.hash_on, cluster.sticky, cluster.circuit_breakers});
  }
  return build(std::make_shared<const Config>(config), std::move(clusters), nullptr, {});
}

std::shared_ptr<const Snapshot> with_changed_entries(const Snapshot& previous,
                                                     std::span<const RouteEntryChange> changes,
                                                     RouteNameSlots& name_slots) {
  return std::make_shared<const Snapshot>(
      Snapshot{previous.timeouts, previous.limits, previous.paths, previous.clusters,
               RouteTable(previous.routes, changes, cluster_index(previous.clusters), name_slots),
               previous.tls_listeners, previous.http2_listeners});
}

}  // namespace waygate::routing
