// The cluster a route sends to when it names a Service's port (a Gateway API backendRef): one per
// Service and port, named "NAMESPACE/SERVICE:PORT", whose endpoints come from the Service's
// EndpointSlices, as Ingress backends have them.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace waygate::discovery::kubernetes {

// (The NOLINT: nlohmann::json's destructor flattens deep trees into a vector, which clang-tidy
// counts as a throw from the implicit destructor; bad_alloc there ends the process anyway.)
struct ServiceBackend {      // NOLINT(bugprone-exception-escape)
  std::string cluster;       // "shop/web:80"
  nlohmann::json discovery;  // { kubernetes: { service, port } }, a cluster's `discovery:`
};

// `services` by "NAMESPACE/NAME" as the API gives them. The Service port `port` is turned into the
// name its EndpointSlices give it (none for a Service with one unnamed port); while the Service or
// that port is not known, the number is matched against the endpoints' own port.
ServiceBackend service_backend(const std::map<std::string, nlohmann::json>& services,
                               const std::string& namespace_name, const std::string& service,
                               uint16_t port);

}  // namespace waygate::discovery::kubernetes
