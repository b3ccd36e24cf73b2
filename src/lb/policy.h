// Load-balancing policies: which host of a cluster serves the next request. One instance per
// cluster and worker, so a policy keeps its state (a round-robin position) without locks, and the
// state survives a new host set. Tables a policy needs (a hash ring, a Maglev table) are built on
// the control thread, once per host set, and travel in it. One policy per file; make_policy and
// build_table pick by kind.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "routing/config.h"
#include "routing/host_set.h"

namespace waygate::lb {

struct BalancerTable;

// The policies, as the config names them (`lb:` round_robin, random, least_request, ring_hash,
// maglev).
using PolicyKind = routing::LbPolicy;

struct PickContext {
  // Endpoints this request has tried already: a retry goes elsewhere while it can.
  std::span<const uint32_t> excluded;
  // The request's key for ring_hash and maglev (hash64 of a header, a cookie or the client
  // address); has_hash false when the request has none (the policy then picks at random).
  uint64_t hash = 0;
  bool has_hash = false;
  // Requests in flight on this worker, by endpoint id (least_request); ids past its end have none.
  std::span<const uint32_t> active_requests;
  // Fresh random bits for this pick (random, least_request's two choices, a missing hash).
  uint64_t random = 0;
};

class Policy {
 public:
  virtual ~Policy() = default;
  // The index in hosts.hosts of the host to use: an eligible one (routing::eligible) that is not
  // excluded; -1 when none is left.
  virtual int32_t pick(const routing::HostSet& hosts, const PickContext& context) = 0;
  virtual PolicyKind kind() const = 0;
};

std::unique_ptr<Policy> make_policy(PolicyKind kind);

// The table a policy of this kind needs for these hosts (built over the eligible ones), or null.
// Control thread; may take milliseconds for thousands of hosts.
std::shared_ptr<const BalancerTable> build_table(PolicyKind kind, const routing::HostSet& hosts);

// Whether the endpoint is in the context's excluded list (a handful of ids at most).
inline bool is_excluded(const PickContext& context, uint32_t endpoint_id) {
  for (uint32_t id : context.excluded) {
    if (id == endpoint_id) return true;
  }
  return false;
}

}  // namespace waygate::lb
