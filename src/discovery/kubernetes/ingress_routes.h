// Kubernetes Ingresses (networking.k8s.io/v1) turned into waygate routes: from the Ingresses,
// IngressClasses and Services known, the routes_source document (`routes:` and `clusters:`) that
// routes the Ingresses of one class, and a line for every Ingress or path left out and why.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "routing/config.h"

namespace waygate::discovery::kubernetes {

// The objects as the API gives them, each collection by "NAMESPACE/NAME" (IngressClasses, which
// have no namespace, by NAME).
struct IngressObjects {
  std::map<std::string, nlohmann::json> ingresses;
  std::map<std::string, nlohmann::json> classes;
  std::map<std::string, nlohmann::json> services;
};

struct IngressRoutes {
  std::string document;               // YAML (written as JSON) with routes: and clusters:
  std::set<std::string> hosts;        // the hosts it routes
  std::vector<std::string> problems;  // "Ingress shop/web: ...; skipped", one per line
  // The Secrets ("NAMESPACE/NAME") that the spec.tls of the Ingresses routed name, each with the
  // oldest Ingress naming it.
  std::map<std::string, std::string> tls_secrets;
  std::set<std::string> routed;  // the Ingresses of the class not skipped, "NAMESPACE/NAME"
};

// `reserved_hosts` are routed by the config file: an Ingress rule for one of them is left out.
// Which Ingress wins a host and path that several claim: the oldest (creationTimestamp, then
// namespace and name).
IngressRoutes ingress_routes(const IngressObjects& objects,
                             const routing::IngressSourceConfig& source,
                             const std::set<std::string>& reserved_hosts);

}  // namespace waygate::discovery::kubernetes
