// Reading the `routes:` list: hosts, path matchers and actions, validated against the cluster
// names.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <unordered_set>

#include "routing/config.h"
#include "routing/yaml_reader.h"

namespace waygate::routing {

// Host names read so far, as views of the names in the routes read: those routes must stay
// where they are (moving a Config or its route list is fine) while the set is in use.
using HostsSeen = std::unordered_set<std::string_view>;

// `hosts_seen` collects host names across documents, so a host is in one route entry only.
// `taken`, when given, holds the hosts other documents route (a routes_dir's files): one of them
// is an error naming its owner, unless the owner is this document.
void read_routes(Reader& r, const yaml::Node& node, const std::set<std::string>& clusters,
                 HostsSeen& hosts_seen, Config& config, const NameClaims& taken = {});

// The llhttp method id for an upper-case method name, or -1.
int method_id(std::string_view name);

// Header names waygate manages itself, in any case: a route may not add or set them, nor remove
// those of the second kind. The Kubernetes conversions leave such an edit out rather than have the
// document refused whole for it.
bool managed_on_add(std::string_view header_name);
bool managed_on_remove(std::string_view header_name);

}  // namespace waygate::routing
