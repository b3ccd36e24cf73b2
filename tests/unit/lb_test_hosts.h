// Host sets and pick loops shared by the load-balancing tests: hosts 10.0.0.N:8080 whose endpoint
// ids differ from their indices (so a policy that mixes the two is caught), and counts of where
// many picks went.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/hash.h"
#include "lb/policy.h"
#include "routing/host_set.h"

namespace waygate::lb::testing {

constexpr uint32_t kFirstEndpointId = 100;

inline std::string address_of(size_t n) {
  return "10.0.0." + std::to_string(n) + ":8080";
}

// Hosts numbered first, first + 1, ... (their address and id follow the number), with these
// weights; a version of its own.
inline routing::HostSet host_set(const std::vector<uint32_t>& weights, size_t first = 0) {
  static uint64_t versions = 0;
  routing::HostSet set;
  set.version = ++versions;
  for (size_t i = 0; i < weights.size(); ++i) {
    routing::Host host;
    host.endpoint_id = kFirstEndpointId + static_cast<uint32_t>(first + i);
    host.weight = weights[i];
    host.address_text = address_of(first + i);
    host.hash = hash64(host.address_text);
    set.hosts.push_back(host);
    set.uniform_weights = set.uniform_weights && weights[i] == weights.front();
  }
  set.healthy_count = static_cast<uint32_t>(set.hosts.size());
  return set;
}

inline routing::HostSet equal_hosts(size_t count) {
  return host_set(std::vector<uint32_t>(count, 1));
}

inline void build_table_for(PolicyKind kind, routing::HostSet& set) {
  set.lb_table = build_table(kind, set);
}

// Picks by index in set.hosts, each with fresh random bits; -1 picks count in the last slot.
inline std::vector<size_t> count_picks(Policy& policy, const routing::HostSet& set, size_t picks,
                                       PickContext context = {}, uint64_t seed = 1) {
  std::mt19937_64 random(seed);
  std::vector<size_t> counts(set.hosts.size() + 1, 0);
  for (size_t i = 0; i < picks; ++i) {
    context.random = random();
    int32_t index = policy.pick(set, context);
    counts[index < 0 ? set.hosts.size() : static_cast<size_t>(index)]++;
  }
  return counts;
}

// The request key of client number n, as the session would hash a header.
inline uint64_t key_of(size_t n) {
  return hash64("client-" + std::to_string(n));
}

// The address each of `keys` keys is sent to.
inline std::vector<std::string> addresses_for_keys(Policy& policy, const routing::HostSet& set,
                                                   size_t keys) {
  std::vector<std::string> addresses;
  addresses.reserve(keys);
  std::mt19937_64 random(7);
  for (size_t n = 0; n < keys; ++n) {
    PickContext context;
    context.hash = key_of(n);
    context.has_hash = true;
    context.random = random();
    int32_t index = policy.pick(set, context);
    addresses.push_back(index < 0 ? "none" : set.hosts[static_cast<size_t>(index)].address_text);
  }
  return addresses;
}

}  // namespace waygate::lb::testing
