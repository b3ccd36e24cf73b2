#include "lb/round_robin.h"

#include "lb/pickable.h"

namespace waygate::lb {

int32_t RoundRobin::pick(const routing::HostSet& hosts, const PickContext& context) {
  if (!hosts.uniform_weights) return pick_weighted(hosts, context);
  auto count = static_cast<uint32_t>(hosts.hosts.size());
  for (uint32_t step = 0; step < count; ++step) {
    uint32_t index = next_++ % count;
    const routing::Host& host = hosts.hosts[index];
    if (pickable(hosts, host, context)) {
      return static_cast<int32_t>(index);
    }
  }
  return -1;
}

int32_t RoundRobin::pick_weighted(const routing::HostSet& hosts, const PickContext& context) {
  // The size check too: a host set of the same version but another size must not index past the
  // scores (the first set, or one built by hand, may share the initial version).
  if (version_ != hosts.version || current_.size() != hosts.hosts.size()) {
    current_.assign(hosts.hosts.size(), 0);
    version_ = hosts.version;
  }
  int64_t total = 0;
  int32_t best = -1;
  for (size_t i = 0; i < hosts.hosts.size(); ++i) {
    const routing::Host& host = hosts.hosts[i];
    if (!pickable(hosts, host, context)) continue;
    current_[i] += host.weight;
    total += host.weight;
    if (best < 0 || current_[i] > current_[static_cast<size_t>(best)]) {
      best = static_cast<int32_t>(i);
    }
  }
  if (best >= 0) current_[static_cast<size_t>(best)] -= total;
  return best;
}

}  // namespace waygate::lb
