#include "routing/route_table.h"

#include <gtest/gtest.h>

#include "routing/config_loader.h"
#include "routing/snapshot.h"

namespace waygate::routing {
namespace {

std::shared_ptr<const Snapshot> snapshot_of(const char* routes) {
  std::string text = std::string("listeners: [{ name: web, address: 127.0.0.1:8080 }]\n") + routes +
                     "clusters:\n"
                     "  - { name: exact, endpoints: [127.0.0.1:1] }\n"
                     "  - { name: wild, endpoints: [127.0.0.1:2] }\n"
                     "  - { name: deep, endpoints: [127.0.0.1:3] }\n"
                     "  - { name: any, endpoints: [127.0.0.1:4] }\n"
                     "  - { name: health, endpoints: [127.0.0.1:5] }\n";
  ConfigResult result = load_config_text(text, "test.yaml");
  EXPECT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors.front());
  return build_snapshot(result.config);
}

constexpr const char* kRoutes = R"(routes:
  - hosts: ["api.example.com"]
    paths:
      - { exact: /healthz, cluster: health }
      - { prefix: /v1/, cluster: exact }
  - hosts: ["*.example.com"]
    paths: [{ prefix: /, cluster: wild }]
  - hosts: ["*.eu.example.com"]
    paths: [{ prefix: /, cluster: deep }]
  - hosts: ["*"]
    paths: [{ prefix: /, cluster: any }]
)";

std::string cluster_for(const Snapshot& snapshot, std::string_view host, std::string_view target) {
  const RouteAction* action = snapshot.routes.match(host, target);
  return action ? snapshot.clusters[action->cluster_for(0)].name : "none";
}

TEST(RouteTable, ExactHostBeatsWildcardAndCatchAll) {
  auto snapshot = snapshot_of(kRoutes);
  EXPECT_EQ(cluster_for(*snapshot, "api.example.com", "/v1/users"), "exact");
  EXPECT_EQ(cluster_for(*snapshot, "www.example.com", "/v1/users"), "wild");
  EXPECT_EQ(cluster_for(*snapshot, "other.test", "/"), "any");
}

TEST(RouteTable, LongestWildcardSuffixWins) {
  auto snapshot = snapshot_of(kRoutes);
  EXPECT_EQ(cluster_for(*snapshot, "shop.eu.example.com", "/"), "deep");
  EXPECT_EQ(cluster_for(*snapshot, "a.b.example.com", "/"), "wild");
  // A wildcard needs at least one label before its suffix.
  EXPECT_EQ(cluster_for(*snapshot, "example.com", "/"), "any");
  EXPECT_EQ(cluster_for(*snapshot, ".eu.example.com", "/"), "wild");
}

TEST(RouteTable, HostIsCaseInsensitiveAndPortIsIgnored) {
  auto snapshot = snapshot_of(kRoutes);
  EXPECT_EQ(cluster_for(*snapshot, "API.Example.COM:8080", "/v1/x"), "exact");
  EXPECT_EQ(cluster_for(*snapshot, "api.example.com.", "/v1/x"), "exact");
}

TEST(RouteTable, PathsMatchInFileOrderIgnoringQuery) {
  auto snapshot = snapshot_of(kRoutes);
  EXPECT_EQ(cluster_for(*snapshot, "api.example.com", "/healthz"), "health");
  EXPECT_EQ(cluster_for(*snapshot, "api.example.com", "/healthz?full=1"), "health");
  EXPECT_EQ(cluster_for(*snapshot, "api.example.com", "/healthz/more"), "none");
  EXPECT_EQ(cluster_for(*snapshot, "api.example.com", "/v2/"), "none");
}

TEST(RouteTable, NoCatchAllMeansUnknownHostsDoNotMatch) {
  auto snapshot = snapshot_of(R"(routes:
  - hosts: ["api.example.com"]
    paths: [{ prefix: /, cluster: exact }]
)");
  EXPECT_EQ(cluster_for(*snapshot, "other.example.com", "/"), "none");
  EXPECT_EQ(cluster_for(*snapshot, "", "/"), "none");
}

TEST(RouteTable, RouteSettingsOverrideDefaults) {
  auto snapshot = snapshot_of(R"(routes:
  - hosts: ["*"]
    paths:
      - { prefix: /slow, cluster: any, timeout: 90s, max_body_bytes: 1KiB }
      - { prefix: /, cluster: any }
)");
  const RouteAction* slow = snapshot->routes.match("x", "/slow");
  ASSERT_NE(slow, nullptr);
  EXPECT_EQ(slow->upstream_response_ms, 90000u);
  EXPECT_EQ(slow->max_body_bytes, 1024u);
  const RouteAction* other = snapshot->routes.match("x", "/");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->upstream_response_ms, 30000u);
  EXPECT_EQ(other->max_body_bytes, 0u);
}

}  // namespace
}  // namespace waygate::routing
