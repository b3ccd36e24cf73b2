// Reading a kubeconfig through routing's Reader, so its errors carry FILE:LINE:COL like the
// config's own. Only what waygate acts on is checked; other keys (preferences, extensions) pass.
#include "discovery/kubernetes/api_access.h"

#include <cstdlib>
#include <filesystem>

#include "core/file_bytes.h"
#include "discovery/base64.h"
#include "routing/yaml_reader.h"

namespace waygate::discovery::kubernetes {
namespace {

using routing::quoted_value;
using routing::Reader;

// The entry of a named list (clusters, users, contexts) called `name`, or an undefined node.
yaml::Node named_entry(Reader& r, const yaml::Node& root, const char* list, const char* inner,
                       const std::string& name) {
  const yaml::Node& entries = root[list];
  if (!entries || !entries.IsSequence()) return {};
  for (const yaml::Node& entry : entries) {
    if (!entry.IsMap() || !entry["name"].IsScalar() || entry["name"].Scalar() != name) continue;
    if (!entry[inner].IsMap()) {
      r.error(entry, std::string(list) + " entry " + quoted_value(name) + " has no " + inner);
      return {};
    }
    return entry[inner];
  }
  return {};
}

std::string path_beside(const std::string& kubeconfig, std::string_view path) {
  std::filesystem::path resolved(path);
  if (resolved.is_relative()) {
    resolved = std::filesystem::path(kubeconfig).parent_path() / resolved;
  }
  return resolved.lexically_normal().string();
}

// A *-data field: base64 of PEM bytes.
std::string pem_data(Reader& r, const yaml::Node& node, const std::string& what) {
  auto text = r.string(node, what);
  if (!text) return {};
  std::optional<std::string> pem = base64_decode(*text);
  if (!pem || pem->empty()) {
    r.error(node, what + " is not base64");
    return {};
  }
  return *pem;
}

// Sets the server's scheme, address and Host from "https://IP:PORT" (or http:// for tests).
void read_server(Reader& r, const yaml::Node& node, ApiAccess& access) {
  auto text = r.string(node, "server");
  if (!text) return;
  std::string_view rest = *text;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
    access.tls = false;
  } else {
    r.error(node, "server " + quoted_value(*text) + " must start with https:// (or http://)");
    return;
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  std::string host(rest);
  // The port may be left out, as kubectl allows.
  std::optional<SocketAddress> address = parse_socket_address(host);
  if (!address && host.find(':') == std::string::npos) {
    host += access.tls ? ":443" : ":80";
    address = parse_socket_address(host);
  }
  if (!address) {
    r.error(node, "server " + quoted_value(*text) +
                      " must be an IP address and port (like https://10.96.0.1:443); host "
                      "names are not resolved yet");
    return;
  }
  access.server = *text;
  access.host = host;
  access.address = *address;
  size_t colon = host.rfind(':');
  access.server_name = host.substr(0, colon);
  if (access.server_name.starts_with('[')) {
    access.server_name = access.server_name.substr(1, access.server_name.size() - 2);
  }
}

void read_cluster(Reader& r, const yaml::Node& cluster, const std::string& path,
                  ApiAccess& access) {
  if (!cluster["server"]) {
    r.error(cluster, "the cluster has no server");
  } else {
    read_server(r, cluster["server"], access);
  }
  tls::ClientSettings& settings = access.tls_settings;
  if (const yaml::Node& skip = cluster["insecure-skip-tls-verify"]) {
    if (auto value = r.boolean(skip, "insecure-skip-tls-verify")) settings.verify = !*value;
  }
  if (const yaml::Node& ca = cluster["certificate-authority-data"]) {
    settings.ca_pem = pem_data(r, ca, "certificate-authority-data");
    settings.ca_pem_name = path + ": certificate-authority-data";
  } else if (const yaml::Node& file = cluster["certificate-authority"]) {
    if (auto text = r.string(file, "certificate-authority")) {
      settings.ca = path_beside(path, *text);
    }
  }
  if (const yaml::Node& name = cluster["tls-server-name"]) {
    if (auto text = r.string(name, "tls-server-name")) access.server_name = *text;
  }
  if (const yaml::Node& proxy = cluster["proxy-url"]) {
    r.error(proxy, "proxy-url is not supported: waygate connects to the API server directly");
  }
}

void read_user(Reader& r, const yaml::Node& user, const std::string& path, ApiAccess& access) {
  // What client-go can do and waygate cannot: refused rather than connecting without it.
  // The error points at the key: a plugin's settings may span many lines.
  for (auto it = user.begin(); it != user.end(); ++it) {
    std::string_view key = it->first.Scalar();
    if (key == "exec" || key == "auth-provider" || key == "username" || key == "password" ||
        key == "as") {
      r.error(it->first, "user." + std::string(key) +
                             " is not supported: use a token, tokenFile or a client certificate");
    }
  }
  if (const yaml::Node& token = user["token"]) {
    if (auto text = r.string(token, "user.token")) access.token = *text;
  }
  if (const yaml::Node& file = user["tokenFile"]) {
    if (auto text = r.string(file, "user.tokenFile")) access.token_file = path_beside(path, *text);
  }
  tls::ClientSettings& settings = access.tls_settings;
  if (const yaml::Node& cert = user["client-certificate-data"]) {
    settings.cert_pem = pem_data(r, cert, "client-certificate-data");
    settings.cert_pem_name = path + ": client-certificate-data";
  } else if (const yaml::Node& file = user["client-certificate"]) {
    if (auto text = r.string(file, "client-certificate")) settings.cert = path_beside(path, *text);
  }
  if (const yaml::Node& key = user["client-key-data"]) {
    settings.key_pem = pem_data(r, key, "client-key-data");
    settings.key_pem_name = path + ": client-key-data";
  } else if (const yaml::Node& file = user["client-key"]) {
    if (auto text = r.string(file, "client-key")) settings.key = path_beside(path, *text);
  }
  bool has_cert = !settings.cert.empty() || !settings.cert_pem.empty();
  bool has_key = !settings.key.empty() || !settings.key_pem.empty();
  if (has_cert != has_key) {
    r.error(user, has_cert ? "a client certificate without its client key"
                           : "a client key without its client certificate");
  }
}

}  // namespace

std::optional<ApiAccess> read_kubeconfig(const std::string& path,
                                         std::vector<std::string>* errors) {
  std::optional<std::string> text = read_file_bytes(path);
  if (!text) {
    errors->push_back(path + ":1:1: cannot read the kubeconfig");
    return std::nullopt;
  }
  Reader r(path);
  ApiAccess access;
  access.origin = path;
  access.tls_settings.alpn = {"http/1.1"};
  yaml::ParseResult parsed = yaml::parse(*text);
  if (parsed.error) {
    r.error(parsed.error->mark, parsed.error->message);
  } else if (yaml::Node root = parsed.document.root(); !root.IsMap()) {
    r.error(root, "a kubeconfig must be a mapping");
  } else if (!root["current-context"] || !root["current-context"].IsScalar() ||
             root["current-context"].Scalar().empty()) {
    r.error(root, "the kubeconfig has no current-context");
  } else {
    std::string name(root["current-context"].Scalar());
    yaml::Node context = named_entry(r, root, "contexts", "context", name);
    if (!context) {
      r.error(root["current-context"], "no context named " + quoted_value(name));
    } else {
      std::string cluster_name(context["cluster"].Scalar());
      std::string user_name(context["user"].Scalar());
      yaml::Node cluster = named_entry(r, root, "clusters", "cluster", cluster_name);
      if (!cluster) {
        r.error(context, "no cluster named " + quoted_value(cluster_name));
      } else {
        read_cluster(r, cluster, path, access);
      }
      // A context without a user connects without credentials (an http:// test server).
      if (!user_name.empty()) {
        yaml::Node user = named_entry(r, root, "users", "user", user_name);
        if (!user) {
          r.error(context, "no user named " + quoted_value(user_name));
        } else {
          read_user(r, user, path, access);
        }
      }
    }
  }
  if (r.error_count() > 0) {
    for (std::string& error : r.sorted_errors())
      errors->push_back(std::move(error));
    return std::nullopt;
  }
  return access;
}

std::optional<ApiAccess> in_cluster_access(const std::string& secrets_dir, std::string* error) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !port || !*host || !*port) {
    *error =
        "not in a cluster (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set) and "
        "no kubernetes.kubeconfig is given";
    return std::nullopt;
  }
  ApiAccess access;
  access.origin = "in-cluster";
  std::string host_text(host);
  if (host_text.find(':') != std::string::npos) host_text = "[" + host_text + "]";
  access.host = host_text + ":" + port;
  access.server = "https://" + access.host;
  std::optional<SocketAddress> address = parse_socket_address(access.host);
  if (!address) {
    *error = "KUBERNETES_SERVICE_HOST and _PORT (" + access.host + ") are not an IP and port";
    return std::nullopt;
  }
  access.address = *address;
  access.server_name = host;
  access.token_file = secrets_dir + "/token";
  access.tls_settings.ca = secrets_dir + "/ca.crt";
  access.tls_settings.alpn = {"http/1.1"};
  return access;
}

std::optional<ApiAccess> load_api_access(const routing::KubernetesConfig& config,
                                         std::vector<std::string>* errors) {
  if (!config.kubeconfig.empty()) return read_kubeconfig(config.kubeconfig, errors);
  std::string error;
  std::optional<ApiAccess> access = in_cluster_access(kServiceAccountDir, &error);
  if (!access) errors->push_back("kubernetes: " + error);
  return access;
}

}  // namespace waygate::discovery::kubernetes
