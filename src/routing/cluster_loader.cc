#include "routing/cluster_loader.h"

#include <charconv>
#include <filesystem>

#include "core/socket_address.h"
#include "http/field_syntax.h"
#include "routing/tls_loader.h"

namespace waygate::routing {
namespace {

// A DNS name as RFC 1123 allows it (letters, digits, hyphens, dots; underscores too, which SRV
// names and some internal zones use), at most 253 characters, no empty label.
bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  if (name.back() == '.') name.remove_suffix(1);
  size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

std::optional<EndpointConfig> parse_endpoint(const std::string& text) {
  if (auto address = parse_socket_address(text)) {
    return EndpointConfig{text, *address, "", socket_port(address->storage)};
  }
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || text.front() == '[') return std::nullopt;
  std::string_view host = std::string_view(text).substr(0, colon);
  std::string_view port_text = std::string_view(text).substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return std::nullopt;
  }
  // A name made only of digits and dots is a mistyped IPv4 address, not a host name.
  if (host.find_first_not_of("0123456789.") == std::string_view::npos) return std::nullopt;
  if (!is_dns_name(host)) return std::nullopt;
  return EndpointConfig{text, SocketAddress{}, std::string(host), static_cast<uint16_t>(port)};
}

// A source's value: one map, or a list of maps.
std::vector<yaml::Node> one_or_more(Reader& r, const yaml::Node& node, const std::string& what) {
  if (node.IsMap()) return {node};
  if (node.IsSequence()) {
    std::vector<yaml::Node> items;
    for (const yaml::Node& item : node)
      items.push_back(item);
    return items;
  }
  r.error(node, what + " must be a mapping or a list of mappings");
  return {};
}

void read_lookup(Reader& r, const yaml::Node& node, const std::string& what,
                 DnsLookupConfig& lookup) {
  if (node["resolver"]) read_resolver(r, node["resolver"], what + ".resolver", lookup.resolver);
  if (const yaml::Node& family = node["family"]) {
    auto text = r.string(family, what + ".family");
    if (text == "any") {
      lookup.family = DnsFamily::kAny;
    } else if (text == "ipv4") {
      lookup.family = DnsFamily::kIPv4;
    } else if (text == "ipv6") {
      lookup.family = DnsFamily::kIPv6;
    } else if (text) {
      r.error(family, what + ".family must be any, ipv4 or ipv6");
    }
  }
  for (const char* key : {"min_refresh", "max_refresh"}) {
    if (!node[key]) continue;
    auto ms = r.duration(node[key], what + "." + key);
    if (ms == 0u) r.error(node[key], what + "." + key + " must be greater than zero");
    if (!ms || *ms == 0) continue;
    (std::string_view(key) == "min_refresh" ? lookup.min_refresh_ms : lookup.max_refresh_ms) = *ms;
  }
  if (lookup.min_refresh_ms > lookup.max_refresh_ms) {
    r.error(node, what + ": min_refresh must not be longer than max_refresh");
  }
}

std::string read_name(Reader& r, const yaml::Node& node, const std::string& what) {
  if (!node["name"]) {
    r.error(node, what + " needs a name");
    return {};
  }
  auto name = r.string(node["name"], what + ".name");
  if (name && !is_dns_name(*name)) {
    r.error(node["name"], what + ".name " + quoted_value(*name) + " is not a DNS name");
    return {};
  }
  return name.value_or("");
}

// { service: NAMESPACE/NAME, port: NAME | NUMBER }
bool read_kubernetes_source(Reader& r, const yaml::Node& node, KubernetesSourceConfig& out) {
  const std::string what = "discovery.kubernetes";
  if (!r.check_map(node, what, {"service", "port"})) return false;
  size_t errors = r.error_count();
  if (!node["service"]) {
    r.error(node, what + " needs a service (NAMESPACE/NAME)");
  } else if (auto service = r.string(node["service"], what + ".service")) {
    size_t slash = service->find('/');
    std::string namespace_name = slash == std::string::npos ? "" : service->substr(0, slash);
    std::string name = slash == std::string::npos ? "" : service->substr(slash + 1);
    if (!is_dns_label(namespace_name) || !is_dns_label(name)) {
      r.error(node["service"], what + ".service " + quoted_value(*service) +
                                   " is not NAMESPACE/NAME (like default/web; lower-case "
                                   "letters, digits and '-')");
    }
    out.namespace_name = std::move(namespace_name);
    out.service = std::move(name);
  }
  if (const yaml::Node& port = node["port"]) {
    auto text = r.string(port, what + ".port");
    if (text && !text->empty() && text->find_first_not_of("0123456789") == std::string::npos) {
      if (auto number = r.count_between(port, what + ".port", 1, 65535)) {
        out.port_number = static_cast<uint16_t>(*number);
      }
    } else if (text && is_dns_label(*text) && text->size() <= 15) {
      out.port_name = *text;
    } else if (text) {
      r.error(port, what + ".port " + quoted_value(*text) +
                        " is neither a port name (like http) nor a number from 1 to 65535");
    }
  }
  return r.error_count() == errors;
}

void read_discovery(Reader& r, const yaml::Node& node, const std::string& base_directory,
                    DiscoveryConfig& out) {
  if (!r.check_map(node, "discovery", {"file", "dns", "srv", "etcd", "kubernetes"})) return;
  if (node["file"]) {
    for (const yaml::Node& item : one_or_more(r, node["file"], "discovery.file")) {
      if (!r.check_map(item, "discovery.file", {"path"})) continue;
      if (!item["path"]) {
        r.error(item, "discovery.file needs a path");
        continue;
      }
      auto path = r.string(item["path"], "discovery.file.path");
      if (!path || path->empty()) continue;
      std::filesystem::path resolved(*path);
      if (resolved.is_relative()) resolved = std::filesystem::path(base_directory) / resolved;
      out.files.push_back(FileSourceConfig{resolved.lexically_normal().string()});
    }
  }
  if (node["dns"]) {
    for (const yaml::Node& item : one_or_more(r, node["dns"], "discovery.dns")) {
      if (!r.check_map(item, "discovery.dns",
                       {"name", "port", "resolver", "family", "min_refresh", "max_refresh"})) {
        continue;
      }
      DnsSourceConfig source;
      source.name = read_name(r, item, "discovery.dns");
      if (!item["port"]) {
        r.error(item, "discovery.dns needs a port");
      } else if (auto port = r.count_between(item["port"], "discovery.dns.port", 1, 65535)) {
        source.port = static_cast<uint16_t>(*port);
      }
      read_lookup(r, item, "discovery.dns", source.lookup);
      out.dns.push_back(std::move(source));
    }
  }
  if (node["srv"]) {
    for (const yaml::Node& item : one_or_more(r, node["srv"], "discovery.srv")) {
      if (!r.check_map(item, "discovery.srv", {"name", "resolver", "min_refresh", "max_refresh"})) {
        continue;
      }
      SrvSourceConfig source;
      source.name = read_name(r, item, "discovery.srv");
      read_lookup(r, item, "discovery.srv", source.lookup);
      out.srv.push_back(std::move(source));
    }
  }
  if (node["etcd"]) {
    for (const yaml::Node& item : one_or_more(r, node["etcd"], "discovery.etcd")) {
      EtcdSourceConfig source;
      read_etcd_source(r, item, "discovery.etcd", "prefix", source);
      out.etcd.push_back(std::move(source));
    }
  }
  if (node["kubernetes"]) {
    for (const yaml::Node& item : one_or_more(r, node["kubernetes"], "discovery.kubernetes")) {
      KubernetesSourceConfig source;
      if (read_kubernetes_source(r, item, source)) out.kubernetes.push_back(std::move(source));
    }
  }
}

// A share: "50%" or 50, from 0 to 100.
std::optional<uint32_t> read_percent(Reader& r, const yaml::Node& node, const std::string& what) {
  auto text = r.string(node, what);
  if (!text) return std::nullopt;
  std::string_view digits = *text;
  if (digits.ends_with('%')) digits.remove_suffix(1);
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || value > 100) {
    r.error(node, what + ": " + quoted_value(*text) + " is not a share from 0% to 100%");
    return std::nullopt;
  }
  return value;
}

// "200-399" or 204: a status range for health checks.
std::optional<std::pair<uint16_t, uint16_t>> read_status_range(Reader& r, const yaml::Node& node) {
  auto text = r.string(node, "health_check.http.expect");
  if (!text) return std::nullopt;
  auto number = [](std::string_view digits) -> std::optional<uint16_t> {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc() || end != digits.data() + digits.size() || value < 100 || value > 599) {
      return std::nullopt;
    }
    return static_cast<uint16_t>(value);
  };
  size_t dash = text->find('-');
  auto low = number(std::string_view(*text).substr(0, dash));
  auto high = dash == std::string::npos ? low : number(std::string_view(*text).substr(dash + 1));
  if (!low || !high || *low > *high) {
    r.error(node, "health_check.http.expect " + quoted_value(*text) +
                      " is not a status or a range of statuses (like 200-399)");
    return std::nullopt;
  }
  return std::make_pair(*low, *high);
}

void read_health_check(Reader& r, const yaml::Node& node, HealthCheckConfig& check) {
  if (!r.check_map(node, "health_check",
                   {"http", "tcp", "grpc", "interval", "unhealthy_interval", "timeout", "jitter",
                    "healthy_threshold", "unhealthy_threshold", "initial"})) {
    return;
  }
  int kinds = (node["http"] ? 1 : 0) + (node["tcp"] ? 1 : 0) + (node["grpc"] ? 1 : 0);
  if (kinds > 1) r.error(node, "health_check takes one of http, tcp and grpc");
  if (kinds == 0) r.error(node, "health_check needs http, tcp or grpc");
  if (const yaml::Node& grpc = node["grpc"]) {
    check.kind = HealthCheckConfig::Kind::kGrpc;
    if (r.check_map(grpc, "health_check.grpc", {"service"}) && grpc["service"]) {
      check.grpc_service = r.string(grpc["service"], "health_check.grpc.service").value_or("");
    }
  }
  if (const yaml::Node& tcp = node["tcp"]) {
    check.kind = HealthCheckConfig::Kind::kTcp;
    if (!tcp.IsMap() || tcp.size() != 0) r.error(tcp, "health_check.tcp takes no settings: {}");
  }
  if (const yaml::Node& http = node["http"]) {
    check.kind = HealthCheckConfig::Kind::kHttp;
    if (r.check_map(http, "health_check.http", {"path", "method", "host", "expect", "body"})) {
      if (http["path"]) {
        auto path = r.string(http["path"], "health_check.http.path");
        if (path && (!path->starts_with('/') || !http::is_field_value(*path) ||
                     path->find(' ') != std::string::npos)) {
          r.error(http["path"], "health_check.http.path must be a path starting with '/'");
        } else if (path) {
          check.path = *path;
        }
      }
      if (http["method"]) {
        auto method = r.string(http["method"], "health_check.http.method");
        if (method && !http::is_token(*method)) {
          r.error(http["method"], "health_check.http.method must be a token (like GET)");
        } else if (method) {
          check.method = *method;
        }
      }
      if (http["host"]) {
        auto host = r.string(http["host"], "health_check.http.host");
        if (host && !http::parse_authority(*host)) {
          r.error(http["host"],
                  "health_check.http.host " + quoted_value(*host) + " is not a valid host[:port]");
        } else if (host) {
          check.host = *host;
        }
      }
      if (http["expect"]) {
        check.expect.clear();
        for (const yaml::Node& item : r.sequence(http["expect"], "health_check.http.expect")) {
          if (auto range = read_status_range(r, item)) check.expect.push_back(*range);
        }
        if (http["expect"].IsSequence() && http["expect"].size() == 0) {
          r.error(http["expect"], "health_check.http.expect must list a status or a range");
        }
      }
      if (http["body"]) check.body = r.string(http["body"], "health_check.http.body").value_or("");
    }
  }
  auto duration = [&](const char* key, uint64_t& field) {
    if (!node[key]) return;
    auto ms = r.duration(node[key], std::string("health_check.") + key);
    if (ms == 0u)
      r.error(node[key], std::string("health_check.") + key + " must be greater than zero");
    if (ms && *ms > 0) field = *ms;
  };
  duration("interval", check.interval_ms);
  duration("unhealthy_interval", check.unhealthy_interval_ms);
  duration("timeout", check.timeout_ms);
  if (node["jitter"]) {
    if (auto share = read_percent(r, node["jitter"], "health_check.jitter")) {
      check.jitter_percent = *share;
    }
  }
  for (const char* key : {"healthy_threshold", "unhealthy_threshold"}) {
    if (!node[key]) continue;
    auto value = r.count_between(node[key], std::string("health_check.") + key, 1, 100);
    if (!value) continue;
    (std::string_view(key) == "healthy_threshold" ? check.healthy_threshold
                                                  : check.unhealthy_threshold) =
        static_cast<uint32_t>(*value);
  }
  if (const yaml::Node& initial = node["initial"]) {
    auto text = r.string(initial, "health_check.initial");
    if (text == "healthy") {
      check.initial = HealthCheckConfig::Initial::kHealthy;
    } else if (text == "unhealthy") {
      check.initial = HealthCheckConfig::Initial::kUnhealthy;
    } else if (text) {
      r.error(initial, "health_check.initial must be healthy or unhealthy");
    }
  }
}

void read_outlier(Reader& r, const yaml::Node& node, OutlierConfig& outlier) {
  if (!r.check_map(
          node, "outlier_detection",
          {"enabled", "consecutive_5xx", "consecutive_connect_failures", "consecutive_timeouts",
           "base_ejection_time", "max_ejection_time", "max_ejection_percent"})) {
    return;
  }
  if (node["enabled"]) {
    outlier.enabled = r.boolean(node["enabled"], "outlier_detection.enabled").value_or(true);
  }
  auto count = [&](const char* key, uint32_t& field) {
    if (!node[key]) return;
    auto value = r.count_between(node[key], std::string("outlier_detection.") + key, 0, 1000);
    if (value) field = static_cast<uint32_t>(*value);
  };
  count("consecutive_5xx", outlier.consecutive_5xx);
  count("consecutive_connect_failures", outlier.consecutive_connect_failures);
  count("consecutive_timeouts", outlier.consecutive_timeouts);
  for (const char* key : {"base_ejection_time", "max_ejection_time"}) {
    if (!node[key]) continue;
    auto ms = r.duration(node[key], std::string("outlier_detection.") + key);
    if (ms == 0u) {
      r.error(node[key], std::string("outlier_detection.") + key + " must be greater than zero");
    }
    if (!ms || *ms == 0) continue;
    (std::string_view(key) == "base_ejection_time" ? outlier.base_ejection_ms
                                                   : outlier.max_ejection_ms) = *ms;
  }
  if (outlier.base_ejection_ms > outlier.max_ejection_ms) {
    r.error(node["base_ejection_time"] ? node["base_ejection_time"] : node["max_ejection_time"],
            "outlier_detection.base_ejection_time must not exceed max_ejection_time");
  }
  if (node["max_ejection_percent"]) {
    if (auto share = read_percent(r, node["max_ejection_percent"],
                                  "outlier_detection.max_ejection_percent")) {
      outlier.max_ejection_percent = *share;
    }
  }
}

void read_hash_on(Reader& r, const yaml::Node& node, HashOnConfig& hash_on) {
  if (!r.check_map(node, "hash_on", {"header", "cookie", "client_address"})) return;
  int kinds =
      (node["header"] ? 1 : 0) + (node["cookie"] ? 1 : 0) + (node["client_address"] ? 1 : 0);
  if (node.size() != 1 || kinds != 1) {
    if (kinds > 1 || node.size() == 0) {
      r.error(node, "hash_on takes one of header, cookie, client_address");
    }
    return;  // an unknown key alone was reported by check_map
  }
  if (node["client_address"]) {
    auto on = r.boolean(node["client_address"], "hash_on.client_address");
    if (on == false) r.error(node["client_address"], "hash_on.client_address must be true");
    if (on == true) hash_on.kind = HashOnConfig::Kind::kClientAddress;
    return;
  }
  const char* key = node["header"] ? "header" : "cookie";
  auto name = r.string(node[key], std::string("hash_on.") + key);
  if (!name) return;
  if (!http::is_token(*name)) {
    r.error(node[key],
            std::string("hash_on.") + key + " " + quoted_value(*name) + " is not a valid name");
    return;
  }
  hash_on.kind = node["header"] ? HashOnConfig::Kind::kHeader : HashOnConfig::Kind::kCookie;
  hash_on.name = *name;
}

void read_sticky(Reader& r, const yaml::Node& node, StickyConfig& sticky) {
  if (!r.check_map(node, "sticky", {"cookie", "ttl"})) return;
  if (!node["cookie"]) {
    r.error(node, "sticky needs a cookie name");
  } else if (auto name = r.string(node["cookie"], "sticky.cookie")) {
    if (!http::is_token(*name)) {
      r.error(node["cookie"], "sticky.cookie " + quoted_value(*name) + " is not a valid name");
    } else {
      sticky.cookie = *name;
    }
  }
  if (node["ttl"]) sticky.ttl_ms = r.duration(node["ttl"], "sticky.ttl").value_or(0);
}

void read_circuit_breakers(Reader& r, const yaml::Node& node, CircuitBreakers& breakers) {
  if (!r.check_map(node, "circuit_breakers", {"max_requests", "max_pending", "max_connections"})) {
    return;
  }
  if (node["max_requests"]) {
    breakers.max_requests =
        r.count_at_least(node["max_requests"], "circuit_breakers.max_requests", 1)
            .value_or(breakers.max_requests);
  }
  if (node["max_pending"]) {
    breakers.max_pending = r.count_at_least(node["max_pending"], "circuit_breakers.max_pending", 1)
                               .value_or(breakers.max_pending);
  }
  if (node["max_connections"]) {
    breakers.max_connections =
        r.count_at_least(node["max_connections"], "circuit_breakers.max_connections", 1)
            .value_or(breakers.max_connections);
  }
}

std::optional<LbPolicy> lb_policy(std::string_view name) {
  if (name == "round_robin") return LbPolicy::kRoundRobin;
  if (name == "random") return LbPolicy::kRandom;
  if (name == "least_request") return LbPolicy::kLeastRequest;
  if (name == "ring_hash") return LbPolicy::kRingHash;
  if (name == "maglev") return LbPolicy::kMaglev;
  return std::nullopt;
}

}  // namespace

bool is_dns_label(std::string_view name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

bool is_dns_subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    if (!is_dns_label(name.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

void read_resolver(Reader& r, const yaml::Node& node, const std::string& what, std::string& out) {
  auto text = r.string(node, what);
  if (!text) return;
  if (!parse_socket_address(*text)) {
    r.error(node, what + " " + quoted_value(*text) + " is not IP:PORT (like 127.0.0.1:53)");
    return;
  }
  out = *text;
}

void read_etcd_source(Reader& r, const yaml::Node& node, const std::string& what,
                      const char* key_name, EtcdSourceConfig& out) {
  if (!r.check_map(node, what, {"endpoints", key_name})) return;
  if (!node["endpoints"]) {
    r.error(node, what + " needs endpoints");
  } else {
    for (const yaml::Node& item : r.sequence(node["endpoints"], what + ".endpoints")) {
      auto text = r.string(item, what + " endpoint");
      if (!text) continue;
      std::string_view rest = *text;
      bool ok = rest.starts_with("http://");
      if (ok) {
        rest.remove_prefix(7);
        if (rest.ends_with('/')) rest.remove_suffix(1);
        ok = parse_socket_address(rest).has_value();
      }
      if (!ok) {
        r.error(item, what + " endpoint " + quoted_value(*text) +
                          " is not http://IP:PORT (like http://127.0.0.1:2379)");
        continue;
      }
      out.endpoints.push_back(*text);
    }
    if (node["endpoints"].IsSequence() && node["endpoints"].size() == 0) {
      r.error(node["endpoints"], what + ".endpoints must not be empty");
    }
  }
  if (!node[key_name]) {
    r.error(node, what + " needs a " + key_name);
  } else if (auto key = r.string(node[key_name], what + "." + key_name)) {
    if (key->empty()) {
      r.error(node[key_name], what + "." + key_name + " must not be empty");
    } else {
      out.key = *key;
    }
  }
}

void read_clusters(Reader& r, const yaml::Node& node, const std::string& base_directory,
                   std::set<std::string>& names, Config& config, const NameClaims& taken) {
  for (const yaml::Node& item : r.sequence(node, "clusters")) {
    if (!r.check_map(
            item, "cluster",
            {"name", "lb", "hash_on", "sticky", "endpoints", "discovery", "health_check",
             "outlier_detection", "panic_threshold", "circuit_breakers", "tls", "protocol"})) {
      continue;
    }
    ClusterConfig cluster;
    if (!item["name"]) {
      r.error(item, "a cluster needs a name");
    } else if (auto name = r.string(item["name"], "cluster name")) {
      if (!names.insert(*name).second) {
        r.error(item["name"], "duplicate cluster name " + quoted_value(*name));
      } else if (const std::string* owner = taken.owner(*name, r.source())) {
        r.error(item["name"], "cluster " + quoted_value(*name) + " is already defined by " +
                                  *owner + "; " + r.source() + " may not define it too");
      }
      cluster.name = *name;
    }
    if (item["lb"]) {
      auto name = r.string(item["lb"], "lb");
      auto policy = name ? lb_policy(*name) : std::nullopt;
      if (name && !policy) {
        r.error(item["lb"], "lb " + quoted_value(*name) +
                                " is not one of round_robin, random, least_request, ring_hash, "
                                "maglev");
      }
      if (policy) cluster.lb = *policy;
    }
    bool hashing = cluster.lb == LbPolicy::kRingHash || cluster.lb == LbPolicy::kMaglev;
    if (item["hash_on"]) {
      read_hash_on(r, item["hash_on"], cluster.hash_on);
      if (!hashing) r.error(item["hash_on"], "hash_on applies to lb ring_hash or maglev");
    } else if (hashing) {
      // Without a key every request would land at random: surely not what was meant.
      r.error(item["lb"], "lb " + quoted_value(item["lb"].Scalar()) +
                              " needs hash_on (a header, a cookie or client_address)");
    }
    if (item["sticky"]) read_sticky(r, item["sticky"], cluster.sticky);
    if (item["health_check"]) {
      cluster.health_check.emplace();
      read_health_check(r, item["health_check"], *cluster.health_check);
    }
    if (item["outlier_detection"]) read_outlier(r, item["outlier_detection"], cluster.outlier);
    if (item["panic_threshold"]) {
      cluster.panic_threshold_percent =
          read_percent(r, item["panic_threshold"], "panic_threshold").value_or(50);
    }
    if (item["circuit_breakers"]) {
      read_circuit_breakers(r, item["circuit_breakers"], cluster.circuit_breakers);
    }
    if (item["tls"]) {
      cluster.tls.emplace();
      read_upstream_tls(r, item["tls"], base_directory, *cluster.tls, config.tls_files);
    }
    if (item["protocol"]) {
      auto protocol = r.string(item["protocol"], "protocol");
      if (protocol && *protocol != "http1" && *protocol != "http2") {
        r.error(item["protocol"],
                "protocol " + quoted_value(*protocol) + " is not one of http1, http2");
      }
      cluster.http2 = protocol == "http2";
    }
    if (cluster.health_check && cluster.health_check->kind == HealthCheckConfig::Kind::kGrpc &&
        !cluster.http2) {
      r.error(item["health_check"]["grpc"],
              "health_check.grpc needs the cluster's protocol: http2");
    }
    if (!item["endpoints"] && !item["discovery"]) {
      r.error(item, "a cluster needs endpoints, discovery, or both");
    }
    if (item["endpoints"]) {
      for (const yaml::Node& endpoint_node : r.sequence(item["endpoints"], "endpoints")) {
        auto text = r.string(endpoint_node, "endpoint");
        if (!text) continue;
        auto endpoint = parse_endpoint(*text);
        if (!endpoint) {
          r.error(endpoint_node, "endpoint " + quoted_value(*text) +
                                     " is not IP:PORT or NAME:PORT (like 127.0.0.1:9001 or "
                                     "api.internal:8080)");
          continue;
        }
        cluster.endpoints.push_back(std::move(*endpoint));
      }
    }
    if (item["discovery"]) read_discovery(r, item["discovery"], base_directory, cluster.discovery);
    config.clusters.push_back(std::move(cluster));
  }
}

}  // namespace waygate::routing
