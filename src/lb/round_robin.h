// Round robin: each host in turn, per worker.
#pragma once

#include "lb/policy.h"

namespace waygate::lb {

class RoundRobin final : public Policy {
 public:
  int32_t pick(const routing::HostSet& hosts, const PickContext& context) override;

 private:
  uint32_t next_ = 0;
};

}  // namespace waygate::lb
