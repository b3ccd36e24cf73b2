#include "routing/topology.h"

#include "core/hash.h"

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
    apply_cluster(cluster, endpoints, changes);
  }
  std::vector<std::string> gone;
  for (const auto& [name, record] : clusters_) {
    if (!wanted.contains(name)) gone.push_back(name);
  }
  for (const std::string& name : gone)
    remove_cluster(name, changes);
  return changes;
}

TopologyChanges Topology::apply_clusters(std::span<const ClusterConfig* const> clusters,
                                         std::span<const std::string> removed,
                                         const EndpointsByCluster& endpoints) {
  TopologyChanges changes;
  // Added first, as apply_config does: an endpoint that moves to another cluster keeps its id.
  for (const ClusterConfig* cluster : clusters)
    apply_cluster(*cluster, endpoints, changes);
  for (const std::string& name : removed)
    remove_cluster(name, changes);
  return changes;
}

void Topology::apply_cluster(const ClusterConfig& cluster, const EndpointsByCluster& endpoints,
                             TopologyChanges& changes) {
  bool known = clusters_.contains(cluster.name);
  ClusterRecord& record = clusters_[cluster.name];
  if (!known) record.id = cluster_ids_.acquire(cluster.name).id;
  bool settings_changed =
      record.lb != cluster.lb || record.panic_threshold_percent != cluster.panic_threshold_percent;
  record.lb = cluster.lb;
  record.panic_threshold_percent = cluster.panic_threshold_percent;
  std::string pool_key = cluster.tls ? "|tls:" + std::to_string(cluster.tls->identity) : "";
  if (cluster.http2) pool_key += "|h2";
  if (pool_key != record.pool_key) {
    // Other TLS settings: the endpoints take new ids (and pools); the old ones drain.
    record.pool_key = std::move(pool_key);
    record.endpoints.clear();
    settings_changed = false;
  }
  record.http2 = cluster.http2;
  record.tls = cluster.tls ? std::make_shared<const UpstreamTlsConfig>(*cluster.tls) : nullptr;
  auto found = endpoints.find(cluster.name);
  std::vector<EndpointSpec> given =
      found == endpoints.end() ? std::vector<EndpointSpec>() : found->second;
  if (record.host_set && settings_changed && record.endpoints == given) {
    refresh(cluster.name, changes);  // same endpoints, another balancer or panic threshold
  } else {
    set_endpoints(cluster.name, std::move(given), changes);
  }
}

void Topology::remove_cluster(const std::string& name, TopologyChanges& changes) {
  auto it = clusters_.find(name);
  if (it == clusters_.end()) return;
  release_endpoints(it->second, changes);
  if (it->second.host_set) changes.replaced.push_back(std::move(it->second.host_set));
  cluster_ids_.release(it->second.id);
  clusters_.erase(it);
}

void Topology::set_endpoints(const std::string& name, std::vector<EndpointSpec> endpoints,
                             TopologyChanges& changes) {
  ClusterRecord& cluster = clusters_.at(name);
  if (cluster.host_set && cluster.endpoints == endpoints) return;  // nothing to publish
  // Acquire the new set before releasing the old, so an endpoint that stays keeps its id.
  std::vector<IdRegistry::Id> ids;
  ids.reserve(endpoints.size());
  for (const EndpointSpec& endpoint : endpoints) {
    ids.push_back(cluster.pool_key.empty()
                      ? endpoint_ids_.acquire(endpoint.address_text)
                      : endpoint_ids_.acquire(endpoint.address_text + cluster.pool_key));
  }
  release_endpoints(cluster, changes);
  cluster.endpoints = std::move(endpoints);
  if (cluster.host_set) changes.replaced.push_back(std::move(cluster.host_set));
  cluster.host_set = build(name, cluster, ids);
  changes.host_sets.push_back(cluster.host_set);
}

void Topology::refresh(const std::string& name, TopologyChanges& changes) {
  auto it = clusters_.find(name);
  if (it == clusters_.end() || !it->second.host_set) return;
  ClusterRecord& cluster = it->second;
  std::vector<IdRegistry::Id> ids;
  ids.reserve(cluster.host_set->hosts.size());
  for (const Host& host : cluster.host_set->hosts)
    ids.push_back(IdRegistry::Id{host.endpoint_id, host.generation});
  changes.replaced.push_back(cluster.host_set);
  cluster.host_set = build(name, cluster, ids);
  changes.host_sets.push_back(cluster.host_set);
}

std::shared_ptr<const HostSet> Topology::build(const std::string& name,
                                               const ClusterRecord& cluster,
                                               const std::vector<IdRegistry::Id>& ids) {
  auto host_set = std::make_shared<HostSet>();
  host_set->cluster_id = cluster.id;
  host_set->version = ++host_set_versions_;
  host_set->hosts.reserve(cluster.endpoints.size());
  for (size_t i = 0; i < cluster.endpoints.size(); ++i) {
    const EndpointSpec& endpoint = cluster.endpoints[i];
    Host host;
    host.endpoint_id = ids[i].id;
    host.generation = ids[i].generation;
    host.weight = endpoint.weight;
    host.address = endpoint.address;
    host.address_text = endpoint.address_text;
    HealthVerdict verdict =
        health_ ? health_(name, endpoint.address_text) : HealthVerdict::kHealthy;
    bool ejected = ejected_.contains(host.endpoint_id);
    host.healthy = !ejected && verdict == HealthVerdict::kHealthy;
    host.last_resort = ejected && verdict == HealthVerdict::kHealthy;
    host.proven = verdict != HealthVerdict::kUnproven;
    host.hash = hash64(endpoint.address_text);
    host.tls = cluster.tls;
    host.http2 = cluster.http2;
    host.server_name = endpoint.server_name;
    host_set->healthy_count += host.healthy ? 1 : 0;
    host_set->uniform_weights =
        host_set->uniform_weights &&
        (host_set->hosts.empty() || endpoint.weight == host_set->hosts.front().weight);
    host_set->hosts.push_back(std::move(host));
  }
  for (uint32_t i = 0; i < host_set->hosts.size(); ++i)
    host_set->by_hash.emplace_back(host_set->hosts[i].hash, i);
  std::sort(host_set->by_hash.begin(), host_set->by_hash.end());
  // Below the threshold (but not at zero: a cluster with no healthy host answers 503 at once),
  // every host takes traffic: better than a few healthy ones drowning.
  uint64_t size = host_set->hosts.size();
  host_set->panic =
      host_set->healthy_count > 0 && host_set->healthy_count < size &&
      uint64_t{host_set->healthy_count} * 100 < cluster.panic_threshold_percent * size;
  if (build_table_) host_set->lb_table = build_table_(cluster.lb, *host_set);
  return host_set;
}

std::vector<std::string> Topology::set_ejected(uint32_t endpoint_id, bool ejected) {
  if (ejected) {
    ejected_.insert(endpoint_id);
  } else {
    ejected_.erase(endpoint_id);
  }
  return clusters_of(endpoint_id);
}

std::vector<std::string> Topology::clusters_of(uint32_t endpoint_id) const {
  std::vector<std::string> names;
  for (const auto& [name, cluster] : clusters_) {
    if (!cluster.host_set) continue;
    for (const Host& host : cluster.host_set->hosts) {
      if (host.endpoint_id == endpoint_id) {
        names.push_back(name);
        break;
      }
    }
  }
  return names;
}

const Host* Topology::find_host(uint32_t endpoint_id) const {
  for (const auto& [name, cluster] : clusters_) {
    if (!cluster.host_set) continue;
    for (const Host& host : cluster.host_set->hosts) {
      if (host.endpoint_id == endpoint_id) return &host;
    }
  }
  return nullptr;
}

void Topology::release_endpoints(const ClusterRecord& cluster, TopologyChanges& changes) {
  if (!cluster.host_set) return;
  for (const Host& host : cluster.host_set->hosts) {
    if (!endpoint_ids_.release(host.endpoint_id)) continue;
    changes.removed_endpoints.push_back(host.endpoint_id);
    ejected_.erase(host.endpoint_id);  // an id that returns names another endpoint
  }
}

std::vector<std::shared_ptr<const HostSet>> Topology::all_host_sets() const {
  std::vector<std::shared_ptr<const HostSet>> host_sets;
  for (const auto& [name, cluster] : clusters_)
    host_sets.push_back(cluster.host_set);
  return host_sets;
}

}  // namespace waygate::routing
