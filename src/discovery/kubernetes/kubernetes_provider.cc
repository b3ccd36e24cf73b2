#include "discovery/kubernetes/kubernetes_provider.h"

#include <unordered_set>
#include <utility>

#include "core/log.h"

namespace waygate::discovery::kubernetes {

KubernetesProvider::KubernetesProvider(std::string cluster, ProviderSink& sink,
                                       std::shared_ptr<EndpointSliceWatch> watch,
                                       const routing::KubernetesSourceConfig& source)
    : Provider(std::move(cluster), sink),
      what_(source.describe()),
      service_(source.service),
      port_{source.port_name, source.port_number},
      watch_(std::move(watch)) {
  if (const EndpointSliceWatch::Slices* slices = watch_->slices(service_)) {
    std::vector<routing::EndpointSpec> endpoints = read(*slices);
    if (!endpoints.empty()) preload(std::move(endpoints));
  }
}

KubernetesProvider::~KubernetesProvider() {
  if (started_) watch_->unsubscribe(service_, this);
}

void KubernetesProvider::start() {
  if (started_) return;
  started_ = true;
  watch_->subscribe(service_, this);
}

std::vector<routing::EndpointSpec> KubernetesProvider::read(
    const EndpointSliceWatch::Slices& slices) {
  // A Pod is in one slice at a time, but during a move it may show in two: one endpoint.
  std::vector<routing::EndpointSpec> endpoints;
  std::unordered_set<std::string> seen;
  std::set<std::string> problems;
  for (const auto& [name, object] : slices) {
    std::string error;
    std::optional<SliceEndpoints> slice = parse_endpoint_slice(object, port_, &error);
    if (!slice) {
      problems.insert(std::string("EndpointSlice ")
                          .append(name)
                          .append(": ")
                          .append(error)
                          .append("; skipped"));
      continue;
    }
    if (!slice->port_error.empty()) {
      problems.insert(std::string("EndpointSlice ")
                          .append(name)
                          .append(": ")
                          .append(slice->port_error)
                          .append("; its endpoints are skipped"));
    }
    for (routing::EndpointSpec& endpoint : slice->endpoints) {
      if (seen.insert(endpoint.address_text).second) endpoints.push_back(std::move(endpoint));
    }
  }
  // Told once when it appears, not again on each change to the Service's other slices.
  for (const std::string& problem : problems) {
    if (!problems_.count(problem)) {
      WG_LOG_WARN("discovery: cluster %s, %s: %s", cluster().c_str(), describe().c_str(),
                  problem.c_str());
    }
  }
  problems_ = std::move(problems);
  return endpoints;
}

void KubernetesProvider::on_slices(const EndpointSliceWatch::Slices& slices) {
  std::vector<routing::EndpointSpec> endpoints = read(slices);
  if (endpoints.empty()) {
    report_empty("the Service has no ready endpoints");
    return;
  }
  report(std::move(endpoints));
}

}  // namespace waygate::discovery::kubernetes
