// The control thread's record of clusters and their endpoints. It gives both stable ids and builds
// the host set each cluster publishes; a config reload and (later) a discovery update go through
// it alike, and only a cluster whose endpoints changed gets a new host set.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "routing/config.h"
#include "routing/host_set.h"
#include "routing/id_registry.h"

namespace waygate::routing {

struct EndpointSpec {
  std::string address_text;
  SocketAddress address;
  uint32_t weight = 1;
  bool operator==(const EndpointSpec& other) const {
    return address_text == other.address_text && weight == other.weight;
  }
};

// What a change means for the workers.
struct TopologyChanges {
  std::vector<std::shared_ptr<const HostSet>> host_sets;  // new or changed clusters
  std::vector<uint32_t> removed_endpoints;  // ids that left every cluster: drain their pools
  // Host sets these replace, which workers may still hold: to be freed on the control thread.
  std::vector<std::shared_ptr<const HostSet>> replaced;
  bool empty() const { return host_sets.empty() && removed_endpoints.empty(); }
};

class Topology {
 public:
  // Makes the clusters exactly the config's, with its endpoints; ids of clusters and endpoints
  // that stay are kept.
  TopologyChanges apply_config(const Config& config);
  // Replaces one known cluster's endpoints.
  void set_endpoints(const std::string& cluster, std::vector<EndpointSpec> endpoints,
                     TopologyChanges& changes);

  // The id of a cluster that exists.
  uint32_t cluster_id(const std::string& name) const { return clusters_.at(name).id; }
  std::shared_ptr<const HostSet> host_set(const std::string& name) const {
    return clusters_.at(name).host_set;
  }
  // Every cluster's current host set (a worker starting up takes them all).
  std::vector<std::shared_ptr<const HostSet>> all_host_sets() const;
  uint32_t endpoint_capacity() const { return endpoint_ids_.capacity(); }

 private:
  struct ClusterRecord {
    uint32_t id = 0;
    std::vector<EndpointSpec> endpoints;
    std::shared_ptr<const HostSet> host_set;
  };

  void release_endpoints(const ClusterRecord& cluster, TopologyChanges& changes);

  IdRegistry cluster_ids_;
  IdRegistry endpoint_ids_;
  std::unordered_map<std::string, ClusterRecord> clusters_;
};

}  // namespace waygate::routing
