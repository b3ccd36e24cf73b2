// Route lookup cost as the number of virtual hosts grows: exact names, wildcards and the
// catch-all. The lookup should not grow with the number of hosts.
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "routing/snapshot.h"

namespace waygate::routing {
namespace {

PathConfig forward_path(PathConfig::Match match, std::string path) {
  PathConfig config;
  config.match = match;
  config.path = std::move(path);
  config.clusters.edit().push_back(WeightedCluster{"web", 1});
  return config;
}

Config config_with_hosts(int count) {
  Config config;
  ClusterConfig cluster;
  cluster.name = "web";
  EndpointConfig endpoint;
  endpoint.address_text = "127.0.0.1:9001";
  endpoint.address = *parse_socket_address(endpoint.address_text);
  cluster.endpoints.push_back(endpoint);
  config.clusters.push_back(cluster);
  for (int i = 0; i < count; ++i) {
    RouteConfig route;
    route.hosts.push_back("host" + std::to_string(i) + ".example.com");
    route.hosts.push_back("*.tenant" + std::to_string(i) + ".example.net");
    route.paths.push_back(forward_path(PathConfig::Match::kExact, "/healthz"));
    route.paths.push_back(forward_path(PathConfig::Match::kPrefix, "/api/"));
    route.paths.push_back(forward_path(PathConfig::Match::kPrefix, "/"));
    config.routes.push_back(std::move(route));
  }
  RouteConfig fallback;
  fallback.hosts.push_back("*");
  fallback.paths.push_back(forward_path(PathConfig::Match::kPrefix, "/"));
  config.routes.push_back(std::move(fallback));
  return config;
}

void BM_LookupExactHost(benchmark::State& state) {
  int count = static_cast<int>(state.range(0));
  auto snapshot = build_snapshot(config_with_hosts(count));
  std::string host = "HOST" + std::to_string(count / 2) + ".example.com:8080";
  for (auto _ : state)
    benchmark::DoNotOptimize(snapshot->routes.match(host, "/api/users?id=1"));
}
BENCHMARK(BM_LookupExactHost)->Arg(10)->Arg(1000)->Arg(100000)->Arg(1000000);

// Requests spread over many hosts, as on a busy shared front end: each lookup goes to a different
// part of the host index, so with a million hosts it is paid in cache misses, not hits.
void BM_LookupSpreadHosts(benchmark::State& state) {
  int count = static_cast<int>(state.range(0));
  auto snapshot = build_snapshot(config_with_hosts(count));
  std::vector<std::string> hosts;
  std::mt19937 random(42);
  for (int i = 0; i < 4096; ++i)
    hosts.push_back("host" + std::to_string(random() % static_cast<unsigned>(count)) +
                    ".example.com");
  size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(snapshot->routes.match(hosts[next], "/api/users?id=1"));
    next = (next + 1) % hosts.size();
  }
}
BENCHMARK(BM_LookupSpreadHosts)->Arg(1000)->Arg(100000)->Arg(1000000);

void BM_LookupWildcardHost(benchmark::State& state) {
  int count = static_cast<int>(state.range(0));
  auto snapshot = build_snapshot(config_with_hosts(count));
  std::string host = "shop.eu.tenant" + std::to_string(count / 2) + ".example.net";
  for (auto _ : state)
    benchmark::DoNotOptimize(snapshot->routes.match(host, "/index.html"));
}
BENCHMARK(BM_LookupWildcardHost)->Arg(10)->Arg(1000)->Arg(100000)->Arg(1000000);

void BM_LookupCatchAll(benchmark::State& state) {
  auto snapshot = build_snapshot(config_with_hosts(static_cast<int>(state.range(0))));
  for (auto _ : state)
    benchmark::DoNotOptimize(snapshot->routes.match("unknown.test", "/"));
}
BENCHMARK(BM_LookupCatchAll)->Arg(10)->Arg(100000);

void BM_BuildTable(benchmark::State& state) {
  Config config = config_with_hosts(static_cast<int>(state.range(0)));
  for (auto _ : state)
    benchmark::DoNotOptimize(build_snapshot(config));
}
BENCHMARK(BM_BuildTable)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace waygate::routing
