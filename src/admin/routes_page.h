// GET /routes: the running routes as JSON, in the config's order (routes from routes_source after
// the file's). GET /config writes its routes the same way.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "admin/json_writer.h"
#include "routing/config.h"

namespace waygate::admin {

// The routes as a JSON array: the config's, then the route entries' (a routes_dir's files, an
// etcd prefix's keys) in their order.
void write_routes(JsonWriter& out, const std::vector<routing::RouteConfig>& routes,
                  std::span<const routing::SharedRoutes> entries = {});
// {"routes": [...]}
std::string render_routes(const routing::Config& config,
                          std::span<const routing::SharedRoutes> entries = {});

}  // namespace waygate::admin
