// Which hosts a pick may return (eligible and not excluded), and the walk that ring_hash and
// maglev share: from a key's place in their table to the first host the request may use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "lb/policy.h"

namespace waygate::lb {

inline bool pickable(const routing::HostSet& hosts, const routing::Host& host,
                     const PickContext& context) {
  return routing::eligible(hosts, host) && !is_excluded(context, host.endpoint_id);
}

inline bool any_pickable(const routing::HostSet& hosts, const PickContext& context) {
  for (const routing::Host& host : hosts.hosts) {
    if (pickable(hosts, host, context)) return true;
  }
  return false;
}

// When no pickable host is left: a host outlier detection alone keeps out (Host::last_resort)
// that the request has not tried, starting from a random one so that such requests spread over
// them; -1 when there is none.
inline int32_t pick_last_resort(const routing::HostSet& hosts, const PickContext& context) {
  size_t count = hosts.hosts.size();
  if (count == 0) return -1;
  size_t start = static_cast<size_t>(context.random % count);
  for (size_t step = 0; step < count; ++step) {
    size_t index = (start + step) % count;
    const routing::Host& host = hosts.hosts[index];
    if (host.last_resort && !is_excluded(context, host.endpoint_id)) {
      return static_cast<int32_t>(index);
    }
  }
  return -1;
}

// The first pickable host named by entries[start], entries[start + 1], ... (wrapping), as an index
// in hosts.hosts; -1 when no entry names one. A few steps find one unless most hosts are out; past
// them one pass over the hosts tells whether any is left, so a request that has tried every host
// does not walk a whole table to learn it.
inline int32_t first_pickable_from(std::span<const uint32_t> entries, size_t start,
                                   const routing::HostSet& hosts, const PickContext& context) {
  constexpr size_t kStepsBeforeCheck = 64;
  size_t position = start;
  for (size_t step = 0; step < entries.size(); ++step) {
    if (step == kStepsBeforeCheck && !any_pickable(hosts, context)) return -1;
    uint32_t index = entries[position];
    // A table is built for one host set; the bound check keeps a stale one harmless.
    if (index < hosts.hosts.size() && pickable(hosts, hosts.hosts[index], context)) {
      return static_cast<int32_t>(index);
    }
    if (++position == entries.size()) position = 0;
  }
  return -1;
}

}  // namespace waygate::lb
