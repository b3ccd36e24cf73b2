#include "discovery/kubernetes/ingress_source.h"

#include <utility>

#include "core/log.h"

namespace waygate::discovery::kubernetes {
namespace {

// "NAMESPACE/NAME", or NAME for an object without a namespace (an IngressClass).
std::string object_key(const nlohmann::json& object) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  std::string name = metadata->value("name", "");
  std::string namespace_name = metadata->value("namespace", "");
  if (name.empty()) return "";
  return namespace_name.empty() ? name : namespace_name + "/" + name;
}

}  // namespace

IngressSource::IngressSource(uv_loop_t* loop, std::shared_ptr<const ApiClient> api,
                             routing::IngressSourceConfig source, RoutesFn on_routes)
    : loop_(loop),
      api_(std::move(api)),
      source_(std::move(source)),
      on_routes_(std::move(on_routes)) {}

std::string IngressSource::describe() const {
  std::string text = "kubernetes ingresses of class " + source_.ingress_class;
  if (!source_.namespace_name.empty()) text += " in namespace " + source_.namespace_name;
  return text;
}

void IngressSource::start() {
  std::string in_namespace =
      source_.namespace_name.empty() ? "" : "/namespaces/" + source_.namespace_name;
  watch(ingresses_, "/apis/networking.k8s.io/v1" + in_namespace + "/ingresses");
  watch(classes_, "/apis/networking.k8s.io/v1/ingressclasses");
  watch(services_, "/api/v1" + in_namespace + "/services");
}

void IngressSource::stop() {
  stopped_ = true;
  for (Collection* collection : {&ingresses_, &classes_, &services_})
    collection->watch.reset();
}

void IngressSource::watch(Collection& collection, const std::string& path) {
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

void IngressSource::set_file_hosts(std::set<std::string> hosts) {
  if (hosts == file_hosts_) return;
  file_hosts_ = std::move(hosts);
  if (publishing_) {
    dirty_ = true;
    return;
  }
  rebuild();
}

void IngressSource::rebuild() {
  if (!ingresses_.listed || !classes_.listed || !services_.listed) return;
  if (publishing_) {
    dirty_ = true;
    return;
  }
  do {
    dirty_ = false;
    IngressObjects objects{ingresses_.objects, classes_.objects, services_.objects};
    IngressRoutes routes = ingress_routes(objects, source_, file_hosts_);
    // Each problem is told once, when it appears; not again on every change to other objects.
    std::set<std::string> problems(routes.problems.begin(), routes.problems.end());
    for (const std::string& problem : problems) {
      if (!problems_.count(problem)) {
        WG_LOG_WARN("routes_source %s: %s", describe().c_str(), problem.c_str());
      }
    }
    problems_ = std::move(problems);
    if (routes.document == document_) continue;
    document_ = std::move(routes.document);
    hosts_ = std::move(routes.hosts);
    publishing_ = true;
    on_routes_(document_);  // may stop this source
    publishing_ = false;
  } while (dirty_ && !stopped_);
}

}  // namespace waygate::discovery::kubernetes
