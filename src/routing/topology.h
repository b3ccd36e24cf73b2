// The control thread's record of clusters and their endpoints. It gives both stable ids and builds
// the host set each cluster publishes; a config reload and (later) a discovery update go through
// it alike, and only a cluster whose endpoints changed gets a new host set.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "routing/config.h"
#include "routing/host_set.h"
#include "routing/id_registry.h"

namespace waygate::routing {

// An endpoint as discovery found it. Zone and metadata are kept for introspection; workers see
// the address and weight.
struct EndpointSpec {
  std::string address_text;  // "10.0.0.7:8080", "[::1]:80"
  SocketAddress address;
  uint32_t weight = 1;
  std::string zone;
  std::vector<std::pair<std::string, std::string>> metadata;
  // The DNS name the address was found under (TLS: the default SNI and verified name).
  std::string server_name;
  // What workers see: a change in zone or metadata alone publishes nothing.
  bool operator==(const EndpointSpec& other) const {
    return address_text == other.address_text && weight == other.weight &&
           server_name == other.server_name;
  }
};

// Each cluster's endpoints as all its sources have them now, by cluster name.
using EndpointsByCluster = std::unordered_map<std::string, std::vector<EndpointSpec>>;

// What a change means for the workers.
struct TopologyChanges {
  std::vector<std::shared_ptr<const HostSet>> host_sets;  // new or changed clusters
  std::vector<uint32_t> removed_endpoints;  // ids that left every cluster: drain their pools
  // Host sets these replace, which workers may still hold: to be freed on the control thread.
  std::vector<std::shared_ptr<const HostSet>> replaced;
  bool empty() const { return host_sets.empty() && removed_endpoints.empty(); }
};

// The endpoints a cluster lists as IP literals (host names come from DNS).
std::vector<EndpointSpec> literal_endpoints(const ClusterConfig& cluster);
// The same for every cluster of a config (tests and tools without discovery).
EndpointsByCluster literal_endpoints(const Config& config);

class Topology {
 public:
  // What the layers above decide about an endpoint when a host set is built: its active health
  // check verdict (by cluster and address), and the balancer's table for the hosts.
  using HealthFn =
      std::function<HealthVerdict(const std::string& cluster, const std::string& address)>;
  using TableFn = std::function<std::shared_ptr<const lb::BalancerTable>(LbPolicy policy,
                                                                         const HostSet& hosts)>;
  void set_health_source(HealthFn health) { health_ = std::move(health); }
  void set_table_builder(TableFn build) { build_table_ = std::move(build); }

  // Makes the clusters exactly the config's, with the endpoints given for each (a cluster missing
  // from `endpoints` has none yet); ids of clusters and endpoints that stay are kept.
  TopologyChanges apply_config(const Config& config, const EndpointsByCluster& endpoints);
  // The same for some clusters alone (a route entry's, added or changed, and those it no longer
  // defines): the others are not looked at, so the cost is that of the change.
  TopologyChanges apply_clusters(std::span<const ClusterConfig* const> clusters,
                                 std::span<const std::string> removed,
                                 const EndpointsByCluster& endpoints);
  bool has_cluster(const std::string& name) const { return clusters_.contains(name); }
  // Replaces one known cluster's endpoints.
  void set_endpoints(const std::string& cluster, std::vector<EndpointSpec> endpoints,
                     TopologyChanges& changes);
  // Builds a cluster's host set again with the health verdicts and ejections in force now.
  void refresh(const std::string& cluster, TopologyChanges& changes);
  // Outlier detection: an ejected endpoint is unhealthy in every cluster it is in. Returns the
  // clusters that contain it (to refresh).
  std::vector<std::string> set_ejected(uint32_t endpoint_id, bool ejected);
  bool ejected(uint32_t endpoint_id) const { return ejected_.contains(endpoint_id); }

  // The id of a cluster that exists.
  uint32_t cluster_id(const std::string& name) const { return clusters_.at(name).id; }
  std::shared_ptr<const HostSet> host_set(const std::string& name) const {
    return clusters_.at(name).host_set;
  }
  const std::vector<EndpointSpec>& endpoints(const std::string& name) const {
    return clusters_.at(name).endpoints;
  }
  // The clusters an endpoint id is in now (for outlier detection's per-cluster settings).
  std::vector<std::string> clusters_of(uint32_t endpoint_id) const;
  // The endpoint an id names now, if any (address text and generation).
  const Host* find_host(uint32_t endpoint_id) const;
  // Calls fn(name, host set) for every cluster (a host set may be null before its first).
  template <typename Fn>
  void for_each_cluster(Fn&& fn) const {
    for (const auto& [name, cluster] : clusters_)
      fn(name, cluster.host_set.get());
  }
  // Every cluster's current host set (a worker starting up takes them all).
  std::vector<std::shared_ptr<const HostSet>> all_host_sets() const;
  uint32_t endpoint_capacity() const { return endpoint_ids_.capacity(); }

 private:
  struct ClusterRecord {
    uint32_t id = 0;
    LbPolicy lb = LbPolicy::kRoundRobin;
    uint32_t panic_threshold_percent = 50;
    std::vector<EndpointSpec> endpoints;
    std::shared_ptr<const HostSet> host_set;
    std::shared_ptr<const UpstreamTlsConfig> tls;
    bool http2 = false;
    // Added to each endpoint's address to key its id: endpoints of clusters that speak TLS or
    // HTTP/2 differently never share an id, so never a connection pool.
    std::string pool_key;
  };

  // A host set for the cluster's endpoints (whose ids are held already).
  std::shared_ptr<const HostSet> build(const std::string& name, const ClusterRecord& cluster,
                                       const std::vector<IdRegistry::Id>& ids);
  void release_endpoints(const ClusterRecord& cluster, TopologyChanges& changes);
  // Makes a cluster as configured, with the endpoints given for it (none when missing).
  void apply_cluster(const ClusterConfig& cluster, const EndpointsByCluster& endpoints,
                     TopologyChanges& changes);
  // Forgets a cluster: its endpoints leave, its id is free again.
  void remove_cluster(const std::string& name, TopologyChanges& changes);

  uint64_t host_set_versions_ = 0;
  IdRegistry cluster_ids_;
  IdRegistry endpoint_ids_;
  std::unordered_map<std::string, ClusterRecord> clusters_;
  std::unordered_set<uint32_t> ejected_;
  HealthFn health_;
  TableFn build_table_;
};

}  // namespace waygate::routing
