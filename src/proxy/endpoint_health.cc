#include "proxy/endpoint_health.h"

#include "core/log.h"

namespace waygate::proxy {

EndpointHealth::EndpointHealth(uv_loop_t* loop, routing::Topology& topology, PublishFn publish)
    : topology_(topology),
      publish_(std::move(publish)),
      checker_(std::make_unique<health::HealthChecker>(
          loop, [this](const std::string& cluster, const std::string& address,
                       bool healthy) { on_verdict(cluster, address, healthy); })),
      detector_(loop, health::OutlierDetector::Hooks{
                          [this](uint32_t endpoint_id) -> const routing::OutlierConfig* {
                            for (const std::string& name : topology_.clusters_of(endpoint_id)) {
                              auto it = outliers_.find(name);
                              if (it != outliers_.end()) return &it->second;
                            }
                            return nullptr;
                          },
                          [this](uint32_t endpoint_id, uint32_t max_percent) {
                            return may_eject(endpoint_id, max_percent);
                          },
                          [this](uint32_t endpoint_id, bool ejected, uint64_t duration_ms,
                                 const std::string& why) {
                            on_ejection(endpoint_id, ejected, duration_ms, why);
                          }}) {
  topology_.set_health_source([this](const std::string& cluster, const std::string& address) {
    return checker_ ? checker_->verdict(cluster, address) : routing::HealthVerdict::kHealthy;
  });
}

void EndpointHealth::apply_config(const routing::Config& config,
                                  const routing::EndpointsByCluster& endpoints) {
  if (!checker_) return;
  outliers_.clear();
  std::unordered_set<std::string> wanted;
  for (const routing::ClusterConfig& cluster : config.clusters) {
    wanted.insert(cluster.name);
    apply_cluster(cluster, endpoints);
  }
  std::vector<std::string> gone;
  for (const auto& [name, check] : checks_) {
    if (!wanted.contains(name)) gone.push_back(name);
  }
  for (const std::string& name : gone)
    remove_cluster(name);
}

void EndpointHealth::apply_clusters(std::span<const routing::ClusterConfig* const> clusters,
                                    std::span<const std::string> removed,
                                    const routing::EndpointsByCluster& endpoints) {
  if (!checker_) return;
  for (const std::string& name : removed)
    remove_cluster(name);
  for (const routing::ClusterConfig* cluster : clusters)
    apply_cluster(*cluster, endpoints);
}

void EndpointHealth::apply_cluster(const routing::ClusterConfig& cluster,
                                   const routing::EndpointsByCluster& endpoints) {
  auto found = endpoints.find(cluster.name);
  const std::vector<routing::EndpointSpec>& given =
      found == endpoints.end() ? std::vector<routing::EndpointSpec>() : found->second;
  std::optional<routing::HealthCheckConfig> check = cluster.health_check;
  if (check && cluster.tls) check->tls = std::make_shared<routing::UpstreamTlsConfig>(*cluster.tls);
  if (check) check->http2 = cluster.http2;
  checker_->set_cluster(cluster.name, effective_check(cluster.name, check, !given.empty()), given);
  checks_[cluster.name] = std::move(check);
  outliers_[cluster.name] = cluster.outlier;
}

void EndpointHealth::remove_cluster(const std::string& name) {
  checker_->remove_cluster(name);
  checks_.erase(name);
  outliers_.erase(name);
  seeded_.erase(name);
}

void EndpointHealth::set_endpoints(const std::string& cluster,
                                   const std::vector<routing::EndpointSpec>& endpoints) {
  auto check = checks_.find(cluster);
  if (check == checks_.end() || !checker_) return;
  checker_->set_cluster(cluster, effective_check(cluster, check->second, !endpoints.empty()),
                        endpoints);
}

std::optional<routing::HealthCheckConfig> EndpointHealth::effective_check(
    const std::string& cluster, const std::optional<routing::HealthCheckConfig>& check,
    bool has_endpoints) {
  bool first = !seeded_.contains(cluster);
  if (has_endpoints) seeded_.insert(cluster);
  if (!check) return check;
  using Initial = routing::HealthCheckConfig::Initial;
  routing::HealthCheckConfig effective = *check;
  effective.start_healthy =
      check->initial == Initial::kHealthy || (first && check->initial == Initial::kDefault);
  return effective;
}

void EndpointHealth::on_verdict(const std::string& cluster, const std::string& address,
                                bool healthy) {
  if (healthy && topology_.has_cluster(cluster)) {
    // A passing check also ends an outlier ejection: the endpoint has shown it serves again.
    for (const routing::Host& host : topology_.host_set(cluster)->hosts) {
      if (host.address_text == address && topology_.ejected(host.endpoint_id)) {
        detector_.readmit(host.endpoint_id);
      }
    }
  }
  refresh({cluster});
}

void EndpointHealth::stop() {
  checker_.reset();
  detector_.stop();
}

void EndpointHealth::forget(const std::vector<uint32_t>& endpoint_ids) {
  for (uint32_t id : endpoint_ids)
    detector_.forget(id);
}

void EndpointHealth::on_event(const EndpointEvent& event) {
  using Kind = EndpointEvent::Kind;
  using Failure = health::OutlierDetector::Failure;
  switch (event.kind) {
    case Kind::kSuccess:
      detector_.on_success(event.endpoint_id, event.generation);
      return;
    case Kind::kServerError:
      detector_.on_failure(event.endpoint_id, event.generation, Failure::kServerError);
      return;
    case Kind::kConnectFailure:
    case Kind::kReset:
      // A reset is a gateway failure like a refused connect: the endpoint did not answer.
      detector_.on_failure(event.endpoint_id, event.generation, Failure::kConnectFailure);
      return;
    case Kind::kTimeout:
      detector_.on_failure(event.endpoint_id, event.generation, Failure::kTimeout);
      return;
  }
}

bool EndpointHealth::may_eject(uint32_t endpoint_id, uint32_t max_percent) const {
  if (max_percent == 0) return false;
  for (const std::string& name : topology_.clusters_of(endpoint_id)) {
    const auto& host_set = *topology_.host_set(name);
    size_t ejected = 0;
    for (const routing::Host& host : host_set.hosts)
      ejected += topology_.ejected(host.endpoint_id) ? 1 : 0;
    // An ejection may not take the ejected share above the cap: one endpoint of one is never
    // ejected (it would turn every request into a 503 for the whole ejection).
    size_t allowed = host_set.hosts.size() * max_percent / 100;
    if (ejected >= allowed) return false;
  }
  return true;
}

void EndpointHealth::on_ejection(uint32_t endpoint_id, bool ejected, uint64_t duration_ms,
                                 const std::string& why) {
  const routing::Host* host = topology_.find_host(endpoint_id);
  std::string address = host ? host->address_text : std::to_string(endpoint_id);
  if (ejected) {
    WG_LOG_WARN("outlier: endpoint %s ejected for %llu s (%s)", address.c_str(),
                static_cast<unsigned long long>((duration_ms + 999) / 1000), why.c_str());
  } else {
    WG_LOG_INFO("outlier: endpoint %s returns (%s)", address.c_str(), why.c_str());
  }
  std::vector<std::string> clusters = topology_.set_ejected(endpoint_id, ejected);
  if (ejected) {
    for (const std::string& cluster : clusters)
      ++ejections_[cluster];
  }
  refresh(clusters);
}

void EndpointHealth::refresh(const std::vector<std::string>& clusters) {
  if (!checker_) return;  // stopping
  routing::TopologyChanges changes;
  for (const std::string& name : clusters)
    topology_.refresh(name, changes);
  if (!changes.empty()) publish_(std::move(changes));
}

}  // namespace waygate::proxy
