// Gateway API objects (gateway.networking.k8s.io/v1) turned into waygate routes: from the
// GatewayClasses, Gateways, HTTPRoutes and Services known, the routes_source document (`routes:`
// and `clusters:`) that routes the HTTPRoutes attached to the Gateways of one GatewayClass, and a
// line for every route or rule left out and why.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

namespace waygate::discovery::kubernetes {

// The objects as the API gives them, each collection by "NAMESPACE/NAME" (GatewayClasses, which
// have no namespace, by NAME).
struct GatewayObjects {
  std::map<std::string, nlohmann::json> classes;
  std::map<std::string, nlohmann::json> gateways;
  std::map<std::string, nlohmann::json> http_routes;
  std::map<std::string, nlohmann::json> services;
};

// What waygate says of an HTTPRoute for one of its parentRefs that names a Gateway of the class:
// the Gateway API's Accepted and ResolvedRefs conditions (status.parents[], see
// httproute_status.h). (The NOLINT: as ServiceBackend's.)
struct ParentStatus {         // NOLINT(bugprone-exception-escape)
  nlohmann::json parent_ref;  // the spec.parentRefs entry as given
  bool accepted = true;
  // Accepted, NotAllowedByListeners, NoMatchingListenerHostname or UnsupportedValue.
  std::string accepted_reason = "Accepted";
  std::string accepted_message;
  bool resolved = true;
  // ResolvedRefs, BackendNotFound, InvalidKind or RefNotPermitted: the first backendRef not
  // resolved says which.
  std::string resolved_reason = "ResolvedRefs";
  std::string resolved_message;
};

struct GatewayRoutes {
  std::string document;               // YAML (written as JSON) with routes: and clusters:; empty
                                      // when nothing is routed
  std::set<std::string> hosts;        // the hosts it routes
  std::vector<std::string> problems;  // "HTTPRoute shop/web: ...; the rule is skipped", one each
  // By HTTPRoute ("NAMESPACE/NAME"), for those with a parentRef naming a Gateway of the class.
  std::map<std::string, std::vector<ParentStatus>> statuses;
  std::string controller_name;  // the GatewayClass's spec.controllerName, named in the statuses
};

// The HTTPRoutes attached to a listener of a Gateway whose spec.gatewayClassName is
// `gateway_class`. `reserved_hosts` are routed by someone else (the config file, Ingresses): rules
// for them are left out. Rules are ordered as the Gateway API says: the most specific host, then
// Exact before RegularExpression before PathPrefix (the longest first), a method, the most header
// and query matches, then the oldest route (creationTimestamp, then namespace and name), then rule
// order.
GatewayRoutes gateway_routes(const GatewayObjects& objects, const std::string& gateway_class,
                             const std::set<std::string>& reserved_hosts);

}  // namespace waygate::discovery::kubernetes
