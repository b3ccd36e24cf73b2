// The dashboard's files (src/admin/dashboard/), built into the binary, and the admin answer that
// serves them: the page at "/" (and "/dashboard/"), its script, style and icon under "/dashboard/".
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "admin/admin_server.h"

namespace waygate::admin {

struct EmbeddedFile {
  std::string_view name;  // relative to src/admin/dashboard/: "index.html", "dashboard.js"
  std::string_view bytes;
};

// Every file of src/admin/dashboard/; defined in dashboard_files.cc, which the build generates.
std::span<const EmbeddedFile> dashboard_files();

struct DashboardAsset {
  std::string_view content_type;
  std::string_view bytes;
};

// The asset an admin path names, or nothing when the path names none.
std::optional<DashboardAsset> find_dashboard_asset(std::string_view path);

// True for the paths the dashboard owns: "/" and everything under "/dashboard/".
bool is_dashboard_path(std::string_view path);

// The answer to a request for a dashboard path: the asset (GET and HEAD only), 404 or 405.
AdminResponse dashboard_response(const AdminRequest& request);

}  // namespace waygate::admin
