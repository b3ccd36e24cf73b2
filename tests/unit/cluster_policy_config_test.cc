// Loading a cluster's load-balancing, health and overload keys and a route's retry: the defaults,
// the values and the errors that docs/config.md ("Load balancing", "Retries", "Health checks",
// "Outlier detection") promises.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "routing/config_loader.h"

namespace waygate::routing {
namespace {

// One cluster `a`; `keys` (each line indented four spaces) start on line 5.
std::string config_with_cluster_keys(const std::string& keys) {
  return "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
         "clusters:\n"
         "  - name: a\n"
         "    endpoints: [127.0.0.1:9001]\n" +
         keys + "routes: [{ hosts: ['*'], paths: [{ prefix: /, cluster: a }] }]\n";
}

// One route to cluster `a`; `keys` (each line indented eight spaces) start on line 8.
std::string config_with_path_keys(const std::string& keys) {
  return "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
         "clusters: [{ name: a, endpoints: [127.0.0.1:9001] }]\n"
         "routes:\n"
         "  - hosts: ['*']\n"
         "    paths:\n"
         "      - prefix: /\n"
         "        cluster: a\n" +
         keys;
}

std::string first_error(const ConfigResult& result) {
  return result.errors.empty() ? "" : result.errors.front();
}

// The cluster `a` of a valid config; a failed load fails the test.
ClusterConfig cluster_with_keys(const std::string& keys) {
  ConfigResult result = load_config_text(config_with_cluster_keys(keys), "c.yaml");
  EXPECT_TRUE(result.ok()) << first_error(result);
  return result.ok() ? result.config.clusters.at(0) : ClusterConfig{};
}

RetryConfig retry_with_keys(const std::string& keys) {
  ConfigResult result = load_config_text(config_with_path_keys(keys), "r.yaml");
  EXPECT_TRUE(result.ok()) << first_error(result);
  return result.ok() ? *result.config.routes.at(0).paths.at(0).extras->retry : RetryConfig{};
}

std::vector<std::string> errors_for_cluster_keys(const std::string& keys) {
  return load_config_text(config_with_cluster_keys(keys), "c.yaml").errors;
}

std::vector<std::string> errors_for_path_keys(const std::string& keys) {
  return load_config_text(config_with_path_keys(keys), "r.yaml").errors;
}

using StatusRanges = std::vector<std::pair<uint16_t, uint16_t>>;

// --- Defaults ---

TEST(ClusterPolicyConfig, ClusterWithoutPolicyKeysGetsTheDocumentedDefaults) {
  ClusterConfig cluster = cluster_with_keys("");
  EXPECT_EQ(cluster.lb, LbPolicy::kRoundRobin);
  EXPECT_EQ(cluster.hash_on.kind, HashOnConfig::Kind::kNone);
  EXPECT_TRUE(cluster.sticky.cookie.empty());      // no sticky sessions
  EXPECT_FALSE(cluster.health_check.has_value());  // active checks only when asked for

  // Outlier detection is on by default.
  EXPECT_TRUE(cluster.outlier.enabled);
  EXPECT_EQ(cluster.outlier.consecutive_5xx, 0u);  // off
  EXPECT_EQ(cluster.outlier.consecutive_connect_failures, 3u);
  EXPECT_EQ(cluster.outlier.consecutive_timeouts, 3u);
  EXPECT_EQ(cluster.outlier.base_ejection_ms, 30'000u);
  EXPECT_EQ(cluster.outlier.max_ejection_ms, 300'000u);
  EXPECT_EQ(cluster.outlier.max_ejection_percent, 50u);

  EXPECT_EQ(cluster.panic_threshold_percent, 50u);
  EXPECT_EQ(cluster.circuit_breakers.max_requests, 10'000u);
  EXPECT_EQ(cluster.circuit_breakers.max_pending, 1'024u);
  EXPECT_EQ(cluster.circuit_breakers.max_connections, UINT64_MAX);  // no cap of its own
}

TEST(ClusterPolicyConfig, HealthCheckTakesTheDocumentedDefaultsForKeysItLeavesOut) {
  ClusterConfig http = cluster_with_keys("    health_check: { http: {} }\n");
  ASSERT_TRUE(http.health_check.has_value());
  const HealthCheckConfig& check = *http.health_check;
  EXPECT_EQ(check.kind, HealthCheckConfig::Kind::kHttp);
  EXPECT_EQ(check.method, "GET");
  EXPECT_EQ(check.path, "/");
  EXPECT_TRUE(check.host.empty());  // the endpoint's address
  EXPECT_EQ(check.expect, (StatusRanges{{200, 399}}));
  EXPECT_TRUE(check.body.empty());
  EXPECT_EQ(check.interval_ms, 5'000u);
  EXPECT_EQ(check.unhealthy_interval_ms, 0u);  // the same as interval
  EXPECT_EQ(check.timeout_ms, 2'000u);
  EXPECT_EQ(check.jitter_percent, 10u);
  EXPECT_EQ(check.healthy_threshold, 2u);
  EXPECT_EQ(check.unhealthy_threshold, 3u);
  EXPECT_EQ(check.initial, HealthCheckConfig::Initial::kDefault);

  ClusterConfig tcp = cluster_with_keys("    health_check: { tcp: {} }\n");
  ASSERT_TRUE(tcp.health_check.has_value());
  EXPECT_EQ(tcp.health_check->kind, HealthCheckConfig::Kind::kTcp);
  EXPECT_EQ(tcp.health_check->interval_ms, 5'000u);
}

TEST(ClusterPolicyConfig, RouteWithoutRetryRetriesConnectFailuresAndResetsTwice) {
  RetryConfig retry = retry_with_keys("");
  EXPECT_EQ(retry.attempts, 2u);
  EXPECT_EQ(retry.on, (std::vector<std::string>{"connect-failure", "reset"}));
  EXPECT_EQ(retry.per_try_timeout_ms, 0u);  // each try may take the route's whole timeout

  EXPECT_EQ(retry_with_keys("        retry: { attempts: 0 }\n").attempts, 0u);
}

// --- Values ---

TEST(ClusterPolicyConfig, EveryLbPolicyAndHashKeyIsRead) {
  ConfigResult result = load_config_text(R"(listeners: [{ name: web, address: 127.0.0.1:8080 }]
clusters:
  - { name: rr, lb: round_robin, endpoints: [127.0.0.1:1] }
  - { name: random, lb: random, endpoints: [127.0.0.1:1] }
  - { name: least, lb: least_request, endpoints: [127.0.0.1:1] }
  - { name: ring, lb: ring_hash, hash_on: { header: x-user }, endpoints: [127.0.0.1:1] }
  - { name: maglev, lb: maglev, hash_on: { cookie: session }, endpoints: [127.0.0.1:1] }
  - { name: client, lb: ring_hash, hash_on: { client_address: true }, endpoints: [127.0.0.1:1] }
)",
                                         "lb.yaml");
  ASSERT_TRUE(result.ok()) << first_error(result);
  const std::vector<ClusterConfig>& clusters = result.config.clusters;
  ASSERT_EQ(clusters.size(), 6u);
  EXPECT_EQ(clusters[0].lb, LbPolicy::kRoundRobin);
  EXPECT_EQ(clusters[1].lb, LbPolicy::kRandom);
  EXPECT_EQ(clusters[2].lb, LbPolicy::kLeastRequest);
  EXPECT_EQ(clusters[3].lb, LbPolicy::kRingHash);
  EXPECT_EQ(clusters[3].hash_on.kind, HashOnConfig::Kind::kHeader);
  EXPECT_EQ(clusters[3].hash_on.name, "x-user");
  EXPECT_EQ(clusters[4].lb, LbPolicy::kMaglev);
  EXPECT_EQ(clusters[4].hash_on.kind, HashOnConfig::Kind::kCookie);
  EXPECT_EQ(clusters[4].hash_on.name, "session");
  EXPECT_EQ(clusters[5].hash_on.kind, HashOnConfig::Kind::kClientAddress);
}

TEST(ClusterPolicyConfig, StickyCookieAndItsTtlAreRead) {
  ClusterConfig cluster = cluster_with_keys("    sticky: { cookie: waygate_sticky, ttl: 1h }\n");
  EXPECT_EQ(cluster.sticky.cookie, "waygate_sticky");
  EXPECT_EQ(cluster.sticky.ttl_ms, 3'600'000u);

  ClusterConfig session = cluster_with_keys("    sticky: { cookie: s }\n");
  EXPECT_EQ(session.sticky.cookie, "s");
  EXPECT_EQ(session.sticky.ttl_ms, 0u);  // a session cookie
}

TEST(ClusterPolicyConfig, EveryHealthCheckKeyIsRead) {
  ClusterConfig cluster = cluster_with_keys(R"(    health_check:
      http:
        path: /healthz?full=1
        method: HEAD
        host: api.internal:8080
        expect: ["200-299", 304]
        body: ok
      interval: 3s
      unhealthy_interval: 500ms
      timeout: 250ms
      jitter: 25%
      healthy_threshold: 4
      unhealthy_threshold: 7
      initial: unhealthy
)");
  ASSERT_TRUE(cluster.health_check.has_value());
  const HealthCheckConfig& check = *cluster.health_check;
  EXPECT_EQ(check.kind, HealthCheckConfig::Kind::kHttp);
  EXPECT_EQ(check.path, "/healthz?full=1");
  EXPECT_EQ(check.method, "HEAD");
  EXPECT_EQ(check.host, "api.internal:8080");
  EXPECT_EQ(check.expect, (StatusRanges{{200, 299}, {304, 304}}));
  EXPECT_EQ(check.body, "ok");
  EXPECT_EQ(check.interval_ms, 3'000u);
  EXPECT_EQ(check.unhealthy_interval_ms, 500u);
  EXPECT_EQ(check.timeout_ms, 250u);
  EXPECT_EQ(check.jitter_percent, 25u);
  EXPECT_EQ(check.healthy_threshold, 4u);
  EXPECT_EQ(check.unhealthy_threshold, 7u);
  EXPECT_EQ(check.initial, HealthCheckConfig::Initial::kUnhealthy);

  ClusterConfig tcp = cluster_with_keys("    health_check: { tcp: {}, initial: healthy }\n");
  ASSERT_TRUE(tcp.health_check.has_value());
  EXPECT_EQ(tcp.health_check->kind, HealthCheckConfig::Kind::kTcp);
  EXPECT_EQ(tcp.health_check->initial, HealthCheckConfig::Initial::kHealthy);
}

TEST(ClusterPolicyConfig, SharesTakeAPercentOrABareNumber) {
  auto jitter = [](const std::string& value) {
    ClusterConfig cluster =
        cluster_with_keys("    health_check: { tcp: {}, jitter: " + value + " }\n");
    return cluster.health_check ? cluster.health_check->jitter_percent : 999u;
  };
  EXPECT_EQ(jitter("15%"), 15u);
  EXPECT_EQ(jitter("15"), 15u);
  EXPECT_EQ(jitter("0"), 0u);
  EXPECT_EQ(jitter("100%"), 100u);

  EXPECT_EQ(cluster_with_keys("    panic_threshold: 30\n").panic_threshold_percent, 30u);
  EXPECT_EQ(cluster_with_keys("    panic_threshold: 0%\n").panic_threshold_percent, 0u);
}

TEST(ClusterPolicyConfig, OutlierPanicAndBreakerKeysAreRead) {
  ClusterConfig cluster = cluster_with_keys(R"(    outlier_detection:
      consecutive_5xx: 5
      consecutive_connect_failures: 7
      consecutive_timeouts: 0
      base_ejection_time: 10s
      max_ejection_time: 2m
      max_ejection_percent: 30%
    panic_threshold: 75%
    circuit_breakers: { max_requests: 100, max_pending: 10, max_connections: 512 }
)");
  EXPECT_TRUE(cluster.outlier.enabled);
  EXPECT_EQ(cluster.outlier.consecutive_5xx, 5u);
  EXPECT_EQ(cluster.outlier.consecutive_connect_failures, 7u);
  EXPECT_EQ(cluster.outlier.consecutive_timeouts, 0u);
  EXPECT_EQ(cluster.outlier.base_ejection_ms, 10'000u);
  EXPECT_EQ(cluster.outlier.max_ejection_ms, 120'000u);
  EXPECT_EQ(cluster.outlier.max_ejection_percent, 30u);
  EXPECT_EQ(cluster.panic_threshold_percent, 75u);
  EXPECT_EQ(cluster.circuit_breakers.max_requests, 100u);
  EXPECT_EQ(cluster.circuit_breakers.max_pending, 10u);
  EXPECT_EQ(cluster.circuit_breakers.max_connections, 512u);

  ClusterConfig off = cluster_with_keys("    outlier_detection: { enabled: false }\n");
  EXPECT_FALSE(off.outlier.enabled);
  EXPECT_EQ(off.outlier.consecutive_connect_failures, 3u);  // the other keys keep their defaults
}

TEST(ClusterPolicyConfig, EveryRetryKeyIsRead) {
  RetryConfig retry = retry_with_keys(
      "        retry: { attempts: 10, on: [5xx, timeout, 503, 502, 504, "
      "connect-failure, reset], per_try_timeout: 1500ms }\n");
  EXPECT_EQ(retry.attempts, 10u);
  EXPECT_EQ(retry.on, (std::vector<std::string>{"5xx", "timeout", "503", "502", "504",
                                                "connect-failure", "reset"}));
  EXPECT_EQ(retry.per_try_timeout_ms, 1'500u);
}

// --- Errors: each names the file, line and column of the value, and the key ---

TEST(ClusterPolicyConfig, UnknownLbPolicyIsRefused) {
  auto errors = errors_for_cluster_keys("    lb: fastest\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "c.yaml:5:9: lb 'fastest' is not one of round_robin, random, least_request, "
            "ring_hash, maglev");
}

TEST(ClusterPolicyConfig, ProtocolIsHttp1UnlessHttp2IsAsked) {
  EXPECT_FALSE(cluster_with_keys("").http2);
  EXPECT_FALSE(cluster_with_keys("    protocol: http1\n").http2);
  EXPECT_TRUE(cluster_with_keys("    protocol: http2\n").http2);
}

TEST(ClusterPolicyConfig, UnknownProtocolIsRefused) {
  auto errors = errors_for_cluster_keys("    protocol: h2c\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "c.yaml:5:15: protocol 'h2c' is not one of http1, http2");
}

TEST(ClusterPolicyConfig, HashOnTakesOneKnownKindAndOnlyForHashPolicies) {
  auto errors = errors_for_cluster_keys(
      "    lb: ring_hash\n"
      "    hash_on: { query: x, header: y }\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "c.yaml:6:16: unknown key 'query' in hash_on");

  errors = errors_for_cluster_keys(
      "    lb: maglev\n"
      "    hash_on: { header: x, cookie: y }\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "c.yaml:6:14: hash_on takes one of header, cookie, client_address");

  errors = errors_for_cluster_keys(
      "    lb: round_robin\n"
      "    hash_on: { header: x }\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "c.yaml:6:14: hash_on applies to lb ring_hash or maglev");
}

// Once threw out of the loader (so `waygate --check` and a reload aborted) instead of refusing.
TEST(ClusterPolicyConfig, HashOnWithOnlyAnUnknownKindIsRefused) {
  std::vector<std::string> errors;
  EXPECT_NO_THROW(errors = errors_for_cluster_keys("    lb: ring_hash\n"
                                                   "    hash_on: { query: x }\n"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "c.yaml:6:16: unknown key 'query' in hash_on");
}

// A hash policy without a key, or a key turned off, would place every request at random.
TEST(ClusterPolicyConfig, HashPolicyNeedsAKey) {
  auto errors = errors_for_cluster_keys("    lb: ring_hash\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            "c.yaml:5:9: lb 'ring_hash' needs hash_on (a header, a cookie or "
            "client_address)");
  errors = errors_for_cluster_keys(
      "    lb: maglev\n"
      "    hash_on: { client_address: false }\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "c.yaml:6:32: hash_on.client_address must be true");
}

TEST(ClusterPolicyConfig, EmptyExpectAndEjectionTimesOutOfOrderAreRefused) {
  auto errors = errors_for_cluster_keys(
      "    health_check: { http: { expect: [] } }\n"
      "    outlier_detection: { base_ejection_time: 10m, max_ejection_time: 5m }\n");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "c.yaml:5:37: health_check.http.expect must list a status or a range");
  EXPECT_EQ(errors[1],
            "c.yaml:6:46: outlier_detection.base_ejection_time must not exceed max_ejection_time");
}

TEST(ClusterPolicyConfig, ExpectedStatusesMustBeAStatusOrAnAscendingRange) {
  auto errors = errors_for_cluster_keys(
      "    health_check:\n"
      "      http: { expect: [\"299-200\", abc, 600] }\n");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0],
            "c.yaml:6:24: health_check.http.expect '299-200' is not a status or a range of "
            "statuses (like 200-399)");
  EXPECT_EQ(errors[1],
            "c.yaml:6:35: health_check.http.expect 'abc' is not a status or a range of statuses "
            "(like 200-399)");
  EXPECT_NE(errors[2].find("c.yaml:6:40: health_check.http.expect '600'"), std::string::npos)
      << errors[2];
}

TEST(ClusterPolicyConfig, HealthCheckTimingOutOfRangeIsRefused) {
  auto errors = errors_for_cluster_keys(
      "    health_check:\n"
      "      tcp: {}\n"
      "      jitter: 101%\n"
      "      interval: 0s\n"
      "      healthy_threshold: 0\n");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "c.yaml:7:15: health_check.jitter: '101%' is not a share from 0% to 100%");
  EXPECT_EQ(errors[1], "c.yaml:8:17: health_check.interval must be greater than zero");
  EXPECT_EQ(errors[2], "c.yaml:9:26: health_check.healthy_threshold must be between 1 and 100");
}

TEST(ClusterPolicyConfig, HealthCheckNeedsOneProbeKindAndKnownKeys) {
  auto errors = errors_for_cluster_keys(
      "    health_check:\n"
      "      http: { path: /, port: 80 }\n"
      "      retries: 3\n");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "c.yaml:6:24: unknown key 'port' in health_check.http");
  EXPECT_EQ(errors[1], "c.yaml:7:7: unknown key 'retries' in health_check");

  errors = errors_for_cluster_keys("    health_check: { http: {}, tcp: {} }\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "c.yaml:5:19: health_check takes one of http, tcp and grpc");

  errors = errors_for_cluster_keys("    health_check: { interval: 1s }\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "c.yaml:5:19: health_check needs http, tcp or grpc");
}

TEST(ClusterPolicyConfig, BreakerAndPanicValuesOutOfRangeAreRefused) {
  auto errors = errors_for_cluster_keys(
      "    circuit_breakers: { max_connections: 0 }\n"
      "    panic_threshold: 101%\n");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], "c.yaml:5:42: circuit_breakers.max_connections must be at least 1");
  EXPECT_EQ(errors[1], "c.yaml:6:22: panic_threshold: '101%' is not a share from 0% to 100%");
}

TEST(ClusterPolicyConfig, OutlierValuesOfTheWrongKindAreRefused) {
  auto errors = errors_for_cluster_keys(
      "    outlier_detection: { enabled: yes, base_ejection_time: 0s, consecutive_5xx: -1 }\n");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "c.yaml:5:35: outlier_detection.enabled must be true or false");
  EXPECT_EQ(errors[1],
            "c.yaml:5:60: outlier_detection.base_ejection_time must be greater than zero");
  EXPECT_EQ(errors[2],
            "c.yaml:5:81: outlier_detection.consecutive_5xx: '-1' is not a whole number");
}

TEST(ClusterPolicyConfig, RetryAttemptsAndConditionsOutOfRangeAreRefused) {
  auto errors = errors_for_path_keys(
      "        retry:\n"
      "          attempts: 11\n"
      "          on: [reset, sometimes]\n"
      "          per_try_timeout: 0s\n");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0], "r.yaml:9:21: retry attempts must be between 0 and 10");
  EXPECT_EQ(errors[1],
            "r.yaml:10:23: retry condition 'sometimes' is not one of connect-failure, reset, "
            "timeout, 5xx, 502, 503, 504");
  EXPECT_EQ(errors[2], "r.yaml:11:28: retry per_try_timeout must be greater than zero");
}

}  // namespace
}  // namespace waygate::routing
