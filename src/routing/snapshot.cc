#include "routing/snapshot.h"

#include <algorithm>
#include <unordered_map>

#include "routing/topology.h"

namespace waygate::routing {
namespace {

std::unordered_map<std::string, uint32_t> cluster_index(const std::vector<ClusterInfo>& clusters) {
  std::unordered_map<std::string, uint32_t> index;
  for (uint32_t i = 0; i < clusters.size(); ++i) {
    if (!clusters[i].removed()) index.emplace(clusters[i].name, i);
  }
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

ClusterInfo cluster_info(const ClusterConfig& cluster, uint32_t id) {
  return ClusterInfo{
      cluster.name, id, cluster.lb, cluster.hash_on, cluster.sticky, cluster.circuit_breakers};
}

}  // namespace

std::shared_ptr<const Snapshot> build_snapshot(std::shared_ptr<const Config> config,
                                               const Topology& topology, RouteNameSlots& name_slots,
                                               std::span<const SharedRoutes> entries) {
  std::vector<ClusterInfo> clusters;
  for (const ClusterConfig& cluster : config->clusters) {
    clusters.push_back(cluster_info(cluster, topology.cluster_id(cluster.name)));
  }
  return build(std::move(config), std::move(clusters), &name_slots, entries);
}

std::shared_ptr<const Snapshot> build_snapshot(const Config& config) {
  std::vector<ClusterInfo> clusters;
  for (const ClusterConfig& cluster : config.clusters) {
    clusters.push_back(cluster_info(cluster, static_cast<uint32_t>(clusters.size())));
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

std::shared_ptr<const Snapshot> with_changed_clusters(
    const Snapshot& previous, std::span<const ClusterConfig* const> clusters,
    std::span<const std::string> removed, const Topology& topology,
    std::span<const RouteEntryChange> changes, RouteNameSlots& name_slots) {
  // Every other cluster keeps its index, which the routes not recompiled here point at: one gone
  // leaves a removed() slot (nothing routes to it any more), which the next cluster added takes.
  std::vector<ClusterInfo> infos = previous.clusters;
  std::unordered_map<std::string, uint32_t> index = cluster_index(infos);
  std::vector<uint32_t> free;
  for (const std::string& name : removed) {
    auto found = index.find(name);
    if (found == index.end()) continue;
    infos[found->second] = ClusterInfo{};
    index.erase(found);
  }
  for (uint32_t i = 0; i < infos.size(); ++i) {
    if (infos[i].removed()) free.push_back(i);
  }
  std::reverse(free.begin(), free.end());  // the lowest first
  for (const ClusterConfig* cluster : clusters) {
    ClusterInfo info = cluster_info(*cluster, topology.cluster_id(cluster->name));
    auto found = index.find(cluster->name);
    if (found != index.end()) {
      infos[found->second] = std::move(info);
      continue;
    }
    uint32_t at = static_cast<uint32_t>(infos.size());
    if (free.empty()) {
      infos.push_back(std::move(info));
    } else {
      at = free.back();
      free.pop_back();
      infos[at] = std::move(info);
    }
    index.emplace(cluster->name, at);
  }
  RouteTable routes(previous.routes, changes, index, name_slots);
  return std::make_shared<const Snapshot>(
      Snapshot{previous.timeouts, previous.limits, previous.paths, std::move(infos),
               std::move(routes), previous.tls_listeners, previous.http2_listeners});
}

}  // namespace waygate::routing
