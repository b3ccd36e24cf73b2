// Writes what waygate says of each HTTPRoute attached to a Gateway of its class into the route's
// status.parents[]: for each parentRef naming such a Gateway, an entry with the GatewayClass's
// controllerName and the conditions Accepted and ResolvedRefs (observedGeneration, and a
// lastTransitionTime kept while a condition's status stays). Entries of other controllers stay;
// waygate's entries for routes it no longer reads are removed. A merge patch on the status
// subresource, made from the resourceVersion read and sent only when the status says otherwise.
// Runs on the control loop.
#pragma once

#include <uv.h>

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "discovery/kubernetes/api_client.h"
#include "discovery/kubernetes/gateway_routes.h"
#include "discovery/kubernetes/status_patcher.h"

namespace waygate::discovery::kubernetes {

class HttpRouteStatusWriter {
 public:
  // `describe` names the source in warnings.
  HttpRouteStatusWriter(uv_loop_t* loop, std::shared_ptr<const ApiClient> api,
                        std::string describe);

  // `routes` as gateway_routes made them; `http_routes` every HTTPRoute as the API gives it.
  void update(const GatewayRoutes& routes,
              const std::map<std::string, nlohmann::json>& http_routes);

 private:
  StatusPatcher patcher_;
};

// status.parents[] for `route` (as the API gives it) with waygate's entries (`controller_name`'s)
// made from `statuses`, at `now` (RFC 3339) for conditions whose status changes.
nlohmann::json route_parents(const nlohmann::json& route, const std::string& controller_name,
                             const std::vector<ParentStatus>& statuses, const std::string& now);

}  // namespace waygate::discovery::kubernetes
