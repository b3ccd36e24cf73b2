// Maglev hashing (Eisenbud et al., NSDI 2016): a lookup table of prime size in which each
// eligible host owns slots in proportion to its weight; a request's key goes to the host of slot
// key % size. Lookup is one index; when a host leaves, its slots go to the others and few more
// keys move than the 1/N that must.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lb/balancer_table.h"
#include "lb/policy.h"
#include "lb/random.h"

namespace waygate::lb {

struct MaglevTable : BalancerTable {
  // Prime, so every host's preference list (offset + j * skip) visits every slot. 65,537 slots
  // keep hosts within 1% of their share up to about 650 hosts (a slot more or less is 1/(M/N)).
  static constexpr uint32_t kSize = 65537;
  std::vector<uint32_t> slots;  // kSize entries: an index in hosts.hosts
};

// Control thread: O(M log M) for M slots, whatever the number of hosts.
std::shared_ptr<const MaglevTable> build_maglev_table(const routing::HostSet& hosts);

class Maglev final : public Policy {
 public:
  int32_t pick(const routing::HostSet& hosts, const PickContext& context) override;
  PolicyKind kind() const override { return PolicyKind::kMaglev; }

 private:
  Random without_table_;  // a host set that came without its table (or with another's)
};

}  // namespace waygate::lb
