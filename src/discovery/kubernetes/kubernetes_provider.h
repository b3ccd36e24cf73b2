// A cluster's endpoints from a Kubernetes Service: the ready endpoints of all its EndpointSlices
// (labelled kubernetes.io/service-name), listed and then watched. While the API server cannot be
// reached, or refuses waygate, the last endpoints stand.
#pragma once

#include <uv.h>

#include <map>
#include <memory>
#include <string>

#include "discovery/kubernetes/api_client.h"
#include "discovery/kubernetes/endpoint_slice.h"
#include "discovery/kubernetes/list_watch.h"
#include "discovery/provider.h"
#include "routing/config.h"

namespace waygate::discovery::kubernetes {

class KubernetesProvider final : public Provider {
 public:
  KubernetesProvider(std::string cluster, ProviderSink& sink, uv_loop_t* loop,
                     std::shared_ptr<const ApiClient> api,
                     const routing::KubernetesSourceConfig& source);

  void start() override { watch_.start(); }
  // "kubernetes default/web:http"
  std::string describe() const override { return "kubernetes " + what_; }

 private:
  void on_listed(const std::vector<nlohmann::json>& items);
  void on_event(ListWatch::Event event, const nlohmann::json& object);
  // Reads one slice into slices_; false (with a warning) when it cannot be read.
  bool take(const nlohmann::json& object);
  void report_all();

  std::string what_;
  PortSelector port_;
  std::map<std::string, SliceEndpoints> slices_;  // by the slice's name
  ListWatch watch_;
};

}  // namespace waygate::discovery::kubernetes
