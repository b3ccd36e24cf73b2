// Everything that decides whether an endpoint takes traffic, on the control thread: the active
// health checker (probes), outlier detection (what the workers' requests saw), and the topology's
// health flags they both set. A verdict or an ejection rebuilds only the host sets of the clusters
// the endpoint is in, which the server then publishes.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "health/health_checker.h"
#include "health/outlier_detector.h"
#include "proxy/endpoint_event.h"
#include "routing/config.h"
#include "routing/topology.h"

namespace waygate::proxy {

class EndpointHealth {
 public:
  // Called with the host sets to publish after a verdict or an ejection changed them.
  using PublishFn = std::function<void(routing::TopologyChanges changes)>;

  EndpointHealth(uv_loop_t* loop, routing::Topology& topology, PublishFn publish);

  // A config is coming into force: every cluster's checks and outlier settings, and its endpoints
  // as they will be. A cluster's first endpoints (at start, or when a new cluster first gets some)
  // count healthy until checked, unless the check says `initial: unhealthy`; endpoints that join
  // later start unhealthy until they pass. Call before the topology builds the host sets.
  void apply_config(const routing::Config& config, const routing::EndpointsByCluster& endpoints);
  // The same for some clusters alone (a route entry's, added or changed), and those gone: their
  // checks stop. The other clusters' checks are not looked at.
  void apply_clusters(std::span<const routing::ClusterConfig* const> clusters,
                      std::span<const std::string> removed,
                      const routing::EndpointsByCluster& endpoints);
  // A cluster's endpoints changed (discovery); before the topology builds its host set.
  void set_endpoints(const std::string& cluster,
                     const std::vector<routing::EndpointSpec>& endpoints);
  // Endpoint ids that left every cluster.
  void forget(const std::vector<uint32_t>& endpoint_ids);
  // What a worker saw.
  void on_event(const EndpointEvent& event);
  // The process is stopping: probes and ejections stop, and nothing more is published.
  void stop();
  // Ejections so far by cluster (GET /metrics); an endpoint in two clusters counts in both.
  const std::map<std::string, uint64_t>& ejections() const { return ejections_; }

 private:
  // The check as the checker applies it to the cluster's endpoints now.
  std::optional<routing::HealthCheckConfig> effective_check(
      const std::string& cluster, const std::optional<routing::HealthCheckConfig>& check,
      bool has_endpoints);
  void on_verdict(const std::string& cluster, const std::string& address, bool healthy);
  bool may_eject(uint32_t endpoint_id, uint32_t max_percent) const;
  void on_ejection(uint32_t endpoint_id, bool ejected, uint64_t duration_ms,
                   const std::string& why);
  void refresh(const std::vector<std::string>& clusters);
  void apply_cluster(const routing::ClusterConfig& cluster,
                     const routing::EndpointsByCluster& endpoints);
  void remove_cluster(const std::string& name);

  routing::Topology& topology_;
  PublishFn publish_;
  std::unordered_map<std::string, std::optional<routing::HealthCheckConfig>> checks_;
  std::unordered_map<std::string, routing::OutlierConfig> outliers_;
  std::unordered_set<std::string> seeded_;          // clusters that have had endpoints
  std::unique_ptr<health::HealthChecker> checker_;  // null once stopped
  health::OutlierDetector detector_;
  std::map<std::string, uint64_t> ejections_;
};

}  // namespace waygate::proxy
