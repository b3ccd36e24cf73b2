#include "routing/topology.h"

#include <algorithm>
#include <unordered_set>

namespace waygate::routing {

std::vector<EndpointSpec> literal_endpoints(const ClusterConfig& cluster) {
  std::vector<EndpointSpec> endpoints;
  for (const EndpointConfig& endpoint : cluster.endpoints) {
    if (endpoint.is_name()) continue;
    EndpointSpec spec;
    spec.address_text = endpoint.address_text;
    spec.address = endpoint.address;
    endpoints.push_back(std::move(spec));
  }
  return endpoints;
}

EndpointsByCluster literal_endpoints(const Config& config) {
  EndpointsByCluster endpoints;
  for (const ClusterConfig& cluster : config.clusters)
    endpoints[cluster.name] = literal_endpoints(cluster);
  return endpoints;
}

TopologyChanges Topology::apply_config(const Config& config, const EndpointsByCluster& endpoints) {
  TopologyChanges changes;
  std::unordered_set<std::string> wanted;
  for (const ClusterConfig& cluster : config.clusters) {
    wanted.insert(cluster.name);
    if (!clusters_.contains(cluster.name)) {
      clusters_[cluster.name].id = cluster_ids_.acquire(cluster.name).id;
    }
    auto found = endpoints.find(cluster.name);
    set_endpoints(cluster.name,
                  found == endpoints.end() ? std::vector<EndpointSpec>() : found->second, changes);
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
  host_set->version = ++host_set_versions_;
  // Acquire the new set before releasing the old, so an endpoint that stays keeps its id.
  for (const EndpointSpec& endpoint : endpoints) {
    IdRegistry::Id id = endpoint_ids_.acquire(endpoint.address_text);
    host_set->hosts.push_back(
        Host{id.id, id.generation, endpoint.weight, endpoint.address, endpoint.address_text});
    host_set->uniform_weights =
        host_set->uniform_weights && endpoint.weight == host_set->hosts.front().weight;
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
