// The control thread's cost of one discovery change in a large cluster: rebuilding that cluster's
// host set (ids kept for the endpoints that stay) when one endpoint of 10,000 is replaced. The
// workers' cost of the same change is a pointer swap (and the retirement of one pool).
#include <benchmark/benchmark.h>

#include "routing/topology.h"

namespace waygate::routing {
namespace {

EndpointSpec endpoint(int i) {
  EndpointSpec spec;
  spec.address_text = "10." + std::to_string(i / 65536 % 256) + "." +
                      std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ":8080";
  spec.address = *parse_socket_address(spec.address_text);
  return spec;
}

void BM_ReplaceOneEndpointOfMany(benchmark::State& state) {
  int count = static_cast<int>(state.range(0));
  Config config;
  config.clusters.push_back(ClusterConfig{});
  config.clusters.back().name = "big";
  std::vector<EndpointSpec> endpoints;
  for (int i = 0; i < count; ++i)
    endpoints.push_back(endpoint(i));
  Topology topology;
  topology.apply_config(config, {{"big", endpoints}});
  int next = count;
  for (auto _ : state) {
    endpoints[static_cast<size_t>(next % count)] = endpoint(next);  // one leaves, one arrives
    ++next;
    TopologyChanges changes;
    topology.set_endpoints("big", endpoints, changes);
    benchmark::DoNotOptimize(changes);
  }
}
BENCHMARK(BM_ReplaceOneEndpointOfMany)->Arg(100)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace waygate::routing
