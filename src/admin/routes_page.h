// GET /routes: the running routes as JSON, in the config's order (routes from routes_source after
// the file's). GET /config writes its routes the same way.
#pragma once

#include <string>
#include <vector>

#include "admin/json_writer.h"
#include "routing/config.h"

namespace waygate::admin {

// The routes as a JSON array.
void write_routes(JsonWriter& out, const std::vector<routing::RouteConfig>& routes);
// {"routes": [...]}
std::string render_routes(const routing::Config& config);

}  // namespace waygate::admin
