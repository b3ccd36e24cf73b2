#include "discovery/kubernetes/gateway_source.h"

#include <utility>

#include "core/log.h"
#include "discovery/kubernetes/gateway_routes.h"

namespace waygate::discovery::kubernetes {
namespace {

// "NAMESPACE/NAME", or NAME for an object without a namespace (a GatewayClass).
std::string object_key(const nlohmann::json& object) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  std::string name = metadata->value("name", "");
  std::string namespace_name = metadata->value("namespace", "");
  if (name.empty()) return "";
  return namespace_name.empty() ? name : namespace_name + "/" + name;
}

}  // namespace

GatewaySource::GatewaySource(uv_loop_t* loop, std::shared_ptr<const ApiClient> api,
                             routing::IngressSourceConfig source, RoutesFn on_routes)
    : loop_(loop),
      api_(std::move(api)),
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
  watch(classes_, "/apis/gateway.networking.k8s.io/v1/gatewayclasses");
  watch(gateways_, "/apis/gateway.networking.k8s.io/v1" + in_namespace + "/gateways");
  watch(http_routes_, "/apis/gateway.networking.k8s.io/v1" + in_namespace + "/httproutes");
  watch(services_, "/api/v1" + in_namespace + "/services");
}

void GatewaySource::stop() {
  stopped_ = true;
  for (Collection* collection : {&classes_, &gateways_, &http_routes_, &services_})
    collection->watch.reset();
}

void GatewaySource::watch(Collection& collection, const std::string& path) {
  ListWatch::Options options;
  options.path = path;
  Collection* target = &collection;
  collection.watch = std::make_unique<ListWatch>(
      loop_, api_, options,
      [this, target](std::vector<nlohmann::json> items) {
        target->objects.clear();
        for (nlohmann::json& item : items) {
          std::string key = object_key(item);
          if (!key.empty()) target->objects[key] = std::move(item);
        }
        target->listed = true;
        rebuild();
      },
      [this, target](ListWatch::Event event, const nlohmann::json& object) {
        std::string key = object_key(object);
        if (key.empty()) return;
        if (event == ListWatch::Event::kDeleted) {
          target->objects.erase(key);
        } else {
          target->objects[key] = object;
        }
        rebuild();
      },
      [this, target](const std::string& error, uint64_t next_try_ms) {
        WG_LOG_WARN(
            "routes_source %s: %ss from %s: %s (the routes last made from them keep serving; "
            "next try in %llu ms)",
            describe().c_str(), target->kind, api_->access().server.c_str(), error.c_str(),
            static_cast<unsigned long long>(next_try_ms));
      });
  collection.watch->start();
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
  for (const Collection* collection : {&classes_, &gateways_, &http_routes_, &services_}) {
    if (!collection->listed) return;
  }
  if (publishing_) {
    dirty_ = true;
    return;
  }
  do {
    dirty_ = false;
    GatewayObjects objects{classes_.objects, gateways_.objects, http_routes_.objects,
                           services_.objects};
    GatewayRoutes routes = gateway_routes(objects, source_.gateway_class, reserved_hosts_);
    // Each problem is told once, when it appears; not again on every change to other objects.
    std::set<std::string> problems(routes.problems.begin(), routes.problems.end());
    for (const std::string& problem : problems) {
      if (!problems_.count(problem)) {
        WG_LOG_WARN("routes_source %s: %s", describe().c_str(), problem.c_str());
      }
    }
    problems_ = std::move(problems);
    if (routes.document == document_ && routes.hosts == hosts_) continue;
    document_ = std::move(routes.document);
    hosts_ = std::move(routes.hosts);
    publishing_ = true;
    on_routes_(document_);  // may stop this source
    publishing_ = false;
  } while (dirty_ && !stopped_);
}

}  // namespace waygate::discovery::kubernetes
