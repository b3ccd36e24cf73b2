// A cluster's endpoints from a Kubernetes Service: the ready endpoints of all its EndpointSlices
// (labelled kubernetes.io/service-name), as the watch of its namespace's slices, shared with the
// other clusters naming a Service there, hands them on. While the API server cannot be reached,
// or refuses waygate, the last endpoints stand.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "discovery/kubernetes/endpoint_slice.h"
#include "discovery/kubernetes/endpoint_slice_watch.h"
#include "discovery/provider.h"
#include "routing/config.h"

namespace waygate::discovery::kubernetes {

class KubernetesProvider final : public Provider, private EndpointSliceWatch::Subscriber {
 public:
  // Knows the Service's endpoints at once when the watch has listed them already.
  KubernetesProvider(std::string cluster, ProviderSink& sink,
                     std::shared_ptr<EndpointSliceWatch> watch,
                     const routing::KubernetesSourceConfig& source);
  ~KubernetesProvider() override;
  KubernetesProvider(const KubernetesProvider&) = delete;
  KubernetesProvider& operator=(const KubernetesProvider&) = delete;

  void start() override;
  // "kubernetes default/web:http"
  std::string describe() const override { return "kubernetes " + what_; }

 private:
  void on_slices(const EndpointSliceWatch::Slices& slices) override;
  // The endpoints of the slices; a slice that cannot be read is warned of once.
  std::vector<routing::EndpointSpec> read(const EndpointSliceWatch::Slices& slices);

  std::string what_;
  std::string service_;
  PortSelector port_;
  std::shared_ptr<EndpointSliceWatch> watch_;
  std::set<std::string> problems_;  // warned of already
  bool started_ = false;
};

}  // namespace waygate::discovery::kubernetes
