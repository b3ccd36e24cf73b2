#include "lb/policy.h"

#include "lb/round_robin.h"

namespace waygate::lb {

std::unique_ptr<Policy> make_policy(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kRoundRobin:
    default:
      return std::make_unique<RoundRobin>();
  }
}

std::shared_ptr<const void> build_table(PolicyKind kind, const routing::HostSet& hosts) {
  (void)kind;
  (void)hosts;
  return nullptr;
}

}  // namespace waygate::lb
