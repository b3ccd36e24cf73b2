#include "admin/dashboard_assets.h"

#include <string>
#include <utility>

namespace waygate::admin {
namespace {

constexpr std::string_view kPrefix = "/dashboard/";

// The page may load only what waygate itself serves: no inline script, nothing from elsewhere,
// and no other site may frame it (the admin address can reload and drain).
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string_view content_type_for(std::string_view name) {
  struct Type {
    std::string_view extension, content_type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".svg", "image/svg+xml"},
  };
  for (const Type& type : kTypes) {
    if (name.ends_with(type.extension)) return type.content_type;
  }
  return "application/octet-stream";
}

}  // namespace

bool is_dashboard_path(std::string_view path) {
  return path == "/" || path.starts_with(kPrefix);
}

std::optional<DashboardAsset> find_dashboard_asset(std::string_view path) {
  std::string_view name;
  if (path == "/" || path == kPrefix) {
    name = "index.html";
  } else if (path.starts_with(kPrefix)) {
    name = path.substr(kPrefix.size());
  } else {
    return std::nullopt;
  }
  for (const EmbeddedFile& file : dashboard_files()) {
    if (file.name == name) return DashboardAsset{content_type_for(file.name), file.bytes};
  }
  return std::nullopt;
}

AdminResponse dashboard_response(const AdminRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    AdminResponse response = AdminResponse::text(405, "405 Method Not Allowed\n");
    response.headers.emplace_back("Allow", "GET, HEAD");
    return response;
  }
  std::optional<DashboardAsset> asset = find_dashboard_asset(request.path);
  if (!asset) return AdminResponse::text(404, "404 Not Found\n");
  AdminResponse response =
      AdminResponse::with_type(200, std::string(asset->content_type), std::string(asset->bytes));
  // Asked for again on every load: after an upgrade the page matches the API that answers it.
  response.headers.emplace_back("Cache-Control", "no-cache");
  response.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return response;
}

}  // namespace waygate::admin
