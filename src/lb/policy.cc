#include "lb/policy.h"

#include "lb/least_request.h"
#include "lb/maglev.h"
#include "lb/random.h"
#include "lb/ring_hash.h"
#include "lb/round_robin.h"

namespace waygate::lb {

std::unique_ptr<Policy> make_policy(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kRandom:
      return std::make_unique<Random>();
    case PolicyKind::kLeastRequest:
      return std::make_unique<LeastRequest>();
    case PolicyKind::kRingHash:
      return std::make_unique<RingHash>();
    case PolicyKind::kMaglev:
      return std::make_unique<Maglev>();
    case PolicyKind::kRoundRobin:
      break;
  }
  return std::make_unique<RoundRobin>();
}

std::shared_ptr<const BalancerTable> build_table(PolicyKind kind, const routing::HostSet& hosts) {
  std::shared_ptr<const BalancerTable> table;
  if (kind == PolicyKind::kRingHash) table = build_ring_hash_table(hosts);
  if (kind == PolicyKind::kMaglev) table = build_maglev_table(hosts);
  return table;
}

}  // namespace waygate::lb
