// Writes the address waygate is reached at (`routes_source.kubernetes.publish_address`) into the
// status.loadBalancer.ingress of each Ingress it routes, as `kubectl get ingress` shows it: a JSON
// merge patch on the Ingress's status subresource (sent by a StatusPatcher), only to those whose
// status says otherwise. Runs on the control loop.
#pragma once

#include <uv.h>

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "discovery/kubernetes/api_client.h"
#include "discovery/kubernetes/status_patcher.h"

namespace waygate::discovery::kubernetes {

class IngressStatusWriter {
 public:
  // `address`: an IP address (written as `ip`) or a host name (`hostname`). `describe` names the
  // source in warnings.
  IngressStatusWriter(uv_loop_t* loop, std::shared_ptr<const ApiClient> api, std::string address,
                      std::string describe);
  IngressStatusWriter(const IngressStatusWriter&) = delete;
  IngressStatusWriter& operator=(const IngressStatusWriter&) = delete;

  // The Ingresses routed ("NAMESPACE/NAME") and every Ingress as the API gives it: each routed one
  // whose status.loadBalancer.ingress is not the address gets a patch.
  void update(const std::set<std::string>& routed,
              const std::map<std::string, nlohmann::json>& ingresses);

 private:
  nlohmann::json wanted_;  // [{ "ip": ADDRESS }] or [{ "hostname": ADDRESS }]
  StatusPatcher patcher_;
};

}  // namespace waygate::discovery::kubernetes
