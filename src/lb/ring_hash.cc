#include "lb/ring_hash.h"

#include <algorithm>
#include <cmath>

#include "core/hash.h"
#include "lb/pickable.h"

namespace waygate::lb {
namespace {

// Points per unit of weight: 1024 while the ring stays under kMaxPoints (a host's share is then
// within some 3% of its weight's), halved as often as needed to keep it there (1.5 MB of ring at
// most, or one point per host beyond that). A power of two, and a host's points are its first
// `count` in a fixed sequence: so the hosts that stay keep every point when one leaves, unless the
// total weight crosses a power of two above kMaxPoints / 1024 (then about half the keys move).
constexpr double kMostPointsPerWeight = 1024;
constexpr uint64_t kMaxPoints = 1 << 17;

}  // namespace

std::shared_ptr<const RingHashTable> build_ring_hash_table(const routing::HostSet& hosts) {
  auto table = std::make_shared<RingHashTable>();
  table->kind = PolicyKind::kRingHash;
  table->host_count = hosts.hosts.size();
  uint64_t total_weight = 0;
  for (const routing::Host& host : hosts.hosts) {
    if (routing::eligible(hosts, host)) total_weight += std::max<uint32_t>(host.weight, 1);
  }
  if (total_weight == 0) return table;
  double points_per_weight = kMostPointsPerWeight;
  while (points_per_weight * static_cast<double>(total_weight) > kMaxPoints) {
    points_per_weight /= 2;
  }

  struct Point {
    uint64_t hash;
    uint64_t owner_hash;  // breaks ties between two hosts' points the same way on every build
    uint32_t host;
  };
  std::vector<Point> points;
  points.reserve(static_cast<size_t>(points_per_weight * static_cast<double>(total_weight)) +
                 hosts.hosts.size());
  for (size_t i = 0; i < hosts.hosts.size(); ++i) {
    const routing::Host& host = hosts.hosts[i];
    if (!routing::eligible(hosts, host)) continue;
    auto count =
        static_cast<uint64_t>(std::llround(std::max<uint32_t>(host.weight, 1) * points_per_weight));
    count = std::max<uint64_t>(count, 1);
    // A point is named by the host's address and its number, never by the host's place in the
    // list, so the ring is the same on every build of the same hosts.
    uint64_t owner_hash = hash64(host.address_text);
    for (uint64_t n = 0; n < count; ++n) {
      points.push_back({hash64(host.address_text, n + 1), owner_hash, static_cast<uint32_t>(i)});
    }
  }
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.owner_hash < b.owner_hash;
  });
  table->points.reserve(points.size());
  table->hosts.reserve(points.size());
  for (const Point& point : points) {
    table->points.push_back(point.hash);
    table->hosts.push_back(point.host);
  }
  return table;
}

int32_t RingHash::pick(const routing::HostSet& hosts, const PickContext& context) {
  const auto* ring = table_for<RingHashTable>(hosts, PolicyKind::kRingHash);
  if (!ring || ring->points.empty()) return without_table_.pick(hosts, context);
  uint64_t key = context.has_hash ? context.hash : context.random;
  auto at = std::lower_bound(ring->points.begin(), ring->points.end(), key);
  size_t start = at == ring->points.end() ? 0 : static_cast<size_t>(at - ring->points.begin());
  int32_t index = first_pickable_from(ring->hosts, start, hosts, context);
  // Every host of the ring is out; one that joined the eligible since it was built may be left.
  return index >= 0 ? index : without_table_.pick(hosts, context);
}

}  // namespace waygate::lb
