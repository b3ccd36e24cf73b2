#include "routing/config_loader.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace waygate::routing {
namespace {

constexpr const char* kValid = R"(workers: 2
access_log: off
timeouts: { header_read: 5s, upstream_response: 250ms }
limits: { max_header_bytes: 16KiB, max_body_bytes: 1MiB }
listeners:
  - name: web
    address: 127.0.0.1:8080
routes:
  - hosts: ["API.example.com"]
    paths:
      - prefix: /v1/
        cluster: api
        timeout: 15s
        max_body_bytes: 10MiB
      - exact: /healthz
        cluster: api
clusters:
  - name: api
    lb: round_robin
    endpoints: [127.0.0.1:9001, "[::1]:9002"]
)";

TEST(ConfigLoader, ReadsAValidConfig) {
  ConfigResult result = load_config_text(kValid, "waygate.yaml");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  const Config& config = result.config;
  EXPECT_EQ(config.workers, 2u);
  EXPECT_EQ(config.access_log.path, "off");
  EXPECT_EQ(config.timeouts.header_read_ms, 5000u);
  EXPECT_EQ(config.timeouts.upstream_response_ms, 250u);
  EXPECT_EQ(config.timeouts.upstream_connect_ms, 5000u);  // default kept
  EXPECT_EQ(config.limits.max_header_bytes, 16u * 1024);
  ASSERT_EQ(config.routes.size(), 1u);
  EXPECT_EQ(config.routes[0].hosts[0], "api.example.com");
  ASSERT_EQ(config.routes[0].paths.size(), 2u);
  EXPECT_EQ(config.routes[0].paths[0].extras->limits->timeout_ms, 15000u);
  EXPECT_EQ(config.routes[0].paths[1].match, PathConfig::Match::kExact);
  ASSERT_EQ(config.clusters[0].endpoints.size(), 2u);
}

TEST(ConfigLoader, ARepeatedKeyIsAnErrorAtItsSecondPlace) {
  // yaml-cpp kept both and lookups found the first: the second was silently ignored.
  std::string text = std::string(kValid) + "workers: 3\n";
  int line = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  ConfigResult result = load_config_text(text, "waygate.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0],
            "waygate.yaml:" + std::to_string(line) + ":1: duplicate key 'workers' in the config");
}

TEST(ConfigLoader, NewKeysHaveTheirDefaults) {
  ConfigResult result = load_config_text(kValid, "waygate.yaml");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  const Config& config = result.config;
  EXPECT_EQ(config.limits.max_request_headers, 100u);
  EXPECT_EQ(config.limits.max_upstream_connections_per_endpoint, 4096u);
  EXPECT_EQ(config.limits.max_idle_upstream_per_endpoint, 0u);
  EXPECT_TRUE(config.normalize_paths.merge_slashes);
  EXPECT_EQ(config.normalize_paths.escaped_slashes, http::EscapedSlashes::kReject);
  EXPECT_EQ(config.routes[0].paths[0].extras->upgrades->protocols,
            std::vector<std::string>{"websocket"});
}

TEST(ConfigLoader, ReadsLimitsPathNormalisationAndUpgrades) {
  ConfigResult result = load_config_text(R"(limits:
  max_request_headers: 50
  max_upstream_connections_per_endpoint: 64
  max_idle_upstream_per_endpoint: 8
normalize_paths: { merge_slashes: false, escaped_slashes: unescape }
listeners: [{ name: web, address: 127.0.0.1:8080 }]
routes:
  - hosts: ["*"]
    paths:
      - { prefix: /ws, cluster: a, upgrades: [WebSocket, x-Custom] }
      - { prefix: /none, cluster: a, upgrades: [] }
clusters: [{ name: a, endpoints: [127.0.0.1:1] }]
)",
                                         "new.yaml");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  const Config& config = result.config;
  EXPECT_EQ(config.limits.max_request_headers, 50u);
  EXPECT_EQ(config.limits.max_upstream_connections_per_endpoint, 64u);
  EXPECT_EQ(config.limits.max_idle_upstream_per_endpoint, 8u);
  EXPECT_FALSE(config.normalize_paths.merge_slashes);
  EXPECT_EQ(config.normalize_paths.escaped_slashes, http::EscapedSlashes::kUnescape);
  EXPECT_EQ(config.routes[0].paths[0].extras->upgrades->protocols,
            (std::vector<std::string>{"websocket", "x-custom"}));
  EXPECT_TRUE(config.routes[0].paths[1].extras->upgrades->protocols.empty());
}

// HTTP/2: on by default only where a client asks for it knowingly (ALPN on TLS); h2c prior
// knowledge on a plain listener is turned on in the config.
TEST(ConfigLoader, ListenerHttp2DefaultsAndLimits) {
  ConfigResult result =
      load_config_text(R"(limits: { http2_max_concurrent_streams: 8, http2_initial_window: 1MiB }
listeners:
  - { name: plain, address: 127.0.0.1:8080 }
  - { name: h2c, address: 127.0.0.1:8081, http2: true }
routes: [{ hosts: ["*"], paths: [{ prefix: /, cluster: a }] }]
clusters: [{ name: a, endpoints: [127.0.0.1:1] }]
)",
                       "h2.yaml");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  const Config& config = result.config;
  EXPECT_FALSE(config.listeners[0].http2);
  EXPECT_TRUE(config.listeners[1].http2);
  EXPECT_EQ(config.limits.http2_max_concurrent_streams, 8u);
  EXPECT_EQ(config.limits.http2_initial_window_bytes, 1024u * 1024);

  ConfigResult defaults = load_config_text(kValid, "waygate.yaml");
  EXPECT_EQ(defaults.config.limits.http2_max_concurrent_streams, 100u);
  EXPECT_EQ(defaults.config.limits.http2_initial_window_bytes, 64u * 1024);
}

TEST(ConfigLoader, Http2LimitsOutOfRangeAreRefused) {
  ConfigResult result =
      load_config_text(R"(limits: { http2_max_concurrent_streams: 0, http2_initial_window: 1KiB }
listeners: [{ name: web, address: 127.0.0.1:8080, http2: maybe }]
routes: [{ hosts: ["*"], paths: [{ prefix: /, cluster: a }] }]
clusters: [{ name: a, endpoints: [127.0.0.1:1] }]
)",
                       "h2.yaml");
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_NE(result.errors[0].find("limits.http2_max_concurrent_streams"), std::string::npos)
      << result.errors[0];
  EXPECT_NE(result.errors[1].find("limits.http2_initial_window must be between 16KiB and 2GiB-1"),
            std::string::npos)
      << result.errors[1];
  EXPECT_NE(result.errors[2].find("listener http2"), std::string::npos) << result.errors[2];
}

TEST(ConfigLoader, EscapedSlashesKeepIsRead) {
  ConfigResult result = load_config_text(
      "normalize_paths: { escaped_slashes: keep }\n"
      "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n",
      "keep.yaml");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  EXPECT_TRUE(result.config.normalize_paths.merge_slashes);
  EXPECT_EQ(result.config.normalize_paths.escaped_slashes, http::EscapedSlashes::kKeep);
}

TEST(ConfigLoader, ReportsEveryErrorWithItsPosition) {
  ConfigResult result = load_config_text(R"(listeners:
  - name: web
    address: 127.0.0.1:8080
    colour: blue
timeouts:
  header_read: soon
routes:
  - hosts: ["a.example"]
    paths:
      - prefix: /
        cluster: missing
clusters: []
)",
                                         "bad.yaml");
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_EQ(result.errors[0], "bad.yaml:4:5: unknown key 'colour' in listener");
  EXPECT_EQ(result.errors[1],
            "bad.yaml:6:16: timeouts.header_read: 'soon' is not a duration (like 500ms, 2s, 1m)");
  EXPECT_EQ(result.errors[2], "bad.yaml:11:18: unknown cluster 'missing'");
}

TEST(ConfigLoader, DuplicateNamesAreRefused) {
  ConfigResult result = load_config_text(R"(listeners:
  - { name: web, address: 127.0.0.1:8080 }
  - { name: web, address: 127.0.0.1:8081 }
clusters:
  - { name: a, endpoints: [] }
  - { name: a, endpoints: [] }
)",
                                         "dup.yaml");
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_NE(result.errors[0].find("duplicate listener name 'web'"), std::string::npos);
  EXPECT_NE(result.errors[1].find("duplicate cluster name 'a'"), std::string::npos);
}

TEST(ConfigLoader, BadAddressesAreRefused) {
  ConfigResult result = load_config_text(R"(listeners:
  - { name: web, address: "localhost:http" }
clusters:
  - { name: a, endpoints: ["example.com:http", 10.0.0.1:80] }
)",
                                         "addr.yaml");
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_NE(result.errors[0].find("addr.yaml:2:27: listener address"), std::string::npos);
  EXPECT_NE(result.errors[1].find("endpoint 'example.com:http' is not IP:PORT or NAME:PORT"),
            std::string::npos);
}

TEST(ConfigLoader, YamlSyntaxErrorsCarryAPosition) {
  ConfigResult result = load_config_text("listeners: [\n", "broken.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_TRUE(result.errors[0].starts_with("broken.yaml:")) << result.errors[0];
}

TEST(ConfigLoader, MissingFileIsAnError) {
  ConfigResult result = load_config_file("/nonexistent/waygate.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0], "/nonexistent/waygate.yaml:1:1: cannot open the file");
}

TEST(ConfigLoader, PathsMustStartWithSlashAndNameOneMatch) {
  ConfigResult result = load_config_text(R"(listeners: [{ name: web, address: 127.0.0.1:8080 }]
routes:
  - hosts: ["*"]
    paths:
      - { prefix: api, cluster: a }
      - { prefix: /, exact: /, cluster: a }
clusters: [{ name: a, endpoints: [127.0.0.1:1] }]
)",
                                         "paths.yaml");
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_NE(result.errors[0].find("must start with '/'"), std::string::npos);
  EXPECT_NE(result.errors[1].find("a path takes only one of: prefix, exact, regex"),
            std::string::npos);
}

std::vector<std::string> errors_for_path(const std::string& path) {
  std::string text =
      "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
      "routes:\n"
      "  - hosts: [\"*\"]\n"
      "    paths:\n" +
      path + "clusters: [{ name: a, endpoints: [127.0.0.1:1] }]\n";
  return load_config_text(text, "p.yaml").errors;
}

// Paths that answer alike share one response as they are read: each path still answers with its
// own status, body and headers when they differ in only one of them.
TEST(ConfigLoader, PathsThatAnswerAlikeShareOneResponseAndTheRestKeepTheirOwn) {
  ConfigResult result = load_config_text(
      "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
      "routes:\n"
      "  - hosts: [a.test]\n"
      "    paths:\n"
      "      - { exact: /one, respond: { status: 200, body: ok } }\n"
      "      - { exact: /two, respond: { status: 200, body: ok, headers: { x-a: b } } }\n"
      "      - { exact: /three, respond: { status: 503, body: ok } }\n"
      "  - hosts: [b.test]\n"
      "    paths:\n"
      "      - { exact: /one, respond: { status: 200, body: ok } }\n"
      "      - { exact: /named, name: health, respond: { status: 200, body: ok } }\n"
      "      - { exact: /unnamed, respond: { status: 200, body: ok } }\n",
      "p.yaml");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  const std::vector<PathConfig>& a = result.config.routes[0].paths;
  const PathConfig& b_one = result.config.routes[1].paths[0];
  EXPECT_TRUE(a[0].extras->respond->headers.empty());
  ASSERT_EQ(a[1].extras->respond->headers.size(), 1u);
  EXPECT_EQ(a[1].extras->respond->headers[0].first, "x-a");
  EXPECT_EQ(a[2].extras->respond->status, 503);
  EXPECT_EQ(a[0].extras->respond->status, 200);
  EXPECT_EQ(b_one.extras->respond->body, "ok");
  EXPECT_TRUE(b_one.extras->respond->headers.empty());
  EXPECT_EQ(*result.config.routes[1].paths[1].extras->name, "health");
  EXPECT_EQ(*result.config.routes[1].paths[2].extras->name, "");
}

// Paths that forward alike share one cluster list as they are read: a list with other weights,
// or the same clusters in another order, stays the path's own.
TEST(ConfigLoader, PathsThatForwardAlikeShareOneClusterListAndTheRestKeepTheirOwn) {
  ConfigResult result = load_config_text(
      "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
      "routes:\n"
      "  - hosts: [a.test]\n"
      "    paths:\n"
      "      - { prefix: /1, clusters: [{ name: a, weight: 1 }, { name: b, weight: 3 }] }\n"
      "      - { prefix: /2, clusters: [{ name: a, weight: 3 }, { name: b, weight: 1 }] }\n"
      "      - { prefix: /3, clusters: [{ name: b, weight: 1 }, { name: a, weight: 3 }] }\n"
      "      - { prefix: /4, clusters: [{ name: a, weight: 1 }, { name: b, weight: 3 }] }\n"
      "clusters: [{ name: a, endpoints: [127.0.0.1:1] }, { name: b, endpoints: [127.0.0.1:2] }]\n",
      "p.yaml");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  auto listed = [&](size_t i) {
    std::string text;
    for (const WeightedCluster& cluster : *result.config.routes[0].paths[i].clusters)
      text += cluster.name + "=" + std::to_string(cluster.weight) + " ";
    return text;
  };
  EXPECT_EQ(listed(0), "a=1 b=3 ");
  EXPECT_EQ(listed(1), "a=3 b=1 ");
  EXPECT_EQ(listed(2), "b=1 a=3 ");
  EXPECT_EQ(listed(3), "a=1 b=3 ");
}

TEST(ConfigLoader, InvalidRegexIsRefusedWithRe2sReason) {
  auto errors = errors_for_path("      - { regex: \"/a(\", cluster: a }\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("p.yaml:5:18: invalid regex '/a(': missing )"), std::string::npos)
      << errors[0];
}

TEST(ConfigLoader, ConflictingActionsAreRefused) {
  auto errors = errors_for_path("      - { prefix: /, cluster: a, respond: { status: 200 } }\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("takes only one of: cluster, clusters, redirect, respond"),
            std::string::npos);
}

TEST(ConfigLoader, MatcherWithTwoConditionsIsRefused) {
  auto errors = errors_for_path(
      "      - { prefix: /, cluster: a, headers: [{ name: x, exact: a, regex: b }] }\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("headers matcher takes only one of: present, exact, regex"),
            std::string::npos);
}

TEST(ConfigLoader, UnknownMethodAndBadWeightAreRefused) {
  auto errors = errors_for_path(
      "      - { prefix: /, methods: [FETCH], clusters: [{ name: a, weight: 0 }] }\n");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("unknown method 'FETCH'"), std::string::npos);
  EXPECT_NE(errors[1].find("weight must be between 1 and 1000000"), std::string::npos);
}

TEST(ConfigLoader, RewriteNeedsAForwardingPrefixRoute) {
  auto errors = errors_for_path(
      "      - { exact: /a, cluster: a, rewrite: { prefix: /b } }\n"
      "      - { prefix: /, redirect: { code: 302 }, rewrite: { host: x } }\n");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("rewrite prefix needs a prefix path match"), std::string::npos);
  EXPECT_NE(errors[1].find("rewrite applies to cluster or clusters only"), std::string::npos);
}

TEST(ConfigLoader, BadRedirectAndRespondValuesAreRefused) {
  auto errors = errors_for_path(
      "      - { prefix: /, redirect: { code: 200, scheme: ftp } }\n"
      "      - { prefix: /, respond: { status: 99 } }\n");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("redirect code must be"), std::string::npos);
  EXPECT_NE(errors[1].find("redirect scheme must be http or https"), std::string::npos);
  EXPECT_NE(errors[2].find("status must be between 200 and 599"), std::string::npos);
}

TEST(ConfigLoader, RetryConditionsAreChecked) {
  auto errors = errors_for_path(
      "      - { prefix: /, cluster: a, retry: { attempts: 11, on: [sometimes] } }\n");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("retry attempts must be between 0 and 10"), std::string::npos);
  EXPECT_NE(errors[1].find("retry condition 'sometimes'"), std::string::npos);
}

}  // namespace
}  // namespace waygate::routing
