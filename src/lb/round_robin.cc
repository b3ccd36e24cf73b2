#include "lb/round_robin.h"

namespace waygate::lb {

int32_t RoundRobin::pick(const routing::HostSet& hosts, const PickContext& context) {
  auto count = static_cast<uint32_t>(hosts.hosts.size());
  for (uint32_t step = 0; step < count; ++step) {
    uint32_t index = next_++ % count;
    if (!is_excluded(context, hosts.hosts[index].endpoint_id)) return static_cast<int32_t>(index);
  }
  return -1;
}

}  // namespace waygate::lb
