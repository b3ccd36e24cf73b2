// Round robin: each host in turn, per worker. With weights that differ, smooth weighted round
// robin (as nginx does it): over a cycle each host is picked in proportion to its weight, and the
// picks of a heavy host are spread through the cycle rather than bunched.
#pragma once

#include <vector>

#include "lb/policy.h"

namespace waygate::lb {

class RoundRobin final : public Policy {
 public:
  int32_t pick(const routing::HostSet& hosts, const PickContext& context) override;
  PolicyKind kind() const override { return PolicyKind::kRoundRobin; }

 private:
  int32_t pick_weighted(const routing::HostSet& hosts, const PickContext& context);

  uint32_t next_ = 0;
  // Smooth weighted round robin: each host's running score, for the host set of this version.
  std::vector<int64_t> current_;
  uint64_t version_ = 0;
};

}  // namespace waygate::lb
