#include "lb/least_request.h"

#include "lb/random.h"
#include "lb/random_bits.h"

namespace waygate::lb {
namespace {

uint64_t active_on(const PickContext& context, const routing::Host& host) {
  return host.endpoint_id < context.active_requests.size()
             ? context.active_requests[host.endpoint_id]
             : 0;
}

}  // namespace

int32_t LeastRequest::pick(const routing::HostSet& hosts, const PickContext& context) {
  RandomBits bits(context.random);
  int32_t first = draw_uniform(hosts, context, bits);
  if (first < 0) return -1;
  int32_t second = draw_uniform(hosts, context, bits, first);
  if (second < 0) return first;
  const routing::Host& a = hosts.hosts[static_cast<size_t>(first)];
  const routing::Host& b = hosts.hosts[static_cast<size_t>(second)];
  // active / weight compared without division: a.active * b.weight against b.active * a.weight.
  // Equal weights reduce it to comparing the counts.
  uint64_t a_load = active_on(context, a) * b.weight;
  uint64_t b_load = active_on(context, b) * a.weight;
  if (a_load != b_load) return a_load < b_load ? first : second;
  if (a.weight != b.weight) return a.weight > b.weight ? first : second;
  return bits.coin() ? first : second;
}

}  // namespace waygate::lb
