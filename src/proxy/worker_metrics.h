// The counters one worker keeps for GET /metrics. Only the worker writes them, with a relaxed load
// and store (no read-modify-write: nobody else writes, so nothing contends); the control thread
// reads them with relaxed loads at scrape time and sums the workers. Each worker's counters live
// in their own cache lines, so workers never share one on the hot path.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace waygate::proxy {

using Counter = std::atomic<uint64_t>;

// Owner thread only.
inline void add(Counter& counter, uint64_t amount) {
  counter.store(counter.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
}
inline uint64_t read(const Counter& counter) {
  return counter.load(std::memory_order_relaxed);
}

// Upper bounds of the latency histograms' buckets, in seconds and in nanoseconds.
inline constexpr std::array<double, 12> kLatencyBounds = {.001, .005, .01, .025, .05, .1,
                                                          .25,  .5,   1,   2.5,  5,   10};
inline constexpr std::array<uint64_t, 12> kLatencyBoundsNs = {
    1'000'000,   5'000'000,   10'000'000,    25'000'000,    50'000'000,    100'000'000,
    250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

struct LatencyHistogram {
  std::array<Counter, kLatencyBounds.size() + 1> buckets{};  // not cumulative; the last: above all
  Counter sum_ns{0};

  void observe(uint64_t ns) {
    size_t bucket = 0;
    while (bucket < kLatencyBoundsNs.size() && ns > kLatencyBoundsNs[bucket])
      ++bucket;
    add(buckets[bucket], 1);
    add(sum_ns, ns);
  }
};

// Requests answered 429 by a route's rate_limit, by the bucket that was empty.
enum class RateLimitScope : uint8_t { kRoute, kClient };
// Connections closed at accept, by the limit they were over.
enum class ConnectionRefusal : uint8_t { kPerClient, kPerWorker };

// Requests the parser refused, by the status it answered with.
inline constexpr std::array<uint16_t, 7> kRejectionStatuses = {400, 408, 413, 414, 431, 501, 505};

// Counters by cluster, listener and named route. Cluster slot 0 counts answers waygate gave itself
// (no route, a fixed response, a redirect); slot id + 1 counts the cluster with that id. Listener
// slots are the Server's (ListenerChange::metrics_slot); route slots are
// RouteAction::metrics_slot (0: an unnamed route, not counted by route).
struct ClusterCounters {
  static constexpr size_t kCodeClasses = 5;  // 1xx .. 5xx
  // Padding at both ends keeps the counters off cache lines another allocation uses.
  static constexpr size_t kPad = 64 / sizeof(Counter);

  ClusterCounters(uint32_t cluster_slots, uint32_t listener_slots, uint32_t route_slots)
      : clusters(cluster_slots),
        listeners(listener_slots),
        routes(route_slots),
        storage(new Counter[kPad + size() + kPad]()) {}

  // Requests answered, by cluster slot, listener slot and code class (status / 100 - 1).
  Counter& requests(uint32_t cluster, uint32_t listener, size_t code_class) {
    return at((size_t{cluster} * listeners + listener) * kCodeClasses + code_class);
  }
  Counter& retries(uint32_t cluster) { return at(request_cells() + cluster); }
  Counter& overflows(uint32_t cluster) { return at(request_cells() + clusters + cluster); }
  // Requests answered, by route slot and code class.
  Counter& route_requests(uint32_t route, size_t code_class) {
    return at(route_cells_start() + size_t{route} * kCodeClasses + code_class);
  }

  size_t request_cells() const { return size_t{clusters} * listeners * kCodeClasses; }
  size_t route_cells_start() const { return request_cells() + 2 * size_t{clusters}; }
  size_t size() const { return route_cells_start() + size_t{routes} * kCodeClasses; }
  Counter& at(size_t index) { return storage[kPad + index]; }
  const Counter& at(size_t index) const { return storage[kPad + index]; }

  const uint32_t clusters;
  const uint32_t listeners;
  const uint32_t routes;
  std::unique_ptr<Counter[]> storage;
};

struct alignas(64) WorkerMetrics {
  Counter downstream_active{0};
  Counter downstream_total{0};
  Counter upstream_active{0};
  Counter upstream_total{0};
  Counter request_bytes{0};
  Counter response_bytes{0};
  std::array<Counter, kRejectionStatuses.size()> rejected{};
  // By http::ServerConnection::HandshakeFailure: failed, timed out, plain HTTP.
  std::array<Counter, 3> tls_handshake_failures{};
  LatencyHistogram upstream_response;
  LatencyHistogram request_duration;
  std::array<Counter, 2> rate_limited{};         // by RateLimitScope
  std::array<Counter, 2> refused_connections{};  // by ConnectionRefusal
  Counter accept_pauses{0};  // times accepting stopped for want of file descriptors

  // Worker thread: makes room for these slots. Grows (rarely: on a new cluster id, listener or
  // route name) into a new table; the old one stays allocated, as the control thread may be
  // reading it.
  void reserve(uint32_t cluster_slots, uint32_t listener_slots, uint32_t route_slots) {
    const ClusterCounters* old = current();
    if (old && old->clusters >= cluster_slots && old->listeners >= listener_slots &&
        old->routes >= route_slots) {
      return;
    }
    uint32_t clusters = old ? std::max(old->clusters * 2, cluster_slots) : cluster_slots;
    uint32_t listeners = old ? std::max(old->listeners, listener_slots) : listener_slots;
    uint32_t routes = old ? std::max(old->routes, route_slots) : route_slots;
    auto grown = std::make_unique<ClusterCounters>(clusters, listeners, routes);
    if (old) {
      for (uint32_t c = 0; c < old->clusters; ++c) {
        for (uint32_t l = 0; l < old->listeners; ++l) {
          for (size_t k = 0; k < ClusterCounters::kCodeClasses; ++k) {
            grown->requests(c, l, k).store(read(tables_.back()->requests(c, l, k)));
          }
        }
        grown->retries(c).store(read(tables_.back()->retries(c)));
        grown->overflows(c).store(read(tables_.back()->overflows(c)));
      }
      for (uint32_t r = 0; r < old->routes; ++r) {
        for (size_t k = 0; k < ClusterCounters::kCodeClasses; ++k)
          grown->route_requests(r, k).store(read(tables_.back()->route_requests(r, k)));
      }
    }
    table_.store(grown.get(), std::memory_order_release);
    tables_.push_back(std::move(grown));
  }

  // Worker thread: the table to count in (never null once reserve() has run).
  ClusterCounters* table() { return tables_.empty() ? nullptr : tables_.back().get(); }
  // Any thread.
  const ClusterCounters* current() const { return table_.load(std::memory_order_acquire); }

 private:
  std::atomic<ClusterCounters*> table_{nullptr};
  std::vector<std::unique_ptr<ClusterCounters>> tables_;  // worker thread; the last is current
};

}  // namespace waygate::proxy
