#include "routing/cluster_loader.h"

#include <charconv>
#include <filesystem>

#include "core/socket_address.h"

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
std::vector<YAML::Node> one_or_more(Reader& r, const YAML::Node& node, const std::string& what) {
  if (node.IsMap()) return {node};
  if (node.IsSequence()) return r.sequence(node, what);
  r.error(node, what + " must be a mapping or a list of mappings");
  return {};
}

void read_lookup(Reader& r, const YAML::Node& node, const std::string& what,
                 DnsLookupConfig& lookup) {
  if (node["resolver"]) read_resolver(r, node["resolver"], what + ".resolver", lookup.resolver);
  if (const YAML::Node& family = node["family"]) {
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

std::string read_name(Reader& r, const YAML::Node& node, const std::string& what) {
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

void read_discovery(Reader& r, const YAML::Node& node, const std::string& base_directory,
                    DiscoveryConfig& out) {
  if (!r.check_map(node, "discovery", {"file", "dns", "srv", "etcd"})) return;
  if (node["file"]) {
    for (const YAML::Node& item : one_or_more(r, node["file"], "discovery.file")) {
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
    for (const YAML::Node& item : one_or_more(r, node["dns"], "discovery.dns")) {
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
    for (const YAML::Node& item : one_or_more(r, node["srv"], "discovery.srv")) {
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
    for (const YAML::Node& item : one_or_more(r, node["etcd"], "discovery.etcd")) {
      EtcdSourceConfig source;
      read_etcd_source(r, item, "discovery.etcd", "prefix", source);
      out.etcd.push_back(std::move(source));
    }
  }
}

}  // namespace

void read_resolver(Reader& r, const YAML::Node& node, const std::string& what, std::string& out) {
  auto text = r.string(node, what);
  if (!text) return;
  if (!parse_socket_address(*text)) {
    r.error(node, what + " " + quoted_value(*text) + " is not IP:PORT (like 127.0.0.1:53)");
    return;
  }
  out = *text;
}

void read_etcd_source(Reader& r, const YAML::Node& node, const std::string& what,
                      const char* key_name, EtcdSourceConfig& out) {
  if (!r.check_map(node, what, {"endpoints", key_name})) return;
  if (!node["endpoints"]) {
    r.error(node, what + " needs endpoints");
  } else {
    for (const YAML::Node& item : r.sequence(node["endpoints"], what + ".endpoints")) {
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

void read_clusters(Reader& r, const YAML::Node& node, const std::string& base_directory,
                   std::set<std::string>& names, Config& config) {
  for (const YAML::Node& item : r.sequence(node, "clusters")) {
    if (!r.check_map(item, "cluster", {"name", "lb", "endpoints", "discovery"})) continue;
    ClusterConfig cluster;
    if (!item["name"]) {
      r.error(item, "a cluster needs a name");
    } else if (auto name = r.string(item["name"], "cluster name")) {
      if (!names.insert(*name).second)
        r.error(item["name"], "duplicate cluster name " + quoted_value(*name));
      cluster.name = *name;
    }
    if (item["lb"]) {
      auto lb = r.string(item["lb"], "lb");
      if (lb && *lb != "round_robin") {
        r.error(item["lb"], "lb " + quoted_value(*lb) + " is not supported yet (round_robin is)");
      }
    }
    if (!item["endpoints"] && !item["discovery"]) {
      r.error(item, "a cluster needs endpoints, discovery, or both");
    }
    if (item["endpoints"]) {
      for (const YAML::Node& endpoint_node : r.sequence(item["endpoints"], "endpoints")) {
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
