// Ring hash: a key keeps its host, keys spread over the hosts, and a host that leaves moves only
// its own keys. Measured over 100,000 keys.
#include "lb/ring_hash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "lb_test_hosts.h"

namespace waygate::lb {
namespace {

using testing::addresses_for_keys;
using testing::host_set;

constexpr size_t kKeys = 100'000;

routing::HostSet ring_hosts(const std::vector<uint32_t>& weights, size_t first = 0) {
  routing::HostSet set = host_set(weights, first);
  testing::build_table_for(PolicyKind::kRingHash, set);
  return set;
}

std::map<std::string, size_t> keys_per_address(const std::vector<std::string>& addresses) {
  std::map<std::string, size_t> counts;
  for (const std::string& address : addresses)
    counts[address]++;
  return counts;
}

TEST(LbRingHash, SameKeyAlwaysGoesToTheSameHost) {
  routing::HostSet set = ring_hosts(std::vector<uint32_t>(5, 1));
  RingHash policy;
  std::mt19937_64 random(11);
  for (size_t n = 0; n < 1'000; ++n) {
    PickContext context;
    context.hash = testing::key_of(n);
    context.has_hash = true;
    context.random = random();
    int32_t first = policy.pick(set, context);
    for (int again = 0; again < 5; ++again) {
      context.random = random();
      ASSERT_EQ(policy.pick(set, context), first) << "key " << n;
    }
  }
}

// Every worker, and the next build after a restart or a reordered discovery answer, must agree.
TEST(LbRingHash, SameHostsInAnotherOrderMapKeysAlike) {
  routing::HostSet set = ring_hosts(std::vector<uint32_t>(6, 1));
  routing::HostSet reversed = set;
  std::reverse(reversed.hosts.begin(), reversed.hosts.end());
  testing::build_table_for(PolicyKind::kRingHash, reversed);
  RingHash policy;
  RingHash other_worker;
  EXPECT_EQ(addresses_for_keys(policy, set, kKeys),
            addresses_for_keys(other_worker, reversed, kKeys));
}

// With 1024 points a host, each host's share is within 15% of 1/N (some 4.5 standard deviations of
// a host's share, counting the keys' own spread).
TEST(LbRingHash, KeysSpreadEvenlyOverThreeToTenHosts) {
  for (size_t hosts = 3; hosts <= 10; ++hosts) {
    routing::HostSet set = ring_hosts(std::vector<uint32_t>(hosts, 1));
    RingHash policy;
    std::map<std::string, size_t> counts = keys_per_address(addresses_for_keys(policy, set, kKeys));
    ASSERT_EQ(counts.size(), hosts);
    double expected = static_cast<double>(kKeys) / static_cast<double>(hosts);
    for (const auto& [address, count] : counts) {
      EXPECT_NEAR(static_cast<double>(count), expected, 0.15 * expected)
          << address << " of " << hosts << " hosts";
    }
  }
}

TEST(LbRingHash, WeightsOneToThreeGetOneToThreeShares) {
  routing::HostSet set = ring_hosts({1, 3});
  RingHash policy;
  std::map<std::string, size_t> counts = keys_per_address(addresses_for_keys(policy, set, kKeys));
  EXPECT_NEAR(static_cast<double>(counts[set.hosts[0].address_text]) / kKeys, 0.25, 0.03);
  EXPECT_NEAR(static_cast<double>(counts[set.hosts[1].address_text]) / kKeys, 0.75, 0.03);
}

// The hosts that stay keep every key they had; the leaver's keys (about 1/N) go elsewhere.
TEST(LbRingHash, RemovingOneHostMovesOnlyItsKeys) {
  for (size_t hosts = 3; hosts <= 10; ++hosts) {
    routing::HostSet before = ring_hosts(std::vector<uint32_t>(hosts, 1));
    // Without host 1: the hosts before and after it keep their numbers (addresses).
    routing::HostSet after = before;
    after.hosts.erase(after.hosts.begin() + 1);
    testing::build_table_for(PolicyKind::kRingHash, after);
    RingHash policy;
    std::vector<std::string> old_addresses = addresses_for_keys(policy, before, kKeys);
    std::vector<std::string> new_addresses = addresses_for_keys(policy, after, kKeys);
    const std::string& leaver = before.hosts[1].address_text;
    size_t moved = 0;
    for (size_t n = 0; n < kKeys; ++n) {
      if (old_addresses[n] == new_addresses[n]) continue;
      ++moved;
      ASSERT_EQ(old_addresses[n], leaver) << "key " << n << " moved off a host that stayed";
    }
    double moved_share = static_cast<double>(moved) / kKeys;
    EXPECT_GT(moved_share, 0.5 / static_cast<double>(hosts)) << hosts << " hosts";
    EXPECT_LT(moved_share, 2.0 / static_cast<double>(hosts)) << hosts << " hosts";
  }
}

// A retry of the same key skips the host it tried, and lands on the same next host each time; the
// keys of an excluded host spread over the others rather than piling onto one.
TEST(LbRingHash, ExcludedHostsKeysGoOnAlongTheRing) {
  routing::HostSet set = ring_hosts(std::vector<uint32_t>(5, 1));
  RingHash policy;
  std::vector<std::string> addresses = addresses_for_keys(policy, set, 10'000);
  const routing::Host& tried = set.hosts[2];
  uint32_t excluded[] = {tried.endpoint_id};
  std::map<std::string, size_t> detours;
  std::mt19937_64 random(5);
  for (size_t n = 0; n < 10'000; ++n) {
    if (addresses[n] != tried.address_text) continue;
    PickContext context;
    context.hash = testing::key_of(n);
    context.has_hash = true;
    context.excluded = excluded;
    context.random = random();
    int32_t detour = policy.pick(set, context);
    ASSERT_GE(detour, 0);
    context.random = random();
    ASSERT_EQ(policy.pick(set, context), detour) << "key " << n;
    detours[set.hosts[static_cast<size_t>(detour)].address_text]++;
  }
  EXPECT_EQ(detours.count(tried.address_text), 0u);
  EXPECT_EQ(detours.size(), 4u);
}

TEST(LbRingHash, WithoutAKeyPicksAtRandom) {
  routing::HostSet set = ring_hosts(std::vector<uint32_t>(4, 1));
  RingHash policy;
  std::vector<size_t> counts = testing::count_picks(policy, set, kKeys);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(static_cast<double>(counts[i]) / kKeys, 0.25, 0.04) << "host " << i;
  }
}

}  // namespace
}  // namespace waygate::lb
