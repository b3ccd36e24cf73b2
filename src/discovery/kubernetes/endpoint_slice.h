// What waygate takes from an EndpointSlice (discovery.k8s.io/v1): the addresses of its endpoints
// that may get new requests (ready, not terminating) on the port a cluster names.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "routing/topology.h"

namespace waygate::discovery::kubernetes {

// Which of a slice's ports: by name (the Service port's), by number (the endpoints' own), or
// neither (the slice's only port).
struct PortSelector {
  std::string name;
  uint16_t number = 0;
};

struct SliceEndpoints {
  std::string name;  // metadata.name, the slice's key within its Service
  std::vector<routing::EndpointSpec> endpoints;
  size_t not_ready = 0;    // endpoints left out as not ready (or terminating)
  std::string port_error;  // why no port was picked ("no port named 'http'"); empty when one was
};

// nullopt, with *error, for an object that is not an EndpointSlice with a name. An endpoint is
// taken when conditions.ready is true or absent (the API says to read absent as ready) and
// conditions.terminating is not true. Addresses that are not IPs (addressType FQDN) are skipped.
std::optional<SliceEndpoints> parse_endpoint_slice(const nlohmann::json& object,
                                                   const PortSelector& port, std::string* error);

// The members of a slice parse_endpoint_slice reads, and its name and Service label, and no
// others (a Pod's targetRef, nodeName, hints, managedFields...): what a watch shared by many
// Services keeps of each.
nlohmann::json trim_endpoint_slice(const nlohmann::json& object);

}  // namespace waygate::discovery::kubernetes
