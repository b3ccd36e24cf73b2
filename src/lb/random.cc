#include "lb/random.h"

#include <algorithm>

#include "lb/pickable.h"

namespace waygate::lb {
namespace {

// Draws before an exact pass over the hosts. Each draw is accepted with the chance that a host is
// pickable (and, weighted, its weight over the largest), so a few suffice unless most hosts are
// out, and the pass then costs no more than the draws would.
constexpr int kDraws = 8;

}  // namespace

// Rejection sampling: a uniform index, kept if pickable. Each kept draw, and the exact pass after
// too many rejections, is uniform over the pickable hosts, so the mix of both is too.
int32_t draw_uniform(const routing::HostSet& hosts, const PickContext& context, RandomBits& bits,
                     int32_t other_than) {
  const size_t size = hosts.hosts.size();
  const size_t others = other_than >= 0 ? size - 1 : size;
  if (others == 0) return -1;
  auto skip_other = [&](size_t index) {
    return other_than >= 0 && index >= static_cast<size_t>(other_than) ? index + 1 : index;
  };
  for (int draw = 0; draw < kDraws; ++draw) {
    size_t index = skip_other(bits.below(others));
    if (pickable(hosts, hosts.hosts[index], context)) return static_cast<int32_t>(index);
  }
  size_t count = 0;
  for (size_t i = 0; i < size; ++i) {
    if (static_cast<int32_t>(i) != other_than && pickable(hosts, hosts.hosts[i], context)) ++count;
  }
  if (count == 0) return -1;
  size_t wanted = bits.below(count);
  for (size_t i = 0; i < size; ++i) {
    if (static_cast<int32_t>(i) == other_than || !pickable(hosts, hosts.hosts[i], context)) {
      continue;
    }
    if (wanted-- == 0) return static_cast<int32_t>(i);
  }
  return -1;
}

int32_t Random::pick(const routing::HostSet& hosts, const PickContext& context) {
  RandomBits bits(context.random);
  if (hosts.uniform_weights) return draw_uniform(hosts, context, bits);
  return draw_weighted(hosts, context, bits);
}

// Rejection sampling again: a uniform index, kept with chance weight / largest weight, so each
// host is kept in proportion to its weight; then an exact pass over the cumulative weights.
int32_t Random::draw_weighted(const routing::HostSet& hosts, const PickContext& context,
                              RandomBits& bits) {
  const size_t size = hosts.hosts.size();
  if (size == 0) return -1;
  if (version_ != hosts.version || host_count_ != size || max_weight_ == 0) {
    max_weight_ = 0;
    for (const routing::Host& host : hosts.hosts)
      max_weight_ = std::max(max_weight_, host.weight);
    version_ = hosts.version;
    host_count_ = size;
  }
  if (max_weight_ > 0) {
    for (int draw = 0; draw < kDraws; ++draw) {
      size_t index = bits.below(size);
      const routing::Host& host = hosts.hosts[index];
      if (bits.below(max_weight_) < host.weight && pickable(hosts, host, context)) {
        return static_cast<int32_t>(index);
      }
    }
  }
  uint64_t total = 0;
  for (const routing::Host& host : hosts.hosts) {
    if (pickable(hosts, host, context)) total += host.weight;
  }
  // Only weight-0 hosts left: they take traffic evenly rather than none at all.
  if (total == 0) return draw_uniform(hosts, context, bits);
  uint64_t point = bits.below(total);
  for (size_t i = 0; i < size; ++i) {
    const routing::Host& host = hosts.hosts[i];
    if (!pickable(hosts, host, context)) continue;
    if (point < host.weight) return static_cast<int32_t>(i);
    point -= host.weight;
  }
  return -1;
}

}  // namespace waygate::lb
