#include "admin/metrics_page.h"

#include <algorithm>
#include <array>
#include <map>
#include <string_view>
#include <vector>

#include "admin/prometheus_text.h"
#include "proxy/server.h"
#include "proxy/worker.h"
#include "proxy/worker_metrics.h"

namespace waygate::admin {
namespace {

using proxy::ClusterCounters;
using proxy::kLatencyBounds;
using proxy::read;

constexpr std::array<std::string_view, ClusterCounters::kCodeClasses> kCodeClassNames = {
    "1xx", "2xx", "3xx", "4xx", "5xx"};

// The reason the access log gives a refusal with this status.
constexpr std::array<std::string_view, proxy::kRejectionStatuses.size()> kRejectionReasons = {
    "malformed",         "header-timeout",  "body-too-large",       "uri-too-long",
    "headers-too-large", "not-implemented", "version-not-supported"};

// By http::ServerConnection::HandshakeFailure.
constexpr std::array<std::string_view, 3> kHandshakeFailureReasons = {"failed", "timeout",
                                                                      "plaintext-http"};

struct HistogramSum {
  std::array<uint64_t, kLatencyBounds.size() + 1> counts{};
  uint64_t sum_ns = 0;

  void add(const proxy::LatencyHistogram& histogram) {
    for (size_t i = 0; i < counts.size(); ++i)
      counts[i] += read(histogram.buckets[i]);
    sum_ns += read(histogram.sum_ns);
  }
};

// Per (cluster slot, listener slot, class), per cluster slot and per (route slot, class), summed
// over the workers.
struct ClusterSums {
  uint32_t clusters = 0;
  uint32_t listeners = 0;
  uint32_t routes = 0;
  std::vector<uint64_t> requests, retries, overflows, route_requests;

  void add(const ClusterCounters& table) {
    // Tables only grow, so the first worker's sizes may be smaller than another's.
    if (table.clusters > clusters || table.listeners > listeners || table.routes > routes) {
      resize(table);
    }
    for (uint32_t r = 0; r < table.routes; ++r) {
      for (size_t k = 0; k < ClusterCounters::kCodeClasses; ++k) {
        route_requests[size_t{r} * ClusterCounters::kCodeClasses + k] += read(
            table.at(table.route_cells_start() + size_t{r} * ClusterCounters::kCodeClasses + k));
      }
    }
    for (uint32_t c = 0; c < table.clusters; ++c) {
      for (uint32_t l = 0; l < table.listeners; ++l) {
        for (size_t k = 0; k < ClusterCounters::kCodeClasses; ++k) {
          requests[index(c, l, k)] +=
              read(table.at((size_t{c} * table.listeners + l) * ClusterCounters::kCodeClasses + k));
        }
      }
      retries[c] += read(table.at(table.request_cells() + c));
      overflows[c] += read(table.at(table.request_cells() + table.clusters + c));
    }
  }
  size_t index(uint32_t cluster, uint32_t listener, size_t code_class) const {
    return (size_t{cluster} * listeners + listener) * ClusterCounters::kCodeClasses + code_class;
  }
  void resize(const ClusterCounters& table) {
    ClusterSums grown;
    grown.clusters = std::max(clusters, table.clusters);
    grown.listeners = std::max(listeners, table.listeners);
    grown.routes = std::max(routes, table.routes);
    grown.route_requests.assign(size_t{grown.routes} * ClusterCounters::kCodeClasses, 0);
    std::copy(route_requests.begin(), route_requests.end(), grown.route_requests.begin());
    grown.requests.assign(size_t{grown.clusters} * grown.listeners * ClusterCounters::kCodeClasses,
                          0);
    grown.retries.assign(grown.clusters, 0);
    grown.overflows.assign(grown.clusters, 0);
    for (uint32_t c = 0; c < clusters; ++c) {
      for (uint32_t l = 0; l < listeners; ++l) {
        for (size_t k = 0; k < ClusterCounters::kCodeClasses; ++k) {
          grown.requests[grown.index(c, l, k)] = requests[index(c, l, k)];
        }
      }
      grown.retries[c] = retries[c];
      grown.overflows[c] = overflows[c];
    }
    *this = std::move(grown);
  }
};

}  // namespace

std::string render_metrics(const proxy::Server& server, const ReloadStats& reloads,
                           const DiscoveryStats& discovery) {
  uint64_t downstream_active = 0, downstream_total = 0, upstream_active = 0, upstream_total = 0;
  uint64_t request_bytes = 0, response_bytes = 0;
  std::array<uint64_t, proxy::kRejectionStatuses.size()> rejected{};
  std::array<uint64_t, 3> handshake_failures{};
  std::array<uint64_t, 2> rate_limited{}, refused_connections{};
  uint64_t accept_pauses = 0;
  HistogramSum upstream_response, request_duration;
  ClusterSums sums;
  for (size_t w = 0; w < server.worker_count(); ++w) {
    const proxy::WorkerMetrics& metrics = server.worker(w).metrics();
    downstream_active += read(metrics.downstream_active);
    downstream_total += read(metrics.downstream_total);
    upstream_active += read(metrics.upstream_active);
    upstream_total += read(metrics.upstream_total);
    request_bytes += read(metrics.request_bytes);
    response_bytes += read(metrics.response_bytes);
    for (size_t i = 0; i < rejected.size(); ++i)
      rejected[i] += read(metrics.rejected[i]);
    for (size_t i = 0; i < handshake_failures.size(); ++i)
      handshake_failures[i] += read(metrics.tls_handshake_failures[i]);
    for (size_t i = 0; i < rate_limited.size(); ++i) {
      rate_limited[i] += read(metrics.rate_limited[i]);
      refused_connections[i] += read(metrics.refused_connections[i]);
    }
    accept_pauses += read(metrics.accept_pauses);
    upstream_response.add(metrics.upstream_response);
    request_duration.add(metrics.request_duration);
    if (const ClusterCounters* table = metrics.current()) sums.add(*table);
  }

  // Cluster names by slot, as the running routes know them; a slot no cluster has now is left out.
  std::vector<std::string_view> cluster_names(sums.clusters);
  std::vector<bool> named(sums.clusters, false);
  if (sums.clusters > 0) named[0] = true;  // "": answers waygate gave itself
  if (const routing::Snapshot* snapshot = server.snapshot()) {
    for (const routing::ClusterInfo& cluster : snapshot->clusters) {
      if (!cluster.removed() && cluster.id + 1 < sums.clusters) {
        cluster_names[cluster.id + 1] = cluster.name;
        named[cluster.id + 1] = true;
      }
    }
  }
  const std::vector<std::string>& listener_names = server.listener_names();

  PrometheusText out;
  out.family("waygate_requests_total", "counter",
             "Requests answered, by listener, cluster (empty: answered by waygate itself) and "
             "status class.");
  for (uint32_t c = 0; c < sums.clusters; ++c) {
    if (!named[c]) continue;
    for (uint32_t l = 0; l < sums.listeners && l < listener_names.size(); ++l) {
      for (size_t k = 0; k < ClusterCounters::kCodeClasses; ++k) {
        uint64_t count = sums.requests[sums.index(c, l, k)];
        // 1xx is rare (protocol switches): written only once it has happened.
        if (k == 0 && count == 0) continue;
        out.sample("waygate_requests_total",
                   {{"listener", listener_names[l]},
                    {"cluster", cluster_names[c]},
                    {"code_class", kCodeClassNames[k]}},
                   count);
      }
    }
  }
  out.family("waygate_route_requests_total", "counter",
             "Requests answered by routes that have a name, by route and status class.");
  if (const routing::Snapshot* snapshot = server.snapshot()) {
    for (const auto& [slot, name] : snapshot->routes.named_routes()) {
      if (slot >= sums.routes) continue;  // no worker has counted under it yet
      for (size_t k = 0; k < ClusterCounters::kCodeClasses; ++k) {
        uint64_t count = sums.route_requests[size_t{slot} * ClusterCounters::kCodeClasses + k];
        if (k == 0 && count == 0) continue;
        out.sample("waygate_route_requests_total",
                   {{"route", name}, {"code_class", kCodeClassNames[k]}}, count);
      }
    }
  }
  out.family("waygate_rejected_requests_total", "counter",
             "Requests the parser refused, by the reason the access log gives.");
  for (size_t i = 0; i < rejected.size(); ++i) {
    out.sample("waygate_rejected_requests_total", {{"reason", kRejectionReasons[i]}}, rejected[i]);
  }
  out.family("waygate_tls_handshake_failures_total", "counter",
             "TLS connections closed before their handshake was done, by reason.");
  for (size_t i = 0; i < handshake_failures.size(); ++i) {
    out.sample("waygate_tls_handshake_failures_total", {{"reason", kHandshakeFailureReasons[i]}},
               handshake_failures[i]);
  }
  out.family("waygate_retries_total", "counter", "Retries taken, by cluster.");
  for (uint32_t c = 1; c < sums.clusters; ++c) {
    if (named[c])
      out.sample("waygate_retries_total", {{"cluster", cluster_names[c]}}, sums.retries[c]);
  }
  out.family("waygate_overflows_total", "counter",
             "Requests answered 503 because a circuit breaker was open, by cluster.");
  for (uint32_t c = 1; c < sums.clusters; ++c) {
    if (named[c]) {
      out.sample("waygate_overflows_total", {{"cluster", cluster_names[c]}}, sums.overflows[c]);
    }
  }
  out.family("waygate_rate_limited_requests_total", "counter",
             "Requests answered 429 by a route's rate_limit, by the bucket that was empty.");
  out.sample("waygate_rate_limited_requests_total", {{"scope", "route"}}, rate_limited[0]);
  out.sample("waygate_rate_limited_requests_total", {{"scope", "client"}}, rate_limited[1]);
  out.family("waygate_refused_connections_total", "counter",
             "Client connections closed at accept, by the limit they were over.");
  out.sample("waygate_refused_connections_total", {{"limit", "max_connections_per_client"}},
             refused_connections[0]);
  out.sample("waygate_refused_connections_total", {{"limit", "max_connections_per_worker"}},
             refused_connections[1]);
  out.family("waygate_accept_pauses_total", "counter",
             "Times a worker stopped accepting because file descriptors ran out.");
  out.sample("waygate_accept_pauses_total", {}, accept_pauses);
  out.family("waygate_downstream_connections_active", "gauge", "Client connections open.");
  out.sample("waygate_downstream_connections_active", {}, downstream_active);
  out.family("waygate_downstream_connections_total", "counter", "Client connections accepted.");
  out.sample("waygate_downstream_connections_total", {}, downstream_total);
  out.family("waygate_upstream_connections_active", "gauge", "Upstream connections open.");
  out.sample("waygate_upstream_connections_active", {}, upstream_active);
  out.family("waygate_upstream_connections_total", "counter", "Upstream connections opened.");
  out.sample("waygate_upstream_connections_total", {}, upstream_total);
  out.family("waygate_request_bytes_total", "counter",
             "Bytes of requests received: heads and bodies.");
  out.sample("waygate_request_bytes_total", {}, request_bytes);
  out.family("waygate_response_bytes_total", "counter", "Bytes of response bodies sent.");
  out.sample("waygate_response_bytes_total", {}, response_bytes);
  out.family("waygate_upstream_response_seconds", "histogram",
             "From a request head sent upstream to the response head received.");
  out.histogram("waygate_upstream_response_seconds", {}, kLatencyBounds, upstream_response.counts,
                static_cast<double>(upstream_response.sum_ns) / 1e9);
  out.family("waygate_request_duration_seconds", "histogram",
             "From a request head's arrival to the end of its response.");
  out.histogram("waygate_request_duration_seconds", {}, kLatencyBounds, request_duration.counts,
                static_cast<double>(request_duration.sum_ns) / 1e9);
  out.family("waygate_event_loop_lag_seconds", "gauge",
             "The longest a worker's event loop was late running a timer, since it started.");
  for (size_t w = 0; w < server.worker_count(); ++w) {
    std::string worker = std::to_string(w);
    out.sample("waygate_event_loop_lag_seconds", {{"worker", worker}},
               static_cast<double>(server.worker(w).max_loop_lag_us()) / 1e6);
  }
  out.family("waygate_reloads_total", "counter", "Config reloads, by result.");
  out.sample("waygate_reloads_total", {{"result", "applied"}}, reloads.applied);
  out.sample("waygate_reloads_total", {{"result", "refused"}}, reloads.refused);
  out.family("waygate_last_reload_duration_seconds", "gauge",
             "How long the last reload that applied or was refused took.");
  out.sample("waygate_last_reload_duration_seconds", {}, reloads.last_duration_seconds);
  out.family("waygate_discovery_updates_total", "counter",
             "Endpoint sets a discovery source changed, by cluster and kind of source.");
  for (const auto& [key, count] : discovery.updates) {
    out.sample("waygate_discovery_updates_total", {{"cluster", key.first}, {"source", key.second}},
               count);
  }
  out.family("waygate_discovery_delay_seconds", "histogram",
             "From a discovery change reaching waygate to every worker routing by it.");
  for (const auto& [kind, delay] : discovery.delays) {
    out.histogram("waygate_discovery_delay_seconds", {{"source", kind}}, kLatencyBounds,
                  delay.buckets, static_cast<double>(delay.sum_ns) / 1e9);
  }
  out.family("waygate_outlier_ejections_total", "counter",
             "Endpoints outlier detection ejected, by cluster.");
  if (const routing::Snapshot* snapshot = server.snapshot()) {
    const std::map<std::string, uint64_t>& ejections = server.endpoint_health().ejections();
    for (const routing::ClusterInfo& cluster : snapshot->clusters) {
      if (cluster.removed()) continue;
      auto found = ejections.find(cluster.name);
      out.sample("waygate_outlier_ejections_total", {{"cluster", cluster.name}},
                 found == ejections.end() ? uint64_t{0} : found->second);
    }
  }
  out.family("waygate_endpoint_healthy", "gauge",
             "1 when an endpoint passes its health checks and is not ejected, else 0.");
  server.topology().for_each_cluster([&](const std::string& name, const routing::HostSet* hosts) {
    if (!hosts) return;
    for (const routing::Host& host : hosts->hosts) {
      out.sample("waygate_endpoint_healthy", {{"cluster", name}, {"endpoint", host.address_text}},
                 uint64_t{host.healthy ? 1u : 0u});
    }
  });
  return out.text();
}

}  // namespace waygate::admin
