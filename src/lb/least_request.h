// Least request: the power of two choices. Two pickable hosts drawn at random, and the one with
// fewer requests in flight on this worker wins (per unit of weight when weights differ). O(1),
// and it avoids a host that is slow without the herding of always choosing the global least.
#pragma once

#include "lb/policy.h"

namespace waygate::lb {

class LeastRequest final : public Policy {
 public:
  int32_t pick(const routing::HostSet& hosts, const PickContext& context) override;
  PolicyKind kind() const override { return PolicyKind::kLeastRequest; }
};

}  // namespace waygate::lb
