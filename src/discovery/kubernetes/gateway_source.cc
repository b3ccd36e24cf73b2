#include "discovery/kubernetes/gateway_source.h"

#include <utility>

#include "core/log.h"
#include "discovery/kubernetes/gateway_routes.h"

namespace waygate::discovery::kubernetes {

GatewaySource::GatewaySource(std::shared_ptr<ObjectCollections> collections,
                             routing::IngressSourceConfig source, RoutesFn on_routes)
    : collections_(std::move(collections)),
      source_(std::move(source)),
      on_routes_(std::move(on_routes)) {}

std::string GatewaySource::describe() const {
  std::string text = "kubernetes gateways of class " + source_.gateway_class;
  if (!source_.namespace_name.empty()) text += " in namespace " + source_.namespace_name;
  return text;
}

void GatewaySource::start() {
  std::string in_namespace =
      source_.namespace_name.empty() ? "" : "/namespaces/" + source_.namespace_name;
  // The paths written out whole, as test_deploy_manifests reads them to check the ClusterRole.
  classes_ = watch("GatewayClass", "/apis/gateway.networking.k8s.io/v1/gatewayclasses");
  gateways_ = watch("Gateway", "/apis/gateway.networking.k8s.io/v1" + in_namespace + "/gateways");
  http_routes_ =
      watch("HTTPRoute", "/apis/gateway.networking.k8s.io/v1" + in_namespace + "/httproutes");
  services_ = watch("Service", "/api/v1" + in_namespace + "/services");
  status_ = std::make_unique<HttpRouteStatusWriter>(collections_->loop(), collections_->api(),
                                                    describe());
}

void GatewaySource::stop() {
  stopped_ = true;
  status_.reset();
  for (ObjectCollection::Subscription* watched : {&classes_, &gateways_, &http_routes_, &services_})
    watched->reset();
}

ObjectCollection::Subscription GatewaySource::watch(const char* kind, const std::string& path) {
  std::shared_ptr<ObjectCollection> collection = collections_->get(kind, path);
  return collection->listen(
      {[this] { rebuild(); },
       [this, kind](const std::string& error, uint64_t next_try_ms) {
         WG_LOG_WARN(
             "routes_source %s: %ss from %s: %s (the routes last made from them keep serving; "
             "next try in %llu ms)",
             describe().c_str(), kind, collections_->api()->access().server.c_str(), error.c_str(),
             static_cast<unsigned long long>(next_try_ms));
       }});
}

void GatewaySource::set_reserved_hosts(std::set<std::string> hosts) {
  if (hosts == reserved_hosts_) return;
  reserved_hosts_ = std::move(hosts);
  if (publishing_) {
    dirty_ = true;
    return;
  }
  rebuild();
}

void GatewaySource::rebuild() {
  if (stopped_) return;
  for (const ObjectCollection::Subscription* watched :
       {&classes_, &gateways_, &http_routes_, &services_}) {
    if (!watched->listed()) return;
  }
  if (publishing_) {
    dirty_ = true;
    return;
  }
  do {
    dirty_ = false;
    GatewayObjects objects{classes_.objects(), gateways_.objects(), http_routes_.objects(),
                           services_.objects()};
    GatewayRoutes routes = gateway_routes(objects, source_.gateway_class, reserved_hosts_);
    // Each problem is told once, when it appears; not again on every change to other objects.
    std::set<std::string> problems(routes.problems.begin(), routes.problems.end());
    for (const std::string& problem : problems) {
      if (!problems_.count(problem)) {
        WG_LOG_WARN("routes_source %s: %s", describe().c_str(), problem.c_str());
      }
    }
    problems_ = std::move(problems);
    if (status_) status_->update(routes, http_routes_.objects());
    if (routes.document == document_ && routes.hosts == hosts_) continue;
    document_ = std::move(routes.document);
    hosts_ = std::move(routes.hosts);
    publishing_ = true;
    on_routes_(document_);  // may stop this source
    publishing_ = false;
  } while (dirty_ && !stopped_);
}

}  // namespace waygate::discovery::kubernetes
