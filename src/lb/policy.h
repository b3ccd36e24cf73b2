// Load-balancing policies: which host of a cluster serves the next request. One instance per
// cluster and worker, so a policy keeps its state (a round-robin position) without locks, and the
// state survives a new host set. One policy per file; make_policy picks by name.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "routing/host_set.h"

namespace waygate::lb {

struct PickContext {
  // Endpoints this request has tried already: a retry goes elsewhere while it can.
  std::span<const uint32_t> excluded;
};

class Policy {
 public:
  virtual ~Policy() = default;
  // The index in hosts.hosts of the host to use, skipping excluded endpoints; -1 when none is
  // left.
  virtual int32_t pick(const routing::HostSet& hosts, const PickContext& context) = 0;
};

// The policy for an `lb:` name from the config ("round_robin").
std::unique_ptr<Policy> make_policy(std::string_view name);

// Whether the endpoint is in the context's excluded list (a handful of ids at most).
inline bool is_excluded(const PickContext& context, uint32_t endpoint_id) {
  for (uint32_t id : context.excluded) {
    if (id == endpoint_id) return true;
  }
  return false;
}

}  // namespace waygate::lb
