// How waygate reaches a Kubernetes API server and proves who it is: read from a kubeconfig file
// (out of cluster) or from the Pod's service account (in-cluster). Read once per config; the
// token file alone is read again for each request, since projected tokens rotate.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/socket_address.h"
#include "core/tls_context.h"
#include "routing/config.h"

namespace waygate::discovery::kubernetes {

struct ApiAccess {
  std::string server;  // as configured: "https://10.96.0.1:443", for logs
  bool tls = true;     // false only for an http:// server in a kubeconfig (tests)
  std::string host;    // the Host header: "10.96.0.1:443"
  SocketAddress address;
  // TLS: the CA (or insecure-skip-tls-verify), a client certificate; the server's certificate
  // must name `server_name` (tls-server-name, else the server's host).
  tls::ClientSettings tls_settings;
  std::string server_name;
  std::string token;       // a bearer token written inline
  std::string token_file;  // a file holding the bearer token, read at each request
  std::string origin;      // where this came from: the kubeconfig's path, or "in-cluster"
};

// The API server and credentials of the kubeconfig's current context. Errors are
// "PATH:LINE:COL: message" (auth that waygate cannot do, exec plugins and auth providers, is
// refused there); nullopt when there is any.
std::optional<ApiAccess> read_kubeconfig(const std::string& path, std::vector<std::string>* errors);

// The Pod's own: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the token and CA
// of its service account under `secrets_dir`.
inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
std::optional<ApiAccess> in_cluster_access(const std::string& secrets_dir, std::string* error);

// What a config says: its kubeconfig, or in-cluster.
std::optional<ApiAccess> load_api_access(const routing::KubernetesConfig& config,
                                         std::vector<std::string>* errors);

}  // namespace waygate::discovery::kubernetes
