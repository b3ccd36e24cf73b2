#include "routing/snapshot.h"

#include <unordered_map>

#include "routing/topology.h"

namespace waygate::routing {
namespace {

std::shared_ptr<const Snapshot> build(const Config& config, std::vector<ClusterInfo> clusters) {
  std::unordered_map<std::string, uint32_t> index;
  for (uint32_t i = 0; i < clusters.size(); ++i)
    index.emplace(clusters[i].name, i);
  return std::make_shared<const Snapshot>(Snapshot{config.timeouts, config.limits,
                                                   config.normalize_paths, std::move(clusters),
                                                   RouteTable(config, index)});
}

}  // namespace

std::shared_ptr<const Snapshot> build_snapshot(const Config& config, const Topology& topology) {
  std::vector<ClusterInfo> clusters;
  for (const ClusterConfig& cluster : config.clusters) {
    clusters.push_back(ClusterInfo{cluster.name, topology.cluster_id(cluster.name), cluster.lb,
                                   cluster.hash_on, cluster.sticky, cluster.circuit_breakers});
  }
  return build(config, std::move(clusters));
}

std::shared_ptr<const Snapshot> build_snapshot(const Config& config) {
  std::vector<ClusterInfo> clusters;
  for (const ClusterConfig& cluster : config.clusters) {
    clusters.push_back(ClusterInfo{cluster.name, static_cast<uint32_t>(clusters.size()), cluster.lb,
                                   cluster.hash_on, cluster.sticky, cluster.circuit_breakers});
  }
  return build(config, std::move(clusters));
}

}  // namespace waygate::routing
