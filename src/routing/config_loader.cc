#include "routing/config_loader.h"

#include <netinet/in.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/file_bytes.h"
#include "routing/access_log_loader.h"
#include "routing/cluster_loader.h"
#include "routing/config_watcher.h"
#include "routing/route_loader.h"
#include "routing/tls_loader.h"
#include "routing/yaml_reader.h"

namespace waygate::routing {
namespace {

void read_timeouts(Reader& r, const yaml::Node& node, Timeouts& out) {
  if (!r.check_map(node, "timeouts",
                   {"header_read", "downstream_idle", "upstream_connect", "upstream_response",
                    "upstream_idle", "drain", "tls_handshake"})) {
    return;
  }
  auto set = [&](const char* key, uint64_t& field) {
    if (!node[key]) return;
    if (auto ms = r.duration(node[key], std::string("timeouts.") + key)) {
      if (*ms == 0) {
        r.error(node[key], std::string("timeouts.") + key + " must be greater than zero");
      } else {
        field = *ms;
      }
    }
  };
  set("header_read", out.header_read_ms);
  set("downstream_idle", out.downstream_idle_ms);
  set("upstream_connect", out.upstream_connect_ms);
  set("upstream_response", out.upstream_response_ms);
  set("upstream_idle", out.upstream_idle_ms);
  set("drain", out.drain_ms);
  set("tls_handshake", out.tls_handshake_ms);
}

void read_limits(Reader& r, const yaml::Node& node, Limits& out) {
  if (!r.check_map(
          node, "limits",
          {"max_header_bytes", "max_uri_bytes", "max_body_bytes", "max_connections_per_worker",
           "max_idle_upstream_per_endpoint", "max_request_headers",
           "max_upstream_connections_per_endpoint", "max_connections_per_client",
           "http2_max_concurrent_streams", "http2_initial_window"})) {
    return;
  }
  auto set_size = [&](const char* key, uint64_t& field) {
    if (!node[key]) return;
    if (auto bytes = r.size(node[key], std::string("limits.") + key)) field = *bytes;
  };
  auto set_count = [&](const char* key, uint64_t& field) {
    if (!node[key]) return;
    if (auto value = r.count(node[key], std::string("limits.") + key)) field = *value;
  };
  set_size("max_header_bytes", out.max_header_bytes);
  set_size("max_uri_bytes", out.max_uri_bytes);
  set_size("max_body_bytes", out.max_body_bytes);
  set_count("max_connections_per_worker", out.max_connections_per_worker);
  set_count("max_idle_upstream_per_endpoint", out.max_idle_upstream_per_endpoint);
  set_count("max_connections_per_client", out.max_connections_per_client);
  if (const yaml::Node& headers = node["max_request_headers"]) {
    auto value = r.count_between(headers, "limits.max_request_headers", 1, 10'000);
    if (value) out.max_request_headers = *value;
  }
  if (const yaml::Node& upstream = node["max_upstream_connections_per_endpoint"]) {
    auto value = r.count_at_least(upstream, "limits.max_upstream_connections_per_endpoint", 1);
    if (value) out.max_upstream_connections_per_endpoint = *value;
  }
  if (const yaml::Node& streams = node["http2_max_concurrent_streams"]) {
    auto value = r.count_between(streams, "limits.http2_max_concurrent_streams", 1, 10'000);
    if (value) out.http2_max_concurrent_streams = *value;
  }
  set_size("http2_initial_window", out.http2_initial_window_bytes);
  // RFC 9113 6.5.2: at most 2^31-1; less than a frame would make every body trickle.
  if (out.http2_initial_window_bytes < 16 * 1024 || out.http2_initial_window_bytes > 0x7fffffff) {
    r.error(node["http2_initial_window"],
            "limits.http2_initial_window must be between 16KiB and 2GiB-1");
  }
  if (out.max_header_bytes == 0 || out.max_header_bytes > (1u << 30)) {
    r.error(node["max_header_bytes"], "limits.max_header_bytes must be between 1 and 1GiB");
  }
  if (out.max_uri_bytes == 0 || out.max_uri_bytes > (1u << 30)) {
    r.error(node["max_uri_bytes"], "limits.max_uri_bytes must be between 1 and 1GiB");
  }
}

void read_normalize_paths(Reader& r, const yaml::Node& node, http::PathOptions& out) {
  if (!r.check_map(node, "normalize_paths", {"merge_slashes", "escaped_slashes"})) return;
  if (const yaml::Node& merge = node["merge_slashes"]) {
    if (auto value = r.boolean(merge, "normalize_paths.merge_slashes")) out.merge_slashes = *value;
  }
  if (const yaml::Node& escaped = node["escaped_slashes"]) {
    auto text = r.string(escaped, "normalize_paths.escaped_slashes");
    if (!text) return;
    if (*text == "reject") {
      out.escaped_slashes = http::EscapedSlashes::kReject;
    } else if (*text == "keep") {
      out.escaped_slashes = http::EscapedSlashes::kKeep;
    } else if (*text == "unescape") {
      out.escaped_slashes = http::EscapedSlashes::kUnescape;
    } else {
      r.error(escaped, "normalize_paths.escaped_slashes " + quoted_value(*text) +
                           " is not one of reject, keep, unescape");
    }
  }
}

bool is_loopback(const SocketAddress& address) {
  if (address.storage.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address.storage);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (address.storage.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
    return IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
  }
  return false;
}

// A token goes into an Authorization header: visible ASCII without spaces. Messages never quote
// it, since --check output and logs are not secret.
bool valid_token(std::string_view token) {
  if (token.empty()) return false;
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

void read_admin_token(Reader& r, const yaml::Node& admin, const std::string& base_directory,
                      AdminConfig& out) {
  if (admin["token"] && admin["token_file"]) {
    r.error(admin["token_file"], "admin takes token or token_file, not both");
    return;
  }
  if (const yaml::Node& token = admin["token"]) {
    auto text = r.string(token, "admin.token");
    if (!text) return;
    if (!valid_token(*text)) {
      r.error(token, "admin.token must be visible ASCII characters without spaces");
      return;
    }
    out.token = *text;
  } else if (const yaml::Node& file = admin["token_file"]) {
    auto text = r.string(file, "admin.token_file");
    if (!text) return;
    std::filesystem::path resolved(*text);
    if (resolved.is_relative()) resolved = std::filesystem::path(base_directory) / resolved;
    std::string path = resolved.lexically_normal().string();
    std::optional<std::string> bytes = text->empty() ? std::nullopt : read_file_bytes(path);
    if (!bytes) {
      r.error(file, "admin.token_file " + quoted_value(path) + " cannot be read");
      return;
    }
    // Files written by editors and `echo` end with a newline that is not part of the token.
    while (!bytes->empty() && std::isspace(static_cast<unsigned char>(bytes->back())))
      bytes->pop_back();
    if (!valid_token(*bytes)) {
      r.error(file, "admin.token_file " + quoted_value(path) +
                        " must hold one token: visible ASCII characters without spaces");
      return;
    }
    out.token = std::move(*bytes);
    out.token_file = std::move(path);
  }
}

void read_admin(Reader& r, const yaml::Node& admin, const std::string& base_directory,
                Config& config) {
  if (!r.check_map(admin, "admin", {"address", "token", "token_file"})) return;
  AdminConfig out;
  size_t errors_before = r.error_count();
  read_admin_token(r, admin, base_directory, out);
  bool token_refused = r.error_count() != errors_before;
  if (!admin["address"]) {
    r.error(admin, "admin needs an address");
    return;
  }
  auto text = r.string(admin["address"], "admin address");
  if (!text) return;
  auto address = parse_socket_address(*text);
  if (!address) {
    r.error(admin["address"],
            "admin address " + quoted_value(*text) + " is not IP:PORT (like 127.0.0.1:9901)");
  } else if (!is_loopback(*address) && out.token.empty() && !token_refused) {
    // Anyone who reaches the admin API can read the config and reload or stop waygate: off the
    // loopback interface, a token is what keeps them out.
    r.error(admin["address"], "admin address " + quoted_value(*text) +
                                  " is not loopback (127.0.0.0/8 or [::1]): set admin.token or "
                                  "admin.token_file, which every admin request must then carry");
  } else {
    out.address_text = *text;
    out.address = *address;
    config.admin = std::move(out);
  }
}

void read_listeners(Reader& r, const yaml::Node& node, const std::string& base_directory,
                    Config& config) {
  std::set<std::string> names;
  std::set<std::string> addresses;
  for (const yaml::Node& item : r.sequence(node, "listeners")) {
    if (!r.check_map(item, "listener", {"name", "address", "tls", "access_log", "http2"})) continue;
    ListenerConfig listener;
    if (!item["name"]) {
      r.error(item, "listener needs a name");
    } else if (auto name = r.string(item["name"], "listener name")) {
      if (!names.insert(*name).second)
        r.error(item["name"], "duplicate listener name " + quoted_value(*name));
      listener.name = *name;
    }
    if (!item["address"]) {
      r.error(item, "listener needs an address");
    } else if (auto text = r.string(item["address"], "listener address")) {
      auto address = parse_socket_address(*text);
      if (!address) {
        r.error(item["address"], "listener address " + quoted_value(*text) +
                                     " is not IP:PORT (like 0.0.0.0:8080 or [::1]:8080)");
      } else if (!addresses.insert(*text).second) {
        r.error(item["address"], "address " + quoted_value(*text) + " is used by two listeners");
      } else {
        listener.address_text = *text;
        listener.address = *address;
      }
    }
    // HTTP/2 is on by default where a client can only ask for it knowingly (ALPN on TLS); h2c
    // prior knowledge on a plain listener is asked for in the config, as nginx and Envoy do.
    listener.http2 = static_cast<bool>(item["tls"]);
    if (const yaml::Node& http2 = item["http2"]) {
      if (auto value = r.boolean(http2, "listener http2")) listener.http2 = *value;
    }
    if (item["tls"]) {
      listener.tls.emplace();
      listener.tls->alpn_h2 = listener.http2;
      read_listener_tls(r, item["tls"], base_directory, listener.name, config.source_certificates,
                        *listener.tls, config.tls_files);
    }
    if (item["access_log"]) {
      listener.access_log.emplace();
      read_access_log(r, item["access_log"], "listener " + listener.name + " access_log",
                      *listener.access_log);
    }
    config.listeners.push_back(std::move(listener));
  }
  if (node.IsSequence() && config.listeners.empty()) r.error(node, "listeners must not be empty");
}

void read_log_level(Reader& r, const yaml::Node& node, Config& config) {
  auto text = r.string(node, "log_level");
  if (!text) return;
  if (*text == "debug") {
    config.log_level = LogLevel::kDebug;
  } else if (*text == "info") {
    config.log_level = LogLevel::kInfo;
  } else if (*text == "warn") {
    config.log_level = LogLevel::kWarn;
  } else if (*text == "error") {
    config.log_level = LogLevel::kError;
  } else {
    r.error(node, "log_level " + quoted_value(*text) + " is not one of debug, info, warn, error");
  }
}

void read_dns(Reader& r, const yaml::Node& node, Config& config) {
  if (!r.check_map(node, "dns", {"resolver"})) return;
  if (node["resolver"]) read_resolver(r, node["resolver"], "dns.resolver", config.dns_resolver);
}

// { ingress_class: NAME, gateway_class: NAME, namespace: NAME }: routes from the Ingresses of that
// IngressClass, the HTTPRoutes of the Gateways of that GatewayClass, or both.
void read_ingress_source(Reader& r, const yaml::Node& node, Config& config) {
  const std::string what = "routes_source.kubernetes";
  if (!r.check_map(node, what, {"ingress_class", "gateway_class", "namespace", "publish_address"}))
    return;
  IngressSourceConfig source;
  if (!node["ingress_class"] && !node["gateway_class"]) {
    r.error(node, what +
                      " needs an ingress_class (the IngressClass whose Ingresses it routes), a "
                      "gateway_class (the GatewayClass whose Gateways' HTTPRoutes it routes), or "
                      "both");
  }
  for (const char* key : {"ingress_class", "gateway_class"}) {
    if (!node[key]) continue;
    auto name = r.string(node[key], what + "." + key);
    if (!name) continue;
    if (!is_dns_subdomain(*name)) {
      r.error(node[key], what + "." + key + " " + quoted_value(*name) +
                             " is not a Kubernetes object name (lower-case letters, digits, '-' "
                             "and '.')");
    }
    (std::string_view(key) == "ingress_class" ? source.ingress_class : source.gateway_class) =
        *name;
  }
  if (node["namespace"]) {
    if (auto name = r.string(node["namespace"], what + ".namespace")) {
      if (!is_dns_label(*name)) {
        r.error(node["namespace"], what + ".namespace " + quoted_value(*name) +
                                       " is not a namespace name (lower-case letters, digits "
                                       "and '-')");
      }
      source.namespace_name = *name;
    }
  }
  if (const yaml::Node& address = node["publish_address"]) {
    if (auto text = r.string(address, what + ".publish_address")) {
      auto socket_address = parse_socket_address(*text + ":0");
      auto bracketed = parse_socket_address("[" + *text + "]:0");
      if (!socket_address && !bracketed && !is_dns_subdomain(*text)) {
        r.error(address, what + ".publish_address " + quoted_value(*text) +
                             " is not an IP address or a host name");
      }
      source.publish_address = *text;
    }
  }
  config.ingress_source = std::move(source);
}

void read_routes_source(Reader& r, const yaml::Node& node, Config& config) {
  if (!r.check_map(node, "routes_source", {"etcd", "kubernetes"})) return;
  if (node["etcd"] && node["kubernetes"]) {
    r.error(node, "routes_source takes one of etcd and kubernetes, not both");
    return;
  }
  if (node["kubernetes"]) {
    read_ingress_source(r, node["kubernetes"], config);
    return;
  }
  if (!node["etcd"]) {
    r.error(node, "routes_source needs etcd or kubernetes");
    return;
  }
  const yaml::Node& etcd = node["etcd"];
  bool prefix = etcd.IsMap() && etcd["prefix"];
  if (prefix && etcd["key"]) {
    r.error(etcd, "routes_source.etcd takes one of key and prefix, not both");
    return;
  }
  EtcdSourceConfig source;
  read_etcd_source(r, etcd, "routes_source.etcd", prefix ? "prefix" : "key", source);
  if (prefix) {
    config.routes_prefix = std::move(source);
  } else {
    config.routes_source = std::move(source);
  }
}

// { kubeconfig: PATH }; without it, the Pod's service account (in-cluster).
void read_kubernetes(Reader& r, const yaml::Node& node, const std::string& base_directory,
                     Config& config) {
  if (!r.check_map(node, "kubernetes", {"kubeconfig"})) return;
  if (!node["kubeconfig"]) return;
  auto path = r.string(node["kubeconfig"], "kubernetes.kubeconfig");
  if (!path) return;
  if (path->empty()) {
    r.error(node["kubeconfig"], "kubernetes.kubeconfig must not be empty");
    return;
  }
  std::filesystem::path resolved(*path);
  const char* home = std::getenv("HOME");
  if (path->starts_with("~/") && home) resolved = std::filesystem::path(home) / path->substr(2);
  if (resolved.is_relative()) resolved = std::filesystem::path(base_directory) / resolved;
  config.kubernetes.kubeconfig = resolved.lexically_normal().string();
}

// A directory of route files (see routing/route_entries.h), relative to the config's directory.
void read_routes_dir(Reader& r, const yaml::Node& node, const std::string& base_directory,
                     Config& config) {
  auto path = r.string(node, "routes_dir");
  if (!path) return;
  if (path->empty()) {
    r.error(node, "routes_dir must not be empty");
    return;
  }
  std::filesystem::path resolved(*path);
  if (resolved.is_relative()) resolved = std::filesystem::path(base_directory) / resolved;
  std::string shown = resolved.lexically_normal().string();
  if (shown.size() > 1 && shown.ends_with('/')) shown.pop_back();
  std::error_code failed;
  if (!std::filesystem::is_directory(shown, failed)) {
    r.error(node, "routes_dir " + quoted_value(shown) + " is not a directory");
    return;
  }
  config.routes_dir = std::move(shown);
}

// The settings only the config file holds (everything but routes and clusters).
void read_settings(Reader& r, const yaml::Node& root, const std::string& base_directory,
                   Config& config) {
  if (const yaml::Node& workers = root["workers"]) {
    if (workers.IsScalar() && workers.Scalar() == "auto") {
      config.workers = 0;
    } else if (auto n = r.count(workers, "workers")) {
      if (*n == 0 || *n > 1024) {
        r.error(workers, "workers must be 'auto' or between 1 and 1024");
      } else {
        config.workers = static_cast<unsigned>(*n);
      }
    }
  }
  if (root["admin"]) read_admin(r, root["admin"], base_directory, config);
  if (root["access_log"]) read_access_log(r, root["access_log"], "access_log", config.access_log);
  if (const yaml::Node& level = root["log_level"]) read_log_level(r, level, config);
  if (root["timeouts"]) read_timeouts(r, root["timeouts"], config.timeouts);
  if (root["limits"]) read_limits(r, root["limits"], config.limits);
  if (root["normalize_paths"]) {
    read_normalize_paths(r, root["normalize_paths"], config.normalize_paths);
  }
  if (root["dns"]) read_dns(r, root["dns"], config);
  if (root["routes_source"]) read_routes_source(r, root["routes_source"], config);
  if (root["routes_dir"]) read_routes_dir(r, root["routes_dir"], base_directory, config);
  // One set of route entries, from one place: the admin API edits them where they live.
  if (root["routes_dir"] && root["routes_source"] && config.routes_prefix) {
    r.error(root["routes_dir"],
            "routes_dir and routes_source.etcd.prefix both give route entries: name one of them");
  }
  if (root["kubernetes"]) read_kubernetes(r, root["kubernetes"], base_directory, config);
  if (root["listeners"]) {
    read_listeners(r, root["listeners"], base_directory, config);
  } else {
    r.error(root, "the config needs listeners");
  }
}

// One parsed document (the file, or a routes_source value) with the reader for its errors. The
// nodes point into the text, which the caller keeps until the config is read.
struct Document {
  Reader reader;
  yaml::Document parsed;
  yaml::Node root;
  bool ok = false;
};

void parse_document(Document& document, const std::string& text, bool is_file) {
  yaml::ParseResult parsed = yaml::parse(text);
  if (parsed.error) {
    document.reader.error(parsed.error->mark, parsed.error->message);
    return;
  }
  document.parsed = std::move(parsed.document);
  document.root = document.parsed.root();
  if (is_file && (!document.root || document.root.IsNull())) {
    document.reader.error(yaml::Mark(), "the config is empty");
    return;
  }
  document.ok = true;
}

std::string directory_of(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

ConfigResult load(const std::string& text, const std::string& source_name,
                  const std::vector<ConfigSource>& extras, const TakenNames& taken) {
  ConfigResult result;
  std::vector<Document> documents;
  documents.push_back(Document{Reader(source_name), {}, {}, false});
  parse_document(documents.back(), text, true);
  for (const ConfigSource& extra : extras) {
    documents.push_back(Document{Reader(extra.name), {}, {}, false});
    parse_document(documents.back(), extra.text, false);
  }
  Config& config = result.config;
  for (const ConfigSource& extra : extras) {
    config.source_certificates.insert(config.source_certificates.end(), extra.certificates.begin(),
                                      extra.certificates.end());
  }
  Document& file = documents.front();
  if (file.ok &&
      file.reader.check_map(file.root, "the config",
                            {"workers", "admin", "access_log", "log_level", "timeouts", "limits",
                             "normalize_paths", "dns", "routes_source", "routes_dir", "kubernetes",
                             "listeners", "routes", "clusters"})) {
    read_settings(file.reader, file.root, directory_of(source_name), config);
  } else {
    file.ok = false;
  }
  // In the listeners' contexts now; the keys need not stay in every config kept.
  config.source_certificates.clear();
  for (size_t i = 1; i < documents.size(); ++i) {
    Document& extra = documents[i];
    if (!extra.ok || !extra.root || extra.root.IsNull()) continue;  // an empty value adds nothing
    extra.ok = extra.reader.check_map(extra.root, "a routes_source value", {"routes", "clusters"});
  }
  // Clusters from every document first, so routes anywhere can name clusters anywhere; a host or
  // cluster name may appear only once across all of them.
  std::set<std::string> cluster_names;
  std::string base_directory = directory_of(source_name);
  for (Document& document : documents) {
    if (!document.ok || !document.root.IsMap() || !document.root["clusters"]) continue;
    read_clusters(document.reader, document.root["clusters"], base_directory, cluster_names, config,
                  taken.clusters);
  }
  HostsSeen hosts_seen;
  for (Document& document : documents) {
    if (!document.ok || !document.root.IsMap() || !document.root["routes"]) continue;
    read_routes(document.reader, document.root["routes"], cluster_names, hosts_seen, config,
                taken.hosts);
  }
  for (Document& document : documents) {
    for (std::string& error : document.reader.sorted_errors())
      result.errors.push_back(std::move(error));
  }
  return result;
}

}  // namespace

ConfigResult load_config_text(const std::string& text, const std::string& source_name,
                              const std::vector<ConfigSource>& extras, const TakenNames& taken) {
  return load(text, source_name, extras, taken);
}

ConfigResult load_config_file(const std::string& path, const std::vector<ConfigSource>& extras,
                              const TakenNames& taken) {
  return load_config_bytes(read_file_bytes(path), path, extras, taken);
}

ConfigResult load_config_bytes(std::optional<std::string> text, const std::string& path,
                               const std::vector<ConfigSource>& extras, const TakenNames& taken) {
  if (!text) {
    ConfigResult result;
    result.errors.push_back(path + ":1:1: cannot open the file");
    return result;
  }
  ConfigResult result = load(*text, path, extras, taken);
  // The TLS files were hashed as they were read for their contexts: combine, do not read again.
  std::string hashes;
  auto append = [&hashes](uint64_t hash) {
    hashes.append(reinterpret_cast<const char*>(&hash), sizeof(hash));
  };
  for (const ListenerConfig& listener : result.config.listeners) {
    if (listener.tls) append(listener.tls->files_hash);
  }
  for (const ClusterConfig& cluster : result.config.clusters) {
    if (cluster.tls) append(cluster.tls->identity);
  }
  if (!hashes.empty()) result.tls_files_hash = content_hash(hashes);
  result.text_hash = config_text_hash(*text, extras);
  return result;
}

uint64_t config_text_hash(std::string_view text, const std::vector<ConfigSource>& extras) {
  if (extras.empty()) return content_hash(text);
  std::string whole(text);
  for (const ConfigSource& extra : extras)
    whole.append("\n# ").append(extra.name).append("\n").append(extra.text);
  return content_hash(whole);
}

}  // namespace waygate::routing
