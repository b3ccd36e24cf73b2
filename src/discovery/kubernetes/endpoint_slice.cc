#include "discovery/kubernetes/endpoint_slice.h"

#include "discovery/json_member.h"
#include "discovery/provider.h"
#include "routing/yaml_reader.h"

namespace waygate::discovery::kubernetes {
namespace {

using Json = nlohmann::json;

// A condition as the API gives it: true, false, or absent (nullopt).
std::optional<bool> condition(const Json& endpoint, const char* name) {
  const Json* conditions = json_member(endpoint, "conditions");
  const Json* value = conditions ? json_member(*conditions, name) : nullptr;
  if (!value || !value->is_boolean()) return std::nullopt;
  return value->get<bool>();
}

// The slice's port the selector names, or 0 with *error saying why there is none.
uint16_t pick_port(const Json& slice, const PortSelector& selector, std::string* error) {
  const Json* ports = json_member(slice, "ports");
  if (!ports || !ports->is_array() || ports->empty()) {
    *error = "the slice has no ports";
    return 0;
  }
  uint16_t only = 0;
  for (const Json& port : *ports) {
    const Json* number = json_member(port, "port");
    const Json* name = json_member(port, "name");
    if (!number || !number->is_number_unsigned() || *number == 0 || *number > 65535) continue;
    auto value = number->get<uint16_t>();
    std::string port_name = name && name->is_string() ? name->get<std::string>() : "";
    if (!selector.name.empty() && port_name == selector.name) return value;
    if (selector.number != 0 && value == selector.number) return value;
    if (selector.name.empty() && selector.number == 0) {
      if (only != 0) {
        *error = "the slice has several ports: name one (discovery.kubernetes.port)";
        return 0;
      }
      only = value;
    }
  }
  if (only != 0) return only;
  *error = !selector.name.empty() ? "no port named " + routing::quoted_value(selector.name)
                                  : "no port " + std::to_string(selector.number);
  return 0;
}

}  // namespace

std::optional<SliceEndpoints> parse_endpoint_slice(const Json& object, const PortSelector& selector,
                                                   std::string* error) {
  const Json* kind = json_member(object, "kind");
  // Watch events carry kind; LIST items often do not (the list's kind says it).
  if (kind && (!kind->is_string() || kind->get<std::string>() != "EndpointSlice")) {
    *error = "not an EndpointSlice";
    return std::nullopt;
  }
  const Json* metadata = json_member(object, "metadata");
  const Json* name = metadata ? json_member(*metadata, "name") : nullptr;
  if (!name || !name->is_string() || name->get<std::string>().empty()) {
    *error = "an EndpointSlice without metadata.name";
    return std::nullopt;
  }
  SliceEndpoints slice;
  slice.name = name->get<std::string>();
  const Json* address_type = json_member(object, "addressType");
  if (address_type && address_type->is_string() && *address_type == "FQDN") {
    slice.port_error = "addressType FQDN is not supported";
    return slice;
  }
  const Json* endpoints = json_member(object, "endpoints");
  if (!endpoints || endpoints->is_null()) return slice;  // a Service with no Pods: none
  if (!endpoints->is_array()) {
    *error = "endpoints is not a list";
    return std::nullopt;
  }
  uint16_t port = pick_port(object, selector, &slice.port_error);
  if (port == 0) return slice;
  for (const Json& endpoint : *endpoints) {
    if (condition(endpoint, "ready") == false || condition(endpoint, "terminating") == true) {
      ++slice.not_ready;
      continue;
    }
    const Json* addresses = json_member(endpoint, "addresses");
    if (!addresses || !addresses->is_array()) continue;
    // The API promises one address per endpoint (and consumers may take the first).
    for (const Json& address : *addresses) {
      if (!address.is_string()) continue;
      std::optional<routing::EndpointSpec> spec =
          endpoint_at(address.get<std::string>(), port, /*weight=*/1);
      if (!spec) continue;
      if (const Json* zone = json_member(endpoint, "zone"); zone && zone->is_string()) {
        spec->zone = zone->get<std::string>();
      }
      slice.endpoints.push_back(std::move(*spec));
      break;
    }
  }
  return slice;
}

Json trim_endpoint_slice(const Json& object) {
  Json trimmed = Json::object();
  auto copy = [](const Json& from, Json& to, const char* name) {
    if (const Json* value = json_member(from, name)) to[name] = *value;
  };
  copy(object, trimmed, "kind");
  copy(object, trimmed, "addressType");
  copy(object, trimmed, "ports");
  if (const Json* metadata = json_member(object, "metadata")) {
    Json& kept = trimmed["metadata"] = Json::object();
    copy(*metadata, kept, "name");
    if (const Json* labels = json_member(*metadata, "labels")) {
      Json& kept_labels = kept["labels"] = Json::object();
      copy(*labels, kept_labels, "kubernetes.io/service-name");
    }
  }
  const Json* endpoints = json_member(object, "endpoints");
  if (!endpoints || !endpoints->is_array()) {
    if (endpoints) trimmed["endpoints"] = *endpoints;  // for parse_endpoint_slice to refuse
    return trimmed;
  }
  Json& kept = trimmed["endpoints"] = Json::array();
  for (const Json& endpoint : *endpoints) {
    Json one = Json::object();
    copy(endpoint, one, "addresses");
    copy(endpoint, one, "zone");
    if (const Json* conditions = json_member(endpoint, "conditions")) {
      Json& kept_conditions = one["conditions"] = Json::object();
      copy(*conditions, kept_conditions, "ready");
      copy(*conditions, kept_conditions, "terminating");
    }
    kept.push_back(std::move(one));
  }
  return trimmed;
}

}  // namespace waygate::discovery::kubernetes
