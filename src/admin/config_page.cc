#include "admin/config_page.h"

#include "admin/clusters_page.h"
#include "admin/json_writer.h"
#include "admin/routes_page.h"
#include "core/log.h"

namespace waygate::admin {
namespace {

using routing::HealthCheckConfig;

void write_admin(JsonWriter& out, const routing::AdminConfig& admin) {
  out.key("admin").begin_object().member("address", admin.address_text).key("token");
  if (admin.token.empty()) {
    out.null();
  } else {
    out.value(kRedacted);
  }
  if (!admin.token_file.empty()) out.member("token_file", admin.token_file);
  out.end_object();
}

void write_timeouts(JsonWriter& out, const routing::Timeouts& timeouts) {
  out.key("timeouts")
      .begin_object()
      .member("header_read_ms", timeouts.header_read_ms)
      .member("downstream_idle_ms", timeouts.downstream_idle_ms)
      .member("upstream_connect_ms", timeouts.upstream_connect_ms)
      .member("upstream_response_ms", timeouts.upstream_response_ms)
      .member("upstream_idle_ms", timeouts.upstream_idle_ms)
      .member("drain_ms", timeouts.drain_ms)
      .member("tls_handshake_ms", timeouts.tls_handshake_ms)
      .end_object();
}

void write_limits(JsonWriter& out, const routing::Limits& limits) {
  out.key("limits")
      .begin_object()
      .member("max_header_bytes", limits.max_header_bytes)
      .member("max_uri_bytes", limits.max_uri_bytes)
      .member("max_body_bytes", limits.max_body_bytes)
      .member("max_connections_per_worker", limits.max_connections_per_worker)
      .member("max_idle_upstream_per_endpoint", limits.max_idle_upstream_per_endpoint)
      .member("max_request_headers", limits.max_request_headers)
      .member("max_upstream_connections_per_endpoint", limits.max_upstream_connections_per_endpoint)
      .member("max_connections_per_client", limits.max_connections_per_client)
      .end_object();
}

void write_normalize_paths(JsonWriter& out, const http::PathOptions& options) {
  std::string_view escaped = "reject";
  if (options.escaped_slashes == http::EscapedSlashes::kKeep) escaped = "keep";
  if (options.escaped_slashes == http::EscapedSlashes::kUnescape) escaped = "unescape";
  out.key("normalize_paths")
      .begin_object()
      .member("merge_slashes", options.merge_slashes)
      .member("escaped_slashes", escaped)
      .end_object();
}

void write_etcd(JsonWriter& out, const routing::EtcdSourceConfig& etcd, std::string_view key) {
  out.begin_object();
  out.key("endpoints").array_of(etcd.endpoints);
  out.member(key, etcd.key).end_object();
}

void write_access_log(JsonWriter& out, const routing::AccessLogConfig& log) {
  out.key("access_log")
      .begin_object()
      .member("path", log.path)
      .member("format", log.format == routing::AccessLogConfig::Format::kJson ? "json" : "text");
  out.key("template");
  if (log.template_text.empty()) {
    out.null();
  } else {
    out.value(log.template_text);
  }
  out.end_object();
}

void write_listeners(JsonWriter& out, const std::vector<routing::ListenerConfig>& listeners) {
  out.key("listeners").begin_array();
  for (const routing::ListenerConfig& listener : listeners) {
    out.begin_object().member("name", listener.name).member("address", listener.address_text);
    if (listener.access_log) write_access_log(out, *listener.access_log);
    out.key("tls");
    if (!listener.tls) {
      out.null().end_object();
      continue;
    }
    const routing::ListenerTlsConfig& tls = *listener.tls;
    out.begin_object().key("certificates").begin_array();
    for (const auto& [cert, key] : tls.certificates)
      out.begin_object().member("cert", cert).member("key", key).end_object();
    out.end_array()
        .member("min_version", tls.min_version)
        .member("ciphers", tls.ciphers)
        .member("client_ca", tls.client_ca);
    out.key("client_cert");
    if (tls.client_ca.empty()) {
      out.null();
    } else {
      out.value(tls.client_cert_optional ? "optional" : "required");
    }
    out.member("hsts_max_age_s", tls.hsts_max_age_s).end_object().end_object();
  }
  out.end_array();
}

void write_lookup(JsonWriter& out, const routing::DnsLookupConfig& lookup) {
  std::string_view family = "any";
  if (lookup.family == routing::DnsFamily::kIPv4) family = "ipv4";
  if (lookup.family == routing::DnsFamily::kIPv6) family = "ipv6";
  out.member("resolver", lookup.resolver)
      .member("family", family)
      .member("min_refresh_ms", lookup.min_refresh_ms)
      .member("max_refresh_ms", lookup.max_refresh_ms);
}

void write_discovery(JsonWriter& out, const routing::DiscoveryConfig& discovery) {
  out.key("discovery").begin_object().key("file").begin_array();
  for (const routing::FileSourceConfig& file : discovery.files)
    out.begin_object().member("path", file.path).end_object();
  out.end_array().key("dns").begin_array();
  for (const routing::DnsSourceConfig& dns : discovery.dns) {
    out.begin_object().member("name", dns.name).member("port", dns.port);
    write_lookup(out, dns.lookup);
    out.end_object();
  }
  out.end_array().key("srv").begin_array();
  for (const routing::SrvSourceConfig& srv : discovery.srv) {
    out.begin_object().member("name", srv.name);
    write_lookup(out, srv.lookup);
    out.end_object();
  }
  out.end_array().key("etcd").begin_array();
  for (const routing::EtcdSourceConfig& etcd : discovery.etcd)
    write_etcd(out, etcd, "prefix");
  out.end_array().key("kubernetes").begin_array();
  for (const routing::KubernetesSourceConfig& service : discovery.kubernetes) {
    out.begin_object()
        .member("service", service.namespace_name + "/" + service.service)
        .key("port");
    if (!service.port_name.empty()) {
      out.value(service.port_name);
    } else if (service.port_number != 0) {
      out.value(uint64_t{service.port_number});
    } else {
      out.null();
    }
    out.end_object();
  }
  out.end_array().end_object();
}

void write_health_check(JsonWriter& out, const std::optional<HealthCheckConfig>& check) {
  out.key("health_check");
  if (!check) {
    out.null();
    return;
  }
  bool http = check->kind == HealthCheckConfig::Kind::kHttp;
  bool grpc = check->kind == HealthCheckConfig::Kind::kGrpc;
  out.begin_object().member("kind", http ? "http" : grpc ? "grpc" : "tcp");
  if (grpc) out.member("service", check->grpc_service);
  if (http) {
    out.member("method", check->method).member("path", check->path).member("host", check->host);
    out.key("expect").begin_array();
    for (const auto& [low, high] : check->expect) {
      out.value(low == high ? std::to_string(low)
                            : std::to_string(low) + "-" + std::to_string(high));
    }
    out.end_array().member("body", check->body);
  }
  std::string_view initial = "default";
  if (check->initial == HealthCheckConfig::Initial::kHealthy) initial = "healthy";
  if (check->initial == HealthCheckConfig::Initial::kUnhealthy) initial = "unhealthy";
  out.member("interval_ms", check->interval_ms)
      .member("unhealthy_interval_ms",
              check->unhealthy_interval_ms ? check->unhealthy_interval_ms : check->interval_ms)
      .member("timeout_ms", check->timeout_ms)
      .member("jitter_percent", check->jitter_percent)
      .member("healthy_threshold", check->healthy_threshold)
      .member("unhealthy_threshold", check->unhealthy_threshold)
      .member("initial", initial)
      .end_object();
}

void write_outlier(JsonWriter& out, const routing::OutlierConfig& outlier) {
  out.key("outlier_detection")
      .begin_object()
      .member("enabled", outlier.enabled)
      .member("consecutive_5xx", outlier.consecutive_5xx)
      .member("consecutive_connect_failures", outlier.consecutive_connect_failures)
      .member("consecutive_timeouts", outlier.consecutive_timeouts)
      .member("base_ejection_ms", outlier.base_ejection_ms)
      .member("max_ejection_ms", outlier.max_ejection_ms)
      .member("max_ejection_percent", outlier.max_ejection_percent)
      .end_object();
}

void write_hash_on(JsonWriter& out, const routing::HashOnConfig& hash_on) {
  out.key("hash_on");
  switch (hash_on.kind) {
    case routing::HashOnConfig::Kind::kNone:
      out.null();
      return;
    case routing::HashOnConfig::Kind::kHeader:
      out.begin_object().member("header", hash_on.name).end_object();
      return;
    case routing::HashOnConfig::Kind::kCookie:
      out.begin_object().member("cookie", hash_on.name).end_object();
      return;
    case routing::HashOnConfig::Kind::kClientAddress:
      out.begin_object().member("client_address", true).end_object();
      return;
  }
}

void write_cluster(JsonWriter& out, const routing::ClusterConfig& cluster) {
  out.begin_object().member("name", cluster.name).member("lb", lb_policy_name(cluster.lb));
  write_hash_on(out, cluster.hash_on);
  out.key("sticky");
  if (cluster.sticky.cookie.empty()) {
    out.null();
  } else {
    out.begin_object()
        .member("cookie", cluster.sticky.cookie)
        .member("ttl_ms", cluster.sticky.ttl_ms)
        .end_object();
  }
  out.key("endpoints").begin_array();
  for (const routing::EndpointConfig& endpoint : cluster.endpoints)
    out.value(endpoint.address_text);
  out.end_array();
  write_discovery(out, cluster.discovery);
  write_health_check(out, cluster.health_check);
  write_outlier(out, cluster.outlier);
  out.member("panic_threshold_percent", cluster.panic_threshold_percent);
  out.member("protocol", std::string_view(cluster.http2 ? "http2" : "http1"));
  const routing::CircuitBreakers& breakers = cluster.circuit_breakers;
  out.key("circuit_breakers")
      .begin_object()
      .member("max_requests", breakers.max_requests)
      .member("max_pending", breakers.max_pending)
      .key("max_connections");
  if (breakers.max_connections == UINT64_MAX) {
    out.null();  // no cap but the per-endpoint one
  } else {
    out.value(breakers.max_connections);
  }
  out.end_object().key("tls");
  if (!cluster.tls) {
    out.null();
  } else {
    out.begin_object()
        .member("sni", cluster.tls->sni)
        .member("verify", cluster.tls->verify)
        .member("ca", cluster.tls->ca)
        .member("cert", cluster.tls->cert)
        .member("key", cluster.tls->key)
        .end_object();
  }
  out.end_object();
}

}  // namespace

std::string render_config(std::string_view path, std::string_view loaded_at,
                          const routing::Config& config, size_t workers,
                          std::span<const routing::SharedRoutes> entries) {
  JsonWriter out;
  out.begin_object()
      .member("path", path)
      .member("loaded_at", loaded_at)
      .key("config")
      .begin_object()
      .member("workers", workers);
  write_admin(out, config.admin);
  write_access_log(out, config.access_log);
  out.member("log_level", log_level_name(config.log_level));
  write_timeouts(out, config.timeouts);
  write_limits(out, config.limits);
  write_normalize_paths(out, config.normalize_paths);
  out.key("dns").begin_object().member("resolver", config.dns_resolver).end_object();
  out.key("kubernetes").begin_object().key("kubeconfig");
  if (config.kubernetes.kubeconfig.empty()) {
    out.null();
  } else {
    out.value(config.kubernetes.kubeconfig);
  }
  out.end_object();
  out.key("routes_source");
  if (config.routes_source || config.routes_prefix) {
    out.begin_object().key("etcd");
    if (config.routes_source) {
      write_etcd(out, *config.routes_source, "key");
    } else {
      write_etcd(out, *config.routes_prefix, "prefix");
    }
    out.end_object();
  } else {
    out.null();
  }
  out.key("routes_dir");
  if (config.routes_dir.empty()) {
    out.null();
  } else {
    out.value(config.routes_dir);
  }
  write_listeners(out, config.listeners);
  out.key("routes");
  write_routes(out, config.routes, entries);
  out.key("clusters").begin_array();
  for (const routing::ClusterConfig& cluster : config.clusters)
    write_cluster(out, cluster);
  out.end_array().end_object().end_object();
  return out.take();
}

}  // namespace waygate::admin
