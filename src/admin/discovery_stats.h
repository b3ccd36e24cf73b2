// What discovery changed, for GET /metrics: updates by cluster and by kind of source, and how long
// each took from reaching waygate to every worker routing by it. Control thread only.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "proxy/worker_metrics.h"

namespace waygate::admin {

struct DiscoveryStats {
  struct Delay {
    std::array<uint64_t, proxy::kLatencyBounds.size() + 1> buckets{};  // not cumulative
    uint64_t sum_ns = 0;
  };

  // `source` is the provider's description ("dns web.test:8080"): its first word is the kind.
  void record(const std::string& cluster, std::string_view source, uint64_t delay_ns) {
    std::string kind(source.substr(0, source.find(' ')));
    ++updates[{cluster, kind}];
    Delay& delay = delays[kind];
    size_t bucket = 0;
    while (bucket < proxy::kLatencyBoundsNs.size() && delay_ns > proxy::kLatencyBoundsNs[bucket])
      ++bucket;
    ++delay.buckets[bucket];
    delay.sum_ns += delay_ns;
  }

  std::map<std::pair<std::string, std::string>, uint64_t> updates;  // (cluster, kind)
  std::map<std::string, Delay> delays;                              // by kind
};

}  // namespace waygate::admin
