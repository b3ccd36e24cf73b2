// Ring hash (consistent hashing): each eligible host owns many points on a 64-bit ring, in
// proportion to its weight, and a request's key goes to the host of the first point at or after
// it. When a host leaves, only the keys on its points move (about 1/N of them).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lb/balancer_table.h"
#include "lb/policy.h"
#include "lb/random.h"

namespace waygate::lb {

struct RingHashTable : BalancerTable {
  std::vector<uint64_t> points;  // sorted
  std::vector<uint32_t> hosts;   // hosts[i]: the index in hosts.hosts of the owner of points[i]
};

// Control thread: O(P log P) for P points (at most 131,072, or one per host beyond that).
std::shared_ptr<const RingHashTable> build_ring_hash_table(const routing::HostSet& hosts);

class RingHash final : public Policy {
 public:
  int32_t pick(const routing::HostSet& hosts, const PickContext& context) override;
  PolicyKind kind() const override { return PolicyKind::kRingHash; }

 private:
  Random without_table_;  // a host set that came without its ring (or with another's)
};

}  // namespace waygate::lb
