// The admin API of a routes_dir: GET /routes_dir (every file, whether it serves, its errors) and
// GET, PUT and DELETE /routes/NAME, which read, replace and remove one file of the directory with
// optimistic concurrency (ETag / If-Match on the file's bytes). The entries of an etcd prefix are
// shown the same way; their edits are routes_etcd_page.h's.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_server.h"
#include "proxy/reloader.h"
#include "routing/route_entries.h"

namespace waygate::admin {

// {"directory": ..., "files": [{"name", "serving", "version", "routes", "clusters", "errors"}]};
// "prefix" instead of "directory" for an etcd prefix's entries.
std::string render_routes_dir(const routing::RouteEntries& dir);

// The entity tag of a file's bytes, quoted as an ETag header wants it.
std::string entity_tag(std::string_view bytes);

// The file that /routes/NAME stands for: NAME itself when it ends in .yaml or .yml, otherwise
// NAME.yml when only that exists, else NAME.yaml; nullopt when it cannot be a route file's name
// (hidden, a path, a character other than letters, digits, '.', '-' and '_').
std::optional<std::string> routes_file_for(std::string_view name, const routing::RouteEntries& dir);

// Answers GET, PUT and DELETE /routes/NAME. A PUT or DELETE is validated, written to the directory
// (a temporary file renamed into place) and applied through the reloader; `record` is told each
// outcome, for the reload history.
using RecordOutcomes = std::function<void(const std::vector<proxy::Reloader::FileOutcome>&)>;
AdminResponse answer_routes_file(const AdminRequest& request, std::string_view name,
                                 proxy::Reloader& reloader, const RecordOutcomes& record);

}  // namespace waygate::admin
