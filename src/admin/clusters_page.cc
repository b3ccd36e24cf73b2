#include "admin/clusters_page.h"

#include "admin/json_writer.h"
#include "discovery/discovery_manager.h"
#include "proxy/server.h"
#include "proxy/worker.h"

namespace waygate::admin {
namespace {

std::string_view health_of(const routing::Topology& topology, const routing::Host& host) {
  if (topology.ejected(host.endpoint_id)) return "ejected";
  if (host.healthy) return "healthy";
  return host.proven ? "unhealthy" : "unproven";
}

void write_health_check(JsonWriter& out, const std::optional<routing::HealthCheckConfig>& check) {
  out.key("health_check");
  if (!check) {
    out.null();
    return;
  }
  bool http = check->kind == routing::HealthCheckConfig::Kind::kHttp;
  bool grpc = check->kind == routing::HealthCheckConfig::Kind::kGrpc;
  out.begin_object().member("kind", http ? "http" : grpc ? "grpc" : "tcp");
  if (grpc) out.member("service", check->grpc_service);
  if (http) out.member("path", check->path);
  out.member("interval_ms", check->interval_ms)
      .member("timeout_ms", check->timeout_ms)
      .member("healthy_threshold", check->healthy_threshold)
      .member("unhealthy_threshold", check->unhealthy_threshold)
      .end_object();
}

}  // namespace

std::string_view lb_policy_name(routing::LbPolicy policy) {
  switch (policy) {
    case routing::LbPolicy::kRoundRobin:
      return "round_robin";
    case routing::LbPolicy::kRandom:
      return "random";
    case routing::LbPolicy::kLeastRequest:
      return "least_request";
    case routing::LbPolicy::kRingHash:
      return "ring_hash";
    case routing::LbPolicy::kMaglev:
      return "maglev";
  }
  return "round_robin";
}

std::string render_clusters(const routing::Config& config, const proxy::Server& server,
                            const discovery::DiscoveryManager& discovery) {
  const routing::Topology& topology = server.topology();
  JsonWriter out;
  out.begin_object().key("clusters").begin_array();
  for (const routing::ClusterConfig& cluster : config.clusters) {
    const routing::HostSet* hosts =
        topology.has_cluster(cluster.name) ? topology.host_set(cluster.name).get() : nullptr;
    discovery::DiscoveryManager::SourceReport sources = discovery.report_sources(cluster.name);
    out.begin_object()
        .member("name", cluster.name)
        .member("lb", lb_policy_name(cluster.lb))
        .member("healthy", hosts ? hosts->healthy_count : 0u)
        .member("total", hosts ? hosts->hosts.size() : size_t{0})
        .member("panic", hosts && hosts->panic)
        .key("sources")
        .begin_array();
    for (const std::string& name : sources.names)
      out.value(name);
    out.end_array();
    write_health_check(out, cluster.health_check);
    out.key("endpoints").begin_array();
    if (hosts) {
      for (const routing::Host& host : hosts->hosts) {
        uint64_t active = 0;
        for (size_t w = 0; w < server.worker_count(); ++w)
          active += server.worker(w).active_requests_to(host.endpoint_id);
        auto source = sources.kind_by_address.find(host.address_text);
        out.begin_object()
            .member("address", host.address_text)
            .member("weight", host.weight)
            .member("health", health_of(topology, host))
            .member("healthy", host.healthy)
            .member("source",
                    source == sources.kind_by_address.end() ? "static" : source->second.c_str())
            .member("active_requests", active)
            .end_object();
      }
    }
    out.end_array().end_object();
  }
  out.end_array().end_object();
  return out.take();
}

}  // namespace waygate::admin
