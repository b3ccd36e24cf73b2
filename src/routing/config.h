// The validated configuration, as the YAML file states it (see docs/config.md). The control thread
// turns it into a Snapshot for the workers.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/log.h"
#include "core/socket_address.h"
#include "http/request_target.h"
#include "http/serialize.h"
#include "routing/access_log_format.h"
#include "routing/address_range.h"
#include "routing/shared_or_default.h"

namespace waygate::tls {
class ServerContext;
class ClientContext;
}  // namespace waygate::tls

namespace waygate::routing {

struct Timeouts {
  uint64_t header_read_ms = 10'000;
  uint64_t downstream_idle_ms = 60'000;
  uint64_t upstream_connect_ms = 5'000;
  uint64_t upstream_response_ms = 30'000;
  uint64_t upstream_idle_ms = 30'000;
  uint64_t drain_ms = 30'000;
  uint64_t tls_handshake_ms = 10'000;  // from accept until the TLS handshake is done
};

struct Limits {
  uint64_t max_header_bytes = 32 * 1024;
  uint64_t max_uri_bytes = 8 * 1024;
  uint64_t max_body_bytes = 0;  // 0: unlimited
  uint64_t max_connections_per_worker = 10'000;
  // 0: no fixed cap; as many idle connections are kept as were recently in use at once, and
  // timeouts.upstream_idle closes the rest.
  uint64_t max_idle_upstream_per_endpoint = 0;
  uint64_t max_request_headers = 100;  // more header fields: 431
  // Per worker and endpoint: connections open at once, idle and busy.
  uint64_t max_upstream_connections_per_endpoint = 4096;
  // Per worker and client address: connections open at once; more are closed at accept. 0: off.
  uint64_t max_connections_per_client = 0;
  // HTTP/2 (per connection): streams open at once, and each stream's receive window (how much of
  // a request body a client may send ahead of what the upstream has taken).
  uint64_t http2_max_concurrent_streams = 100;
  uint64_t http2_initial_window_bytes = 64 * 1024;
};

// A token bucket (see docs/config.md, "Rate limits"): `burst` requests at once, refilled at
// `requests_per_second`. Enforced by each worker on the requests it serves.
struct RateLimitConfig {
  double requests_per_second = 0;  // 0: no limit
  uint64_t burst = 0;
  bool enabled() const { return requests_per_second > 0; }
  bool operator==(const RateLimitConfig&) const = default;
};

// A listener's `tls:`. Paths are resolved against the config file's directory.
struct ListenerTlsConfig {
  std::vector<std::pair<std::string, std::string>> certificates;  // (cert, key); the first: default
  std::string min_version = "1.2";
  std::string ciphers;    // TLS 1.2 list; empty: the built-in modern list
  std::string client_ca;  // non-empty: clients present a certificate that chains to it
  bool client_cert_optional = false;
  uint64_t hsts_max_age_s = 0;  // 0: no Strict-Transport-Security header
  bool alpn_h2 = false;         // ALPN offers h2 before http/1.1 (the listener's `http2`)
  // Built from the files when the config was read, so a certificate that cannot serve is refused
  // with the config.
  std::shared_ptr<const tls::ServerContext> context;
  uint64_t files_hash = 0;  // of the bytes of the files the context was built from
};

// A certificate and its key in memory (a Kubernetes TLS Secret's), served by every TLS listener
// beside the listener's own. `name` stands for it in messages ("Secret shop/tls").
struct PemCertificate {
  std::string name;
  std::string cert_pem;
  std::string key_pem;
  bool operator==(const PemCertificate&) const = default;
};

// `access_log:`, at the top level (every listener's default) or on one listener.
struct AccessLogConfig {
  enum class Format : uint8_t { kText, kJson };
  std::string path = "stdout";  // stdout | stderr | off | a file
  Format format = Format::kText;
  std::string template_text;           // as written; empty: waygate's own line
  std::vector<AccessLogPiece> pieces;  // the template, parsed; empty: waygate's own line
  bool operator==(const AccessLogConfig&) const = default;
};

struct ListenerConfig {
  std::string name;
  std::string address_text;
  SocketAddress address;
  std::optional<ListenerTlsConfig> tls;
  std::optional<AccessLogConfig> access_log;  // none: the top-level one
  bool http2 = false;  // `http2`: h2 by ALPN on TLS (default on), h2c prior knowledge on plain
};

// A cluster's `tls:`: its endpoints speak TLS.
struct UpstreamTlsConfig {
  std::string sni;  // empty: the endpoint's host name (none for an IP literal)
  bool verify = true;
  std::string ca;  // empty: the system's roots
  std::string cert;
  std::string key;
  std::shared_ptr<const tls::ClientContext> context;
  // Of the settings and the files' bytes: endpoints pool their connections by it.
  uint64_t identity = 0;
};

// A header or query-parameter condition.
struct ValueMatcher {
  enum class Kind : uint8_t { kPresent, kAbsent, kExact, kRegex };
  std::string name;  // headers: lower-cased; query parameters: as written
  Kind kind = Kind::kPresent;
  std::string value;  // the exact value, or the RE2 pattern
};

struct WeightedCluster {
  std::string name;
  uint32_t weight = 1;
  bool operator==(const WeightedCluster&) const = default;
};

struct RedirectConfig {
  std::optional<std::string> scheme;
  std::optional<std::string> host;
  std::optional<uint16_t> port;
  std::optional<std::string> path;    // replaces the whole path
  std::optional<std::string> prefix;  // replaces the matched prefix
  uint16_t code = 301;
};

struct RespondConfig {
  uint16_t status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool operator==(const RespondConfig&) const = default;
};

// A route's retries. Without a `retry` key a route retries what is always safe: a connect that
// failed (nothing was sent) and a reset of a request that can be repeated.
struct RetryConfig {
  uint32_t attempts = 2;  // retries after the first try; 0: none
  std::vector<std::string> on = {"connect-failure", "reset"};
  uint64_t per_try_timeout_ms = 0;  // 0: each try may take the route's whole timeout
};

// A forwarding route's `rewrite:`.
struct RewriteConfig {
  std::optional<std::string> prefix;  // replaces the matched prefix
  std::optional<std::string> host;    // the Host sent upstream
};

// Protocols a client may switch to with `Upgrade:` (lower case); forwarding routes only.
struct UpgradesConfig {
  std::vector<std::string> protocols = {"websocket"};
};

// Conditions besides the path, which most paths leave out: all must hold.
struct RequestMatchers {
  std::vector<std::string> methods;  // upper case; empty: any
  std::vector<ValueMatcher> headers;
  std::vector<ValueMatcher> query;
  // `scheme: http | https`: only requests that came over a plain (false) or a TLS (true) listener.
  std::optional<bool> over_tls;
};

// `rate_limit:`: one bucket for every client of the path, and one per client address.
struct PathRateLimits {
  RateLimitConfig route;
  RateLimitConfig client;
};

// A path's own `timeout` and `max_body_bytes`, where it sets them (else the config's).
struct PathLimits {
  std::optional<uint64_t> timeout_ms;
  std::optional<uint64_t> max_body_bytes;
};

// What few paths set, each part apart (SharedOrDefault): a path that leaves a part alone shares
// the default, and paths whose parts are the same blocks share one PathExtras (see read_routes).
struct PathExtras {
  SharedOrDefault<std::string> name;  // `name:`, for the access log; empty: none given
  SharedOrDefault<RequestMatchers> matchers;
  // `allow_from:`: only clients in these ranges; others are answered 403. Empty: every client.
  SharedOrDefault<std::vector<AddressRange>> allow_from;
  SharedOrDefault<RedirectConfig> redirect;
  SharedOrDefault<RespondConfig> respond;
  SharedOrDefault<RewriteConfig> rewrite;
  SharedOrDefault<http::HeaderEdits> request_headers;
  SharedOrDefault<http::HeaderEdits> response_headers;
  SharedOrDefault<PathLimits> limits;
  SharedOrDefault<RetryConfig> retry;
  SharedOrDefault<UpgradesConfig> upgrades;
  SharedOrDefault<PathRateLimits> rate_limits;
};

struct PathConfig {
  enum class Match : uint8_t { kPrefix, kExact, kRegex };
  enum class Action : uint8_t { kForward, kRedirect, kRespond };

  // A config of 100,000 hosts holds several paths for each: what most paths leave out is one
  // pointer (extras), and paths that forward alike share their cluster list, so a path costs 56
  // bytes.
  std::string path;  // the prefix, exact path or regex
  // kForward: one entry for `cluster`, several for `clusters`.
  SharedOrDefault<std::vector<WeightedCluster>> clusters;
  SharedOrDefault<PathExtras> extras;
  Match match = Match::kPrefix;
  bool segments = false;
  Action action = Action::kForward;
};

struct RouteConfig {
  std::vector<std::string> hosts;
  std::vector<PathConfig> paths;
};

// One route entry's routes (a routes_dir file, an etcd key): shared by the entry's record and the
// route tables compiled from them, so that neither copies them.
using SharedRoutes = std::shared_ptr<const std::vector<RouteConfig>>;

// An endpoint as `endpoints:` lists it: an IP literal, or a host name resolved through DNS.
struct EndpointConfig {
  std::string address_text;  // as written: "10.0.0.7:8080", "[::1]:80", "api.internal:8080"
  SocketAddress address;     // for an IP literal
  std::string host;          // for a host name ("api.internal"); empty for a literal
  uint16_t port = 0;
  bool is_name() const { return !host.empty(); }
};

enum class DnsFamily : uint8_t { kAny, kIPv4, kIPv6 };

// Where DNS lookups go: a resolver address ("127.0.0.1:5353"), or the system's when empty.
struct DnsLookupConfig {
  std::string resolver;
  DnsFamily family = DnsFamily::kAny;
  uint64_t min_refresh_ms = 1'000;  // a record's TTL is clamped to [min, max] between lookups
  uint64_t max_refresh_ms = 300'000;
};

struct DnsSourceConfig {
  std::string name;  // A/AAAA records of this name
  uint16_t port = 0;
  DnsLookupConfig lookup;
};

struct SrvSourceConfig {
  std::string name;  // "_http._tcp.api.internal"
  DnsLookupConfig lookup;
};

struct FileSourceConfig {
  std::string path;  // resolved against the config file's directory
};

struct EtcdSourceConfig {
  std::vector<std::string> endpoints;  // "http://127.0.0.1:2379"
  std::string key;                     // the prefix (endpoints) or the key (routes)
};

// A Service's ready endpoints, from its EndpointSlices.
struct KubernetesSourceConfig {
  std::string namespace_name;  // "default"
  std::string service;         // "web"
  // The port: by the Service port's name, or by number (the endpoints' port, the Pods' own).
  // Neither: the slices' only port.
  std::string port_name;
  uint16_t port_number = 0;
  // "default/web:http", for logs and keys.
  std::string describe() const {
    std::string text = namespace_name + "/" + service;
    if (!port_name.empty()) return text + ":" + port_name;
    if (port_number != 0) return text + ":" + std::to_string(port_number);
    return text;
  }
};

struct DiscoveryConfig {
  std::vector<FileSourceConfig> files;
  std::vector<DnsSourceConfig> dns;
  std::vector<SrvSourceConfig> srv;
  std::vector<EtcdSourceConfig> etcd;
  std::vector<KubernetesSourceConfig> kubernetes;
  bool empty() const {
    return files.empty() && dns.empty() && srv.empty() && etcd.empty() && kubernetes.empty();
  }
};

// Active health checks of a cluster's endpoints (see docs/config.md, "Health checks").
struct HealthCheckConfig {
  // kGrpc: grpc.health.v1.Health/Check of `grpc_service` (clusters with protocol: http2).
  enum class Kind : uint8_t { kHttp, kTcp, kGrpc };
  Kind kind = Kind::kHttp;
  std::string grpc_service;  // empty: the server as a whole
  // HTTP checks: the request and what a passing answer looks like.
  std::string method = "GET";
  std::string path = "/";
  std::string host;  // the Host header; empty: the endpoint's address
  std::vector<std::pair<uint16_t, uint16_t>> expect = {{200, 399}};  // passing status ranges
  std::string body;  // a substring the body must contain; empty: any body
  uint64_t interval_ms = 5'000;
  uint64_t unhealthy_interval_ms = 0;  // while unhealthy; 0: the same as interval
  uint64_t timeout_ms = 2'000;
  uint32_t jitter_percent = 10;      // each wait is interval +- this share, so checks never march
  uint32_t healthy_threshold = 2;    // passes in a row that make an unhealthy host healthy
  uint32_t unhealthy_threshold = 3;  // failures in a row that make a healthy host unhealthy
  // `initial:` as configured. By default an endpoint known when waygate starts counts healthy
  // (and is checked at once), one that joins a running cluster unhealthy until it passes.
  enum class Initial : uint8_t { kDefault, kHealthy, kUnhealthy };
  Initial initial = Initial::kDefault;
  // The state a new endpoint starts in, as the checker applies it (the server fills it in).
  bool start_healthy = false;
  // The cluster's upstream TLS, which its checks speak too (the server fills it in).
  std::shared_ptr<const UpstreamTlsConfig> tls;
  // The cluster's `protocol: http2`: HTTP checks go as HTTP/2 too (the server fills it in).
  bool http2 = false;
};

// Passive health: endpoints that fail requests are ejected for a while (see "Outlier detection").
struct OutlierConfig {
  uint32_t consecutive_5xx = 0;  // 0: off
  uint32_t consecutive_connect_failures = 3;
  uint32_t consecutive_timeouts = 3;
  uint64_t base_ejection_ms = 30'000;  // multiplied by the number of times it was ejected
  uint64_t max_ejection_ms = 300'000;
  uint32_t max_ejection_percent = 50;  // of a cluster's endpoints at once
  bool enabled = true;
};

enum class LbPolicy : uint8_t { kRoundRobin, kRandom, kLeastRequest, kRingHash, kMaglev };

// Where ring_hash and maglev take a request's key from.
struct HashOnConfig {
  enum class Kind : uint8_t { kNone, kHeader, kCookie, kClientAddress };
  Kind kind = Kind::kNone;
  std::string name;  // the header or cookie
};

// Cookie-based sticky sessions: a client keeps the endpoint it was first sent to.
struct StickyConfig {
  std::string cookie;   // empty: no sticky sessions
  uint64_t ttl_ms = 0;  // the cookie's Max-Age; 0: a session cookie
};

// Per worker: more is answered 503 at once.
struct CircuitBreakers {
  uint64_t max_requests = 10'000;  // requests in flight to the cluster
  uint64_t max_pending = 1'024;    // requests waiting for a connection
  // Upstream connections opened for the cluster; by default only the per-endpoint cap applies.
  uint64_t max_connections = UINT64_MAX;
};

struct ClusterConfig {
  std::string name;
  std::vector<EndpointConfig> endpoints;
  DiscoveryConfig discovery;
  LbPolicy lb = LbPolicy::kRoundRobin;
  HashOnConfig hash_on;
  StickyConfig sticky;
  std::optional<HealthCheckConfig> health_check;
  OutlierConfig outlier;
  CircuitBreakers circuit_breakers;
  std::optional<UpstreamTlsConfig> tls;
  uint32_t panic_threshold_percent = 50;  // below this share of healthy hosts, use them all
  bool http2 = false;                     // `protocol: http2`: requests go upstream as HTTP/2
};

struct AdminConfig {
  std::string address_text;  // empty: no admin listener
  SocketAddress address;
  // Admin requests must carry it (`Authorization: Bearer`); empty: no token, loopback only. A
  // secret: never shown by GET /config nor written to a log.
  std::string token;
  std::string token_file;  // where the token was read from (resolved); empty: written inline
};

// `routes_source: { kubernetes: ... }`: routes from the Ingresses of one IngressClass, the
// HTTPRoutes of the Gateways of one GatewayClass, or both.
struct IngressSourceConfig {
  std::string ingress_class;   // "waygate"; empty: no Ingresses
  std::string namespace_name;  // empty: every namespace
  // These two are initialised, so that {class, namespace} still initialises the rest.
  // Written into the status.loadBalancer.ingress of the Ingresses routed: an IP address or a host
  // name; empty: no status is written.
  std::string publish_address = {};
  std::string gateway_class = {};  // "waygate"; empty: no Gateway API objects
  bool operator==(const IngressSourceConfig&) const = default;
};

// The top-level `kubernetes:`: how to reach the API server.
struct KubernetesConfig {
  std::string kubeconfig;  // resolved path; empty: in-cluster (the Pod's service account)
};

struct Config {
  unsigned workers = 0;  // 0: one per core
  AdminConfig admin;
  std::string dns_resolver;  // the default resolver for every lookup; empty: the system's
  std::optional<EtcdSourceConfig> routes_source;  // routes (and clusters) kept in one etcd key
  // Or route entries kept one per etcd key under a prefix (`routes_source.etcd.prefix`), each
  // validated alone like a routes_dir file (see routing/route_entries.h).
  std::optional<EtcdSourceConfig> routes_prefix;
  std::optional<IngressSourceConfig> ingress_source;  // or made from Kubernetes Ingresses
  // The certificates the routes_source gave (ConfigSource::certificates), while it is read.
  std::vector<PemCertificate> source_certificates;
  KubernetesConfig kubernetes;
  std::string routes_dir;  // `routes_dir:`, resolved; empty: none (see routing/route_entries.h)
  AccessLogConfig access_log;
  LogLevel log_level = LogLevel::kInfo;
  Timeouts timeouts;
  Limits limits;
  http::PathOptions normalize_paths;
  std::vector<ListenerConfig> listeners;
  std::vector<RouteConfig> routes;
  std::vector<ClusterConfig> clusters;
  // Every certificate, key and CA file the config names: a change to one reloads the config.
  std::vector<std::string> tls_files;
};

// Host patterns or cluster names already claimed, with who claims them (a file's name as messages
// show it): another document may not claim them again.
using NameOwners = std::unordered_map<std::string, std::string>;

// The names claimed elsewhere, in one or several NameOwners (looked up without merging them).
struct NameClaims {
  std::vector<const NameOwners*> maps;
  // Who claims `name` other than `self`, or nullptr.
  const std::string* owner(const std::string& name, const std::string& self) const {
    for (const NameOwners* map : maps) {
      auto found = map->find(name);
      if (found != map->end() && found->second != self) return &found->second;
    }
    return nullptr;
  }
};

// What the extra document a config's routes_source gives is called in messages: "etcd:KEY",
// "kubernetes:ingresses/CLASS" (or ".../CLASS@NAMESPACE"); empty without a routes_source.
inline std::string routes_source_name(const Config& config) {
  if (config.routes_source) return "etcd:" + config.routes_source->key;
  if (!config.ingress_source) return "";
  const IngressSourceConfig& source = *config.ingress_source;
  std::string name = "kubernetes:";
  if (!source.ingress_class.empty()) name += "ingresses/" + source.ingress_class;
  if (!source.ingress_class.empty() && !source.gateway_class.empty()) name += ",";
  if (!source.gateway_class.empty()) name += "gateways/" + source.gateway_class;
  if (!config.ingress_source->namespace_name.empty()) {
    name += "@" + config.ingress_source->namespace_name;
  }
  return name;
}

}  // namespace waygate::routing
