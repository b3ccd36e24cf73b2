// `routes_source: { kubernetes: { gateway_class } }`: the GatewayClasses, Gateways, HTTPRoutes
// (gateway.networking.k8s.io/v1) and Services of a cluster, each listed and then watched (the
// Services through the collection the Ingress source reads too), kept as
// a routes_source document (see gateway_routes.h) that is handed on whenever it changes; and the
// status of the HTTPRoutes (httproute_status.h). Runs on the control loop.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "discovery/kubernetes/api_client.h"
#include "discovery/kubernetes/httproute_status.h"
#include "discovery/kubernetes/object_collection.h"
#include "routing/config.h"

namespace waygate::discovery::kubernetes {

class GatewaySource {
 public:
  // The document changed; called only once every collection has been listed.
  using RoutesFn = std::function<void(const std::string& document)>;

  GatewaySource(std::shared_ptr<ObjectCollections> collections, routing::IngressSourceConfig source,
                RoutesFn on_routes);
  GatewaySource(const GatewaySource&) = delete;
  GatewaySource& operator=(const GatewaySource&) = delete;

  void start();
  // No callback afterwards; may be called from within one.
  void stop();
  // The hosts others route (the config file, Ingresses): HTTPRoute rules for them are left out.
  void set_reserved_hosts(std::set<std::string> hosts);
  // The hosts of the last document handed on.
  const std::set<std::string>& hosts() const { return hosts_; }
  // The last document handed on ("" before any, or when nothing is routed).
  const std::string& document() const { return document_; }
  // "kubernetes gateways of class waygate"
  std::string describe() const;

 private:
  ObjectCollection::Subscription watch(const char* kind, const std::string& path);
  void rebuild();

  std::shared_ptr<ObjectCollections> collections_;
  routing::IngressSourceConfig source_;
  RoutesFn on_routes_;
  ObjectCollection::Subscription classes_;
  ObjectCollection::Subscription gateways_;
  ObjectCollection::Subscription http_routes_;
  ObjectCollection::Subscription services_;
  std::unique_ptr<HttpRouteStatusWriter> status_;
  std::set<std::string> reserved_hosts_;
  std::string document_;  // the last handed on
  std::set<std::string> hosts_;
  std::set<std::string> problems_;  // logged already
  bool publishing_ = false;         // in on_routes_, which reloads and may set the reserved hosts
  bool dirty_ = false;
  bool stopped_ = false;
};

}  // namespace waygate::discovery::kubernetes
