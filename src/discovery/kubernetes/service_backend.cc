#include "discovery/kubernetes/service_backend.h"

#include <optional>

#include "discovery/json_member.h"

namespace waygate::discovery::kubernetes {
namespace {

// The name of the Service's port `number` ("" when unnamed); nullopt when the Service or that
// port is not known.
std::optional<std::string> service_port_name(const nlohmann::json* service, uint16_t number) {
  const nlohmann::json* spec = service ? json_member(*service, "spec") : nullptr;
  const nlohmann::json* ports = spec ? json_member(*spec, "ports") : nullptr;
  if (!ports || !ports->is_array()) return std::nullopt;
  for (const nlohmann::json& port : *ports) {
    const nlohmann::json* value = json_member(port, "port");
    if (!value || !value->is_number_integer() || *value != number) continue;
    const nlohmann::json* name = json_member(port, "name");
    return name && name->is_string() ? name->get<std::string>() : "";
  }
  return std::nullopt;
}

}  // namespace

ServiceBackend service_backend(const std::map<std::string, nlohmann::json>& services,
                               const std::string& namespace_name, const std::string& service,
                               uint16_t port) {
  std::string key = namespace_name + "/" + service;
  auto found = services.find(key);
  nlohmann::json discovery = {{"service", key}};
  std::optional<std::string> slice_port =
      service_port_name(found == services.end() ? nullptr : &found->second, port);
  if (!slice_port) {
    discovery["port"] = port;
  } else if (!slice_port->empty()) {
    discovery["port"] = *slice_port;
  }
  return {key + ":" + std::to_string(port), {{"kubernetes", std::move(discovery)}}};
}

}  // namespace waygate::discovery::kubernetes
