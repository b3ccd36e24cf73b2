// Reading the `routes:` list: hosts, path matchers and actions, validated against the cluster
// names.
#pragma once

#include <set>
#include <string>

#include "routing/config.h"
#include "routing/yaml_reader.h"

namespace waygate::routing {

void read_routes(Reader& r, const YAML::Node& node, const std::set<std::string>& clusters,
                 Config& config);

// The llhttp method id for an upper-case method name, or -1.
int method_id(std::string_view name);

}  // namespace waygate::routing
