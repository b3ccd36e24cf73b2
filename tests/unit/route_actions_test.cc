// Route actions: weighted clusters, rewrites, redirects and fixed responses, as compiled.
#include <gtest/gtest.h>

#include "routing/config_loader.h"
#include "routing/snapshot.h"

namespace waygate::routing {
namespace {

std::string redirect_location(const RouteAction& route, std::string_view host,
                              std::string_view path, std::string_view query) {
  std::string out;
  append_redirect_location(out, route, host, path, query);
  return out;
}

std::shared_ptr<const Snapshot> snapshot_with_path(const std::string& path) {
  std::string text =
      "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
      "routes:\n"
      "  - hosts: [\"*\"]\n"
      "    paths:\n" +
      path +
      "clusters:\n"
      "  - { name: a, endpoints: [127.0.0.1:1] }\n"
      "  - { name: b, endpoints: [127.0.0.1:2] }\n";
  ConfigResult result = load_config_text(text, "test.yaml");
  EXPECT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors.front());
  return build_snapshot(result.config);
}

TEST(RouteActions, WeightedClustersSplitByCumulativeWeight) {
  auto snapshot = snapshot_with_path(
      "      - { prefix: /, clusters: [{ name: a, weight: 3 }, { name: b, weight: 1 }] }\n");
  const RouteAction* action = snapshot->routes.match("h", "/");
  ASSERT_NE(action, nullptr);
  EXPECT_EQ(action->total_weight, 4u);
  int to_a = 0;
  for (uint32_t pick = 0; pick < action->total_weight; ++pick) {
    to_a += snapshot->clusters[action->cluster_for(pick)].name == "a" ? 1 : 0;
  }
  EXPECT_EQ(to_a, 3);
}

TEST(RouteActions, PrefixRewriteKeepsTheRestAndTheQuery) {
  auto snapshot =
      snapshot_with_path("      - { prefix: /v1/, rewrite: { prefix: / }, cluster: a }\n");
  const RouteAction* action = snapshot->routes.match("h", "/v1/users?x=1");
  ASSERT_NE(action, nullptr);
  std::string target;
  append_rewritten_target(target, *action, "/v1/users", "?x=1");
  EXPECT_EQ(target, "/users?x=1");
  target.clear();
  append_rewritten_target(target, *action, "/v1/", "");
  EXPECT_EQ(target, "/");
}

TEST(RouteActions, ASegmentPrefixRewrittenToSlashKeepsOneSlash) {
  auto snapshot = snapshot_with_path(
      "      - { prefix: /app, segments: true, rewrite: { prefix: / }, cluster: a }\n");
  const RouteAction* action = snapshot->routes.match("h", "/app/x");
  ASSERT_NE(action, nullptr);
  std::string target;
  append_rewritten_target(target, *action, "/app/x", "?q");
  EXPECT_EQ(target, "/x?q");
  target.clear();
  append_rewritten_target(target, *action, "/app", "");
  EXPECT_EQ(target, "/");
}

TEST(RouteActions, AllowFromAdmitsClientsInItsRangesOnly) {
  auto snapshot = snapshot_with_path(
      "      - { prefix: /, allow_from: [10.0.0.0/8, \"2001:db8::/32\"], cluster: a }\n");
  const RouteAction* action = snapshot->routes.match("h", "/");
  ASSERT_NE(action, nullptr);
  auto address = [](std::string_view text) {
    std::optional<AddressRange> range = AddressRange::parse(text);
    EXPECT_TRUE(range) << text;
    return range ? range->bytes : std::array<uint8_t, 16>{};
  };
  EXPECT_TRUE(action->admits(address("10.1.2.3")));
  EXPECT_TRUE(action->admits(address("2001:db8::1")));
  EXPECT_FALSE(action->admits(address("11.0.0.1")));
  EXPECT_FALSE(action->admits(address("127.0.0.1")));
  EXPECT_FALSE(action->admits(address("2001:db9::1")));
  // Host bits past the prefix are a mistake, refused.
  EXPECT_FALSE(AddressRange::parse("10.0.0.1/8"));
  EXPECT_FALSE(AddressRange::parse("10.0.0.0/33"));
  EXPECT_TRUE(AddressRange::parse("10.0.0.1"));
}

TEST(RouteActions, HostRewriteAndHeaderEditsAreCompiled) {
  auto snapshot = snapshot_with_path(
      "      - prefix: /\n"
      "        cluster: a\n"
      "        rewrite: { host: api.internal }\n"
      "        request_headers: { add: { X-Env: prod }, remove: [X-Debug] }\n"
      "        response_headers: { add: { Cache-Control: no-store }, remove: [Server] }\n");
  const RouteAction* action = snapshot->routes.match("h", "/");
  ASSERT_NE(action, nullptr);
  EXPECT_EQ(action->settings->extras->rewrite->host, "api.internal");
  ASSERT_EQ(action->settings->extras->request_headers->add.size(), 1u);
  EXPECT_EQ(action->settings->extras->request_headers->add[0].first, "X-Env");
  EXPECT_EQ(action->settings->extras->request_headers->remove, std::vector<std::string>{"X-Debug"});
  EXPECT_EQ(action->settings->extras->response_headers->remove, std::vector<std::string>{"Server"});
}

TEST(RouteActions, RedirectReplacesSchemeHostAndPathKeepingTheQuery) {
  auto snapshot = snapshot_with_path(
      "      - { prefix: /, redirect: { scheme: https, host: www.example.com, path: /new, code: "
      "308 } "
      "}\n");
  const RouteAction* action = snapshot->routes.match("h", "/old?a=1");
  ASSERT_NE(action, nullptr);
  EXPECT_EQ(action->kind, RouteAction::Kind::kRedirect);
  EXPECT_EQ(action->settings->extras->redirect->code, 308);
  EXPECT_EQ(redirect_location(*action, "example.com:8080", "/old", "?a=1"),
            "https://www.example.com/new?a=1");
}

TEST(RouteActions, RedirectByDefaultKeepsHostAndPath) {
  auto snapshot = snapshot_with_path("      - { prefix: /, redirect: { scheme: https } }\n");
  const RouteAction* action = snapshot->routes.match("h", "/a/b");
  ASSERT_NE(action, nullptr);
  EXPECT_EQ(action->settings->extras->redirect->code, 301);
  EXPECT_EQ(redirect_location(*action, "example.com", "/a/b", ""), "https://example.com/a/b");
}

TEST(RouteActions, RedirectPortReplacesTheRequestPort) {
  auto snapshot = snapshot_with_path("      - { prefix: /, redirect: { port: 8443 } }\n");
  const RouteAction* action = snapshot->routes.match("h", "/");
  ASSERT_NE(action, nullptr);
  EXPECT_EQ(redirect_location(*action, "example.com:8080", "/x", ""), "http://example.com:8443/x");
  EXPECT_EQ(redirect_location(*action, "[::1]:8080", "/x", ""), "http://[::1]:8443/x");
}

TEST(RouteActions, RedirectPrefixReplacesTheMatchedPrefix) {
  auto snapshot =
      snapshot_with_path("      - { prefix: /old/, redirect: { prefix: /new/, code: 302 } }\n");
  const RouteAction* action = snapshot->routes.match("h", "/old/page");
  ASSERT_NE(action, nullptr);
  EXPECT_EQ(redirect_location(*action, "h", "/old/page", "?q"), "http://h/new/page?q");
}

TEST(RouteActions, RedirectBodyNamesItsOwnCode) {
  auto snapshot = snapshot_with_path(
      "      - { prefix: /a, redirect: { path: /x } }\n"
      "      - { prefix: /b, redirect: { path: /x, code: 302 } }\n"
      "      - { prefix: /c, redirect: { path: /x, code: 303 } }\n"
      "      - { prefix: /d, redirect: { path: /x, code: 307 } }\n"
      "      - { prefix: /e, redirect: { path: /x, code: 308 } }\n");
  auto body = [&](std::string_view target) {
    const RouteAction* action = snapshot->routes.match("h", target);
    return action ? std::string(action->redirect_body()) : "none";
  };
  EXPECT_EQ(body("/a"), "301 Moved Permanently\n");
  EXPECT_EQ(body("/b"), "302 Found\n");
  EXPECT_EQ(body("/c"), "303 See Other\n");
  EXPECT_EQ(body("/d"), "307 Temporary Redirect\n");
  EXPECT_EQ(body("/e"), "308 Permanent Redirect\n");
}

TEST(RouteActions, RespondCarriesStatusBodyAndHeaders) {
  auto snapshot = snapshot_with_path(
      "      - { exact: /healthz, respond: { status: 200, body: \"ok\\n\", headers: { X-A: b } } "
      "}\n");
  const RouteAction* action = snapshot->routes.match("h", "/healthz");
  ASSERT_NE(action, nullptr);
  EXPECT_EQ(action->kind, RouteAction::Kind::kRespond);
  EXPECT_EQ(action->settings->extras->respond->status, 200);
  EXPECT_EQ(action->settings->extras->respond->body, "ok\n");
  ASSERT_EQ(action->settings->extras->respond->headers.size(), 1u);
}

TEST(RouteActions, RedirectWithoutAHostToNameIsAPathOnTheSameHost) {
  auto snapshot = snapshot_with_path("      - { prefix: /old/, redirect: { prefix: /new/ } }\n");
  const RouteAction* action = snapshot->routes.match("h", "/old/page");
  ASSERT_NE(action, nullptr);
  EXPECT_EQ(redirect_location(*action, "", "/old/page", "?q"), "/new/page?q");
}

}  // namespace
}  // namespace waygate::routing
