// The dashboard's files as the admin listener serves them: every file of src/admin/dashboard/ is
// in the binary byte for byte, under the path the page asks for, with its content type.
#include "admin/dashboard_assets.h"

#include <gtest/gtest.h>

#include <string>

#include "core/file_bytes.h"

#ifndef WAYGATE_DASHBOARD_DIR
#error "WAYGATE_DASHBOARD_DIR names src/admin/dashboard"
#endif

namespace waygate::admin {
namespace {

std::string read_source(std::string_view name) {
  std::optional<std::string> bytes =
      read_file_bytes(std::string(WAYGATE_DASHBOARD_DIR) + "/" + std::string(name));
  EXPECT_TRUE(bytes) << name;
  return bytes.value_or("");
}

// Set member by member: the request may grow more fields (headers) than a test names.
AdminRequest request_for(std::string_view method, std::string_view path) {
  AdminRequest request;
  request.method = method;
  request.path = path;
  return request;
}

std::string header(const AdminResponse& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

TEST(DashboardAssets, EveryFileIsEmbeddedAsWritten) {
  ASSERT_EQ(dashboard_files().size(), 4u);
  for (const EmbeddedFile& file : dashboard_files()) {
    EXPECT_EQ(file.bytes, read_source(file.name)) << file.name;
  }
}

TEST(DashboardAssets, RootAndDashboardFolderServeThePage) {
  for (std::string_view path : {"/", "/dashboard/", "/dashboard/index.html"}) {
    std::optional<DashboardAsset> asset = find_dashboard_asset(path);
    ASSERT_TRUE(asset) << path;
    EXPECT_EQ(asset->content_type, "text/html; charset=utf-8");
    EXPECT_EQ(asset->bytes, read_source("index.html"));
  }
}

TEST(DashboardAssets, FilesHaveTheirContentTypes) {
  EXPECT_EQ(find_dashboard_asset("/dashboard/dashboard.js")->content_type,
            "text/javascript; charset=utf-8");
  EXPECT_EQ(find_dashboard_asset("/dashboard/dashboard.css")->content_type,
            "text/css; charset=utf-8");
  EXPECT_EQ(find_dashboard_asset("/dashboard/favicon.svg")->content_type, "image/svg+xml");
}

TEST(DashboardAssets, OtherPathsNameNothing) {
  for (std::string_view path :
       {"/dashboard", "/dashboard/nope.js", "/dashboard/../dashboard.js", "/index.html",
        "/dashboard/dashboard.js/", "/metrics", "/dashboard//dashboard.js"}) {
    EXPECT_FALSE(find_dashboard_asset(path)) << path;
  }
}

TEST(DashboardAssets, ResponseForbidsOutsideLoadsAndAsksAgainEachTime) {
  AdminResponse response = dashboard_response(request_for("GET", "/"));
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(header(response, "Cache-Control"), "no-cache");
  EXPECT_TRUE(header(response, "Content-Security-Policy").starts_with("default-src 'self'"));
  EXPECT_EQ(dashboard_response(request_for("HEAD", "/dashboard/dashboard.js")).status, 200);
}

TEST(DashboardAssets, UnknownFileIs404AndOtherMethods405) {
  EXPECT_EQ(dashboard_response(request_for("GET", "/dashboard/missing.css")).status, 404);
  AdminResponse post = dashboard_response(request_for("POST", "/"));
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(header(post, "Allow"), "GET, HEAD");
}

}  // namespace
}  // namespace waygate::admin
