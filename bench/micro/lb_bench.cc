// Load-balancing cost: one pick per policy at 10 and 1000 hosts (on a worker, per request), and
// building the ring_hash and Maglev tables (on the control thread, per host set) at 1000 and
// 10,000 hosts. Picks go with fresh random bits and keys, as requests would bring them.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/hash.h"
#include "lb/policy.h"

namespace waygate::lb {
namespace {

routing::HostSet hosts_of(int64_t count, bool weighted) {
  routing::HostSet set;
  set.version = 1;
  for (int64_t i = 0; i < count; ++i) {
    routing::Host host;
    host.endpoint_id = static_cast<uint32_t>(i);
    host.weight = weighted ? static_cast<uint32_t>(1 + i % 4) : 1;
    host.address_text = "10." + std::to_string(i / 65536 % 256) + "." +
                        std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) + ":8080";
    host.hash = hash64(host.address_text);
    set.hosts.push_back(host);
  }
  set.uniform_weights = !weighted || count < 2;
  set.healthy_count = static_cast<uint32_t>(count);
  return set;
}

void pick(benchmark::State& state, PolicyKind kind, bool weighted) {
  routing::HostSet set = hosts_of(state.range(0), weighted);
  set.lb_table = build_table(kind, set);
  std::vector<uint32_t> active(set.hosts.size());
  for (size_t i = 0; i < active.size(); ++i)
    active[i] = static_cast<uint32_t>(i * 7 % 13);
  std::unique_ptr<Policy> policy = make_policy(kind);
  PickContext context;
  context.active_requests = active;
  context.has_hash = true;
  uint64_t bits = 0x2545f4914f6cdd1dULL;
  for (auto _ : state) {
    bits ^= bits << 13;  // xorshift64: fresh bits for a few cycles, as a worker would draw them
    bits ^= bits >> 7;
    bits ^= bits << 17;
    context.random = bits;
    context.hash = bits * 0x9e3779b97f4a7c15ULL;
    benchmark::DoNotOptimize(policy->pick(set, context));
  }
}

void build(benchmark::State& state, PolicyKind kind) {
  routing::HostSet set = hosts_of(state.range(0), false);
  for (auto _ : state)
    benchmark::DoNotOptimize(build_table(kind, set));
}

BENCHMARK_CAPTURE(pick, round_robin, PolicyKind::kRoundRobin, false)->Arg(10)->Arg(1000);
BENCHMARK_CAPTURE(pick, random, PolicyKind::kRandom, false)->Arg(10)->Arg(1000);
BENCHMARK_CAPTURE(pick, least_request, PolicyKind::kLeastRequest, false)->Arg(10)->Arg(1000);
BENCHMARK_CAPTURE(pick, ring_hash, PolicyKind::kRingHash, false)->Arg(10)->Arg(1000);
BENCHMARK_CAPTURE(pick, maglev, PolicyKind::kMaglev, false)->Arg(10)->Arg(1000);
// Weights 1 to 4: smooth weighted round robin scans every host; the others stay O(1).
BENCHMARK_CAPTURE(pick, round_robin_weighted, PolicyKind::kRoundRobin, true)->Arg(10)->Arg(1000);
BENCHMARK_CAPTURE(pick, random_weighted, PolicyKind::kRandom, true)->Arg(10)->Arg(1000);
BENCHMARK_CAPTURE(pick, least_request_weighted, PolicyKind::kLeastRequest, true)
    ->Arg(10)
    ->Arg(1000);
BENCHMARK_CAPTURE(build, ring_hash, PolicyKind::kRingHash)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(build, maglev, PolicyKind::kMaglev)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace waygate::lb
