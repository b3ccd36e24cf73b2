#include "discovery/kubernetes/kubernetes_provider.h"

#include <unordered_set>

#include "core/log.h"

namespace waygate::discovery::kubernetes {
namespace {

ListWatch::Options watch_options(const routing::KubernetesSourceConfig& source) {
  ListWatch::Options options;
  options.path =
      "/apis/discovery.k8s.io/v1/namespaces/" + source.namespace_name + "/endpointslices";
  options.label_selector = "kubernetes.io/service-name=" + source.service;
  return options;
}

}  // namespace

KubernetesProvider::KubernetesProvider(std::string cluster, ProviderSink& sink, uv_loop_t* loop,
                                       std::shared_ptr<const ApiClient> api,
                                       const routing::KubernetesSourceConfig& source)
    : Provider(std::move(cluster), sink),
      what_(source.describe()),
      port_{source.port_name, source.port_number},
      watch_(
          loop, std::move(api), watch_options(source),
          [this](const std::vector<nlohmann::json>& items) { on_listed(items); },
          [this](ListWatch::Event event, const nlohmann::json& object) { on_event(event, object); },
          [this](const std::string& error, uint64_t next_try_ms) {
            keep_after_failure(error, next_try_ms);
          }) {}

bool KubernetesProvider::take(const nlohmann::json& object) {
  std::string error;
  std::optional<SliceEndpoints> slice = parse_endpoint_slice(object, port_, &error);
  if (!slice) {
    WG_LOG_WARN("discovery: cluster %s, %s: %s; skipped", cluster().c_str(), describe().c_str(),
                error.c_str());
    return false;
  }
  if (!slice->port_error.empty()) {
    WG_LOG_WARN("discovery: cluster %s, %s: EndpointSlice %s: %s; its endpoints are skipped",
                cluster().c_str(), describe().c_str(), slice->name.c_str(),
                slice->port_error.c_str());
  }
  std::string name = slice->name;
  slices_[name] = std::move(*slice);
  return true;
}

void KubernetesProvider::on_listed(const std::vector<nlohmann::json>& items) {
  slices_.clear();
  for (const nlohmann::json& item : items)
    take(item);
  report_all();
}

void KubernetesProvider::on_event(ListWatch::Event event, const nlohmann::json& object) {
  if (event == ListWatch::Event::kDeleted) {
    std::string error;
    std::optional<SliceEndpoints> slice = parse_endpoint_slice(object, port_, &error);
    if (slice) slices_.erase(slice->name);
  } else if (!take(object)) {
    return;
  }
  report_all();
}

void KubernetesProvider::report_all() {
  // A Pod is in one slice at a time, but during a move it may show in two: one endpoint.
  std::vector<routing::EndpointSpec> endpoints;
  std::unordered_set<std::string> seen;
  for (const auto& [name, slice] : slices_) {
    for (const routing::EndpointSpec& endpoint : slice.endpoints) {
      if (seen.insert(endpoint.address_text).second) endpoints.push_back(endpoint);
    }
  }
  if (endpoints.empty()) {
    report_empty("the Service has no ready endpoints");
    return;
  }
  report(std::move(endpoints));
}

}  // namespace waygate::discovery::kubernetes
