// Loading a path's `rate_limit` and `limits.max_connections_per_client`: the defaults, the values
// and the errors (each at its FILE:LINE:COL) that docs/config.md ("Rate limits") promises; and the
// bucket slots the route table gives them, which a reload keeps while a path's limit stays.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <unordered_map>

#include "routing/config_loader.h"
#include "routing/route_table.h"

namespace waygate::routing {
namespace {

// One route to cluster `a` at `/` and one at `/other`; `keys` (each line indented eight spaces)
// are the first path's and start on line 8.
std::string config_with_path_keys(const std::string& keys, const std::string& limits = "") {
  return "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
         "clusters: [{ name: a, endpoints: [127.0.0.1:9001] }]\n"
         "routes:\n"
         "  - hosts: ['*']\n"
         "    paths:\n"
         "      - prefix: /\n"
         "        cluster: a\n" +
         keys + "      - prefix: /other\n        cluster: a\n" + limits;
}

ConfigResult load(const std::string& keys, const std::string& limits = "") {
  return load_config_text(config_with_path_keys(keys, limits), "c.yaml");
}

std::string first_error(const ConfigResult& result) {
  return result.errors.empty() ? "" : result.errors.front();
}

TEST(RateLimitConfig, NoneByDefault) {
  ConfigResult result = load("");
  ASSERT_TRUE(result.ok()) << first_error(result);
  const PathConfig& path = result.config.routes[0].paths[0];
  EXPECT_FALSE(path.extras->rate_limits->route.enabled());
  EXPECT_FALSE(path.extras->rate_limits->client.enabled());
  EXPECT_EQ(result.config.limits.max_connections_per_client, 0u);
}

TEST(RateLimitConfig, RouteAndPerClientBuckets) {
  ConfigResult result = load(
      "        rate_limit:\n"
      "          requests_per_second: 100\n"
      "          burst: 200\n"
      "          per_client: { requests_per_second: 0.5, burst: 3 }\n");
  ASSERT_TRUE(result.ok()) << first_error(result);
  const PathConfig& path = result.config.routes[0].paths[0];
  EXPECT_EQ(path.extras->rate_limits->route.requests_per_second, 100);
  EXPECT_EQ(path.extras->rate_limits->route.burst, 200u);
  EXPECT_EQ(path.extras->rate_limits->client.requests_per_second, 0.5);
  EXPECT_EQ(path.extras->rate_limits->client.burst, 3u);
}

TEST(RateLimitConfig, BurstDefaultsToOneSecondsWorthAndAtLeastOne) {
  ConfigResult result = load(
      "        rate_limit: { requests_per_second: 2.5, per_client: { requests_per_second: 0.1 } "
      "}\n");
  ASSERT_TRUE(result.ok()) << first_error(result);
  const PathConfig& path = result.config.routes[0].paths[0];
  EXPECT_EQ(path.extras->rate_limits->route.burst, 3u);
  EXPECT_EQ(path.extras->rate_limits->client.burst, 1u);
  EXPECT_FALSE(result.config.routes[0].paths[1].extras->rate_limits->route.enabled())
      << "only the path's own";
}

TEST(RateLimitConfig, MaxConnectionsPerClient) {
  ConfigResult result = load("", "limits: { max_connections_per_client: 16 }\n");
  ASSERT_TRUE(result.ok()) << first_error(result);
  EXPECT_EQ(result.config.limits.max_connections_per_client, 16u);
}

TEST(RateLimitConfig, BadValuesAreRefusedWhereTheyAre) {
  struct Case {
    std::string keys;
    std::string error;
  };
  const Case cases[] = {
      {"        rate_limit: { requests_per_second: 0 }\n",
       "c.yaml:8:44: rate_limit.requests_per_second must be above 0 and at most 1000000"},
      {"        rate_limit: { requests_per_second: -1 }\n",
       "c.yaml:8:44: rate_limit.requests_per_second: '-1' is not a number (like 10 or 0.5)"},
      {"        rate_limit: { requests_per_second: 10r/s }\n",
       "c.yaml:8:44: rate_limit.requests_per_second: '10r/s' is not a number (like 10 or 0.5)"},
      {"        rate_limit: { requests_per_second: 1e3 }\n",
       "c.yaml:8:44: rate_limit.requests_per_second: '1e3' is not a number (like 10 or 0.5)"},
      {"        rate_limit: { requests_per_second: 2000000 }\n",
       "c.yaml:8:44: rate_limit.requests_per_second must be above 0 and at most 1000000"},
      {"        rate_limit: { requests_per_second: 10, burst: 0 }\n",
       "c.yaml:8:55: rate_limit.burst must be between 1 and 1000000000"},
      {"        rate_limit: { burst: 5 }\n",
       "c.yaml:8:21: rate_limit needs requests_per_second, per_client, or both"},
      {"        rate_limit: { per_client: { burst: 5 } }\n",
       "c.yaml:8:35: rate_limit.per_client needs requests_per_second"},
      {"        rate_limit: { per_client: { requests_per_second: 1, brust: 5 } }\n",
       "c.yaml:8:61: unknown key 'brust' in rate_limit.per_client"},
      {"        rate_limit: { rate: 5 }\n", "c.yaml:8:23: unknown key 'rate' in rate_limit"},
      {"        rate_limit: 100\n", "c.yaml:8:21: rate_limit must be a mapping"},
  };
  for (const Case& c : cases) {
    ConfigResult result = load(c.keys);
    EXPECT_NE(std::find(result.errors.begin(), result.errors.end(), c.error), result.errors.end())
        << c.keys << "gave: " << first_error(result);
  }
  ConfigResult result = load("", "limits: { max_connections_per_client: lots }\n");
  EXPECT_EQ(first_error(result),
            "c.yaml:10:39: limits.max_connections_per_client: 'lots' is not a whole number");
}

// The slots a route table gives the first path's two buckets, with `slots` kept as a server keeps
// them from one reload to the next.
std::pair<uint32_t, uint32_t> bucket_slots(const std::string& keys, RouteNameSlots& slots) {
  ConfigResult result = load(keys);
  EXPECT_TRUE(result.ok()) << first_error(result);
  RouteTable table(result.config, {{"a", 0}}, &slots);
  const RouteAction* action = table.match("example.com", "/");
  EXPECT_NE(action, nullptr);
  return {action->rate_limit_slot, action->client_rate_limit_slot};
}

TEST(RateLimitConfig, AReloadKeepsABucketWhileItsLimitStays) {
  RouteNameSlots slots;
  const std::string limit =
      "        rate_limit: { requests_per_second: 1, per_client: { requests_per_second: 2 } }\n";
  auto first = bucket_slots(limit, slots);
  EXPECT_NE(first.first, 0u);
  EXPECT_NE(first.second, 0u);
  EXPECT_NE(first.first, first.second);
  EXPECT_EQ(bucket_slots(limit, slots), first);
  auto changed = bucket_slots(
      "        rate_limit: { requests_per_second: 1, per_client: { requests_per_second: 3 } }\n",
      slots);
  EXPECT_EQ(changed.first, first.first) << "the route's limit did not change";
  EXPECT_NE(changed.second, first.second) << "the per-client limit did";
  EXPECT_EQ(bucket_slots("", slots), std::make_pair(0u, 0u));
}

}  // namespace
}  // namespace waygate::routing
