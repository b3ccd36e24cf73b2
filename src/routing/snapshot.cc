#include "routing/snapshot.h"

#include <unordered_map>

namespace waygate::routing {
namespace {

std::unordered_map<std::string, uint32_t> index_clusters(const Config& config) {
  std::unordered_map<std::string, uint32_t> index;
  for (uint32_t i = 0; i < config.clusters.size(); ++i)
    index.emplace(config.clusters[i].name, i);
  return index;
}

std::vector<Cluster> build_clusters(const Config& config) {
  std::vector<Cluster> clusters;
  for (const ClusterConfig& cluster_config : config.clusters) {
    Cluster cluster{cluster_config.name, {}};
    for (const EndpointConfig& endpoint : cluster_config.endpoints) {
      cluster.endpoints.push_back(Endpoint{endpoint.address_text, endpoint.address});
    }
    clusters.push_back(std::move(cluster));
  }
  return clusters;
}

}  // namespace

std::shared_ptr<const Snapshot> build_snapshot(const Config& config) {
  return std::make_shared<const Snapshot>(Snapshot{config.timeouts, config.limits,
                                                   build_clusters(config),
                                                   RouteTable(config, index_clusters(config))});
}

}  // namespace waygate::routing
