// What build_table makes for ring_hash and maglev: every table derives from this header, and a
// policy checks it before using a table, so one built for another kind, or for another host set,
// is ignored rather than misread.
#pragma once

#include <cstddef>

#include "lb/policy.h"

namespace waygate::lb {

struct BalancerTable {
  PolicyKind kind = PolicyKind::kRoundRobin;
  size_t host_count = 0;  // hosts.hosts.size() of the set it was built for
};

// The host set's table if it is a Table built by build_table(kind, ...) for a set of this size,
// else null.
template <typename Table>
const Table* table_for(const routing::HostSet& hosts, PolicyKind kind) {
  const BalancerTable* table = hosts.lb_table.get();
  if (!table || table->kind != kind || table->host_count != hosts.hosts.size()) return nullptr;
  return static_cast<const Table*>(table);
}

}  // namespace waygate::lb
