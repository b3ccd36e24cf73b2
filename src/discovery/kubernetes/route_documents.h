// The one routes_source document of `routes_source: kubernetes` when it routes both Ingresses and
// Gateway API HTTPRoutes: the two documents' routes and clusters together.
#pragma once

#include <string>

namespace waygate::discovery::kubernetes {

// Both documents' routes (a host of `first`'s is left out of `second`'s, so that no host is
// routed twice whichever of the two saw a change first) and their clusters, each name once (the
// same Service port is the same cluster in both). "" for none; one document alone as it is.
std::string merge_route_documents(const std::string& first, const std::string& second);

}  // namespace waygate::discovery::kubernetes
