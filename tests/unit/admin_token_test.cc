// Who the admin API lets in: with a token set, only requests that carry it as a bearer token,
// except the dashboard's static pages; without one, everybody.
#include "admin/admin_token.h"

#include <gtest/gtest.h>

namespace waygate::admin {
namespace {

AdminRequest get(std::string_view path, std::string_view authorization = {}) {
  return AdminRequest{"GET", path, "", authorization};
}

TEST(AdminTokenTest, WithoutATokenEveryRequestIsAdmitted) {
  AdminToken token;
  EXPECT_FALSE(token.required());
  EXPECT_TRUE(token.admits(get("/config")));
  EXPECT_TRUE(token.admits(AdminRequest{"POST", "/drain", "", ""}));
}

TEST(AdminTokenTest, TheTokenAsBearerIsAdmitted) {
  AdminToken token("s3cret-token");
  EXPECT_TRUE(token.required());
  EXPECT_TRUE(token.admits(get("/config", "Bearer s3cret-token")));
  // The scheme is case-insensitive, and more than one space may follow it (RFC 9110 11.1).
  EXPECT_TRUE(token.admits(get("/config", "bearer s3cret-token")));
  EXPECT_TRUE(token.admits(get("/config", "BEARER   s3cret-token")));
}

TEST(AdminTokenTest, AMissingOrWrongTokenIsRefused) {
  AdminToken token("s3cret-token");
  EXPECT_FALSE(token.admits(get("/config")));
  EXPECT_FALSE(token.admits(get("/config", "Bearer wrong")));
  EXPECT_FALSE(token.admits(get("/config", "Bearer s3cret")));  // a prefix
  EXPECT_FALSE(token.admits(get("/config", "Bearer s3cret-token2")));
  EXPECT_FALSE(token.admits(get("/config", "Bearer S3CRET-TOKEN")));
  EXPECT_FALSE(token.admits(get("/config", "Bearer ")));
  EXPECT_FALSE(token.admits(get("/config", "Basic s3cret-token")));
  EXPECT_FALSE(token.admits(get("/config", "Bearers3cret-token")));
  EXPECT_FALSE(token.admits(get("/config", "s3cret-token")));
  EXPECT_FALSE(token.admits(AdminRequest{"POST", "/drain", "", ""}));
}

TEST(AdminTokenTest, DashboardPagesNeedNoToken) {
  AdminToken token("s3cret-token");
  EXPECT_TRUE(token.admits(get("/")));
  EXPECT_TRUE(token.admits(get("/dashboard/app.js")));
  EXPECT_TRUE(token.admits(AdminRequest{"HEAD", "/", "", ""}));
  EXPECT_FALSE(token.admits(AdminRequest{"POST", "/", "", ""}));
  EXPECT_FALSE(token.admits(get("/dashboard")));
  EXPECT_FALSE(token.admits(get("/dashboardx/app.js")));
}

TEST(AdminTokenTest, UnauthorizedNamesTheBearerScheme) {
  AdminResponse response = unauthorized();
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, R"({"error":"unauthorized"})");
  bool challenge = false;
  for (const auto& [name, value] : response.headers)
    challenge = challenge || (name == "WWW-Authenticate" && value == "Bearer realm=\"waygate\"");
  EXPECT_TRUE(challenge);
}

}  // namespace
}  // namespace waygate::admin
