#include "routing/topology.h"

#include <algorithm>
#include <unordered_set>

namespace waygate::routing {

TopologyChanges Topology::apply_config(const Config& config) {
  TopologyChanges changes;
  std::unordered_set<std::string> wanted;
  for (const ClusterConfig& cluster : config.clusters) {
    wanted.insert(cluster.name);
    if (!clusters_.contains(cluster.name)) {
      clusters_[cluster.name].id = cluster_ids_.acquire(cluster.name).id;
    }
    std::vector<EndpointSpec> endpoints;
    for (const EndpointConfig& endpoint : cluster.endpoints) {
      endpoints.push_back(EndpointSpec{endpoint.address_text, endpoint.address, 1});
    }
    set_endpoints(cluster.name, std::move(endpoints), changes);
  }
  for (auto it = clusters_.begin(); it != clusters_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    release_endpoints(it->second, changes);
    if (it->second.host_set) changes.replaced.push_back(std::move(it->second.host_set));
    cluster_ids_.release(it->second.id);
    it = clusters_.erase(it);
  }
  return changes;
}

void Topology::set_endpoints(const std::string& name, std::vector<EndpointSpec> endpoints,
                             TopologyChanges& changes) {
  ClusterRecord& cluster = clusters_.at(name);
  if (cluster.host_set && cluster.endpoints == endpoints) return;  // nothing to publish
  auto host_set = std::make_shared<HostSet>();
  host_set->cluster_id = cluster.id;
  // Acquire the new set before releasing the old, so an endpoint that stays keeps its id.
  for (const EndpointSpec& endpoint : endpoints) {
    IdRegistry::Id id = endpoint_ids_.acquire(endpoint.address_text);
    host_set->hosts.push_back(
        Host{id.id, id.generation, endpoint.weight, endpoint.address, endpoint.address_text});
  }
  release_endpoints(cluster, changes);
  if (cluster.host_set) changes.replaced.push_back(std::move(cluster.host_set));
  cluster.endpoints = std::move(endpoints);
  cluster.host_set = std::move(host_set);
  changes.host_sets.push_back(cluster.host_set);
}

void Topology::release_endpoints(const ClusterRecord& cluster, TopologyChanges& changes) {
  if (!cluster.host_set) return;
  for (const Host& host : cluster.host_set->hosts) {
    if (endpoint_ids_.release(host.endpoint_id))
      changes.removed_endpoints.push_back(host.endpoint_id);
  }
}

std::vector<std::shared_ptr<const HostSet>> Topology::all_host_sets() const {
  std::vector<std::shared_ptr<const HostSet>> host_sets;
  for (const auto& [name, cluster] : clusters_)
    host_sets.push_back(cluster.host_set);
  return host_sets;
}

}  // namespace waygate::routing
