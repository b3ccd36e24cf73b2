// Random: a host drawn at random, in proportion to its weight. O(1) expected with equal weights;
// the draw also serves least_request (two choices) and ring_hash and maglev without a table.
#pragma once

#include <cstdint>

#include "lb/policy.h"
#include "lb/random_bits.h"

namespace waygate::lb {

// A pickable host drawn uniformly (weights ignored), other than other_than (-1: any); -1 when there
// is none.
int32_t draw_uniform(const routing::HostSet& hosts, const PickContext& context, RandomBits& bits,
                     int32_t other_than = -1);

class Random final : public Policy {
 public:
  int32_t pick(const routing::HostSet& hosts, const PickContext& context) override;
  PolicyKind kind() const override { return PolicyKind::kRandom; }

 private:
  int32_t draw_weighted(const routing::HostSet& hosts, const PickContext& context,
                        RandomBits& bits);

  // The largest weight of the host set of this version, for rejection sampling.
  uint32_t max_weight_ = 0;
  uint64_t version_ = 0;
  size_t host_count_ = 0;
};

}  // namespace waygate::lb
