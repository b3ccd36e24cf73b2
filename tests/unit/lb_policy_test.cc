// What every load-balancing policy promises: hosts that are out (unhealthy outside panic, or
// already tried by this request) are never picked, -1 only when none is left, and a host set
// without its table still works.
#include "lb/policy.h"

#include <gtest/gtest.h>

#include "lb_test_hosts.h"

namespace waygate::lb {
namespace {

using testing::equal_hosts;
using testing::kFirstEndpointId;

constexpr size_t kPicks = 10'000;

std::string name_of(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kRoundRobin:
      return "RoundRobin";
    case PolicyKind::kRandom:
      return "Random";
    case PolicyKind::kLeastRequest:
      return "LeastRequest";
    case PolicyKind::kRingHash:
      return "RingHash";
    case PolicyKind::kMaglev:
      return "Maglev";
  }
  return "Unknown";
}

class EveryPolicy : public ::testing::TestWithParam<PolicyKind> {
 protected:
  // A pick context with a key, so that ring_hash and maglev use their table (with the key varying
  // per pick as the random bits do, so that every host can come up).
  static std::vector<size_t> picks_with_keys(Policy& policy, const routing::HostSet& set,
                                             PickContext context = {}) {
    return picks(policy, set, context, true);
  }

  // Picks that all carry one key: ring_hash and maglev without a usable table must still spread
  // them (at random), where with their table they would send all of them to one host.
  static std::vector<size_t> picks_with_one_key(Policy& policy, const routing::HostSet& set) {
    return picks(policy, set, {}, false);
  }

 private:
  static std::vector<size_t> picks(Policy& policy, const routing::HostSet& set, PickContext context,
                                   bool key_per_pick) {
    std::mt19937_64 random(3);
    std::vector<size_t> counts(set.hosts.size() + 1, 0);
    context.hash = testing::key_of(1);
    context.has_hash = true;
    for (size_t i = 0; i < kPicks; ++i) {
      context.random = random();
      if (key_per_pick) context.hash = random();
      int32_t index = policy.pick(set, context);
      counts[index < 0 ? set.hosts.size() : static_cast<size_t>(index)]++;
    }
    return counts;
  }
};

TEST_P(EveryPolicy, MakePolicyMakesTheKindAsked) {
  EXPECT_EQ(make_policy(GetParam())->kind(), GetParam());
}

TEST_P(EveryPolicy, OnlyHashPoliciesGetATable) {
  routing::HostSet set = equal_hosts(3);
  bool hashing = GetParam() == PolicyKind::kRingHash || GetParam() == PolicyKind::kMaglev;
  EXPECT_EQ(build_table(GetParam(), set) != nullptr, hashing);
}

TEST_P(EveryPolicy, EveryHostTakesPicks) {
  routing::HostSet set = equal_hosts(4);
  testing::build_table_for(GetParam(), set);
  std::vector<size_t> counts = picks_with_keys(*make_policy(GetParam()), set);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_GT(counts[i], kPicks / 8) << "host " << i;
}

TEST_P(EveryPolicy, SkipsUnhealthyHosts) {
  routing::HostSet set = equal_hosts(4);
  set.hosts[1].healthy = false;
  set.healthy_count = 3;
  testing::build_table_for(GetParam(), set);
  std::vector<size_t> counts = picks_with_keys(*make_policy(GetParam()), set);
  EXPECT_EQ(counts[1], 0u);
  for (size_t i : {0, 2, 3})
    EXPECT_GT(counts[i], kPicks / 8) << "host " << i;
}

// The table was built while the host was healthy, and still names it.
TEST_P(EveryPolicy, SkipsHostsThatFailedAfterTheTableWasBuilt) {
  routing::HostSet set = equal_hosts(4);
  testing::build_table_for(GetParam(), set);
  set.hosts[1].healthy = false;
  set.healthy_count = 3;
  std::vector<size_t> counts = picks_with_keys(*make_policy(GetParam()), set);
  EXPECT_EQ(counts[1], 0u);
  for (size_t i : {0, 2, 3})
    EXPECT_GT(counts[i], kPicks / 8) << "host " << i;
}

TEST_P(EveryPolicy, UsesUnhealthyHostsInPanic) {
  routing::HostSet set = equal_hosts(4);
  set.hosts[1].healthy = false;
  set.hosts[2].healthy = false;
  set.healthy_count = 2;
  set.panic = true;
  testing::build_table_for(GetParam(), set);
  std::vector<size_t> counts = picks_with_keys(*make_policy(GetParam()), set);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_GT(counts[i], kPicks / 8) << "host " << i;
}

// A host that never passed its checks (a backend still starting) takes nothing even in panic.
TEST_P(EveryPolicy, SkipsUnprovenHostsInPanic) {
  routing::HostSet set = equal_hosts(4);
  for (size_t i : {1, 2, 3})
    set.hosts[i].healthy = false;
  set.hosts[3].proven = false;
  set.healthy_count = 1;
  set.panic = true;
  testing::build_table_for(GetParam(), set);
  std::vector<size_t> counts = picks_with_keys(*make_policy(GetParam()), set);
  EXPECT_EQ(counts[3], 0u);
  for (size_t i : {0, 1, 2})
    EXPECT_GT(counts[i], kPicks / 8) << "host " << i;
}

TEST_P(EveryPolicy, SkipsExcludedHosts) {
  routing::HostSet set = equal_hosts(4);
  testing::build_table_for(GetParam(), set);
  uint32_t excluded[] = {kFirstEndpointId + 0, kFirstEndpointId + 2};
  PickContext context;
  context.excluded = excluded;
  std::vector<size_t> counts = picks_with_keys(*make_policy(GetParam()), set, context);
  EXPECT_EQ(counts[0], 0u);
  EXPECT_EQ(counts[2], 0u);
  EXPECT_GT(counts[1], kPicks / 4);
  EXPECT_GT(counts[3], kPicks / 4);
}

TEST_P(EveryPolicy, PicksTheOneHostLeft) {
  routing::HostSet set = equal_hosts(50);
  for (size_t i = 0; i < 50; ++i)
    set.hosts[i].healthy = i == 37;
  set.healthy_count = 1;
  testing::build_table_for(GetParam(), set);
  uint32_t excluded[] = {kFirstEndpointId + 3};
  PickContext context;
  context.excluded = excluded;
  std::vector<size_t> counts = picks_with_keys(*make_policy(GetParam()), set, context);
  EXPECT_EQ(counts[37], kPicks);
}

TEST_P(EveryPolicy, ReturnsMinusOneWhenEveryHostIsUnhealthyOrExcluded) {
  routing::HostSet set = equal_hosts(4);
  testing::build_table_for(GetParam(), set);
  set.hosts[0].healthy = false;
  set.hosts[1].healthy = false;
  set.healthy_count = 2;
  uint32_t excluded[] = {kFirstEndpointId + 2, kFirstEndpointId + 3};
  PickContext context;
  context.excluded = excluded;
  std::vector<size_t> counts = picks_with_keys(*make_policy(GetParam()), set, context);
  EXPECT_EQ(counts[4], kPicks);
}

TEST_P(EveryPolicy, ReturnsMinusOneForAnEmptyHostSet) {
  routing::HostSet set;
  testing::build_table_for(GetParam(), set);
  PickContext context;
  EXPECT_EQ(make_policy(GetParam())->pick(set, context), -1);
}

TEST_P(EveryPolicy, WorksWithoutATable) {
  routing::HostSet set = equal_hosts(4);
  std::vector<size_t> counts = picks_with_one_key(*make_policy(GetParam()), set);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_GT(counts[i], kPicks / 8) << "host " << i;
}

TEST_P(EveryPolicy, IgnoresATableOfAnotherKind) {
  routing::HostSet set = equal_hosts(4);
  PolicyKind other =
      GetParam() == PolicyKind::kMaglev ? PolicyKind::kRingHash : PolicyKind::kMaglev;
  testing::build_table_for(other, set);
  std::vector<size_t> counts = picks_with_one_key(*make_policy(GetParam()), set);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_GT(counts[i], kPicks / 8) << "host " << i;
}

// A table built for a larger set would name hosts past the end of this one.
TEST_P(EveryPolicy, IgnoresATableOfAnotherHostSet) {
  routing::HostSet larger = equal_hosts(40);
  routing::HostSet set = equal_hosts(4);
  set.lb_table = build_table(GetParam(), larger);
  std::vector<size_t> counts = picks_with_one_key(*make_policy(GetParam()), set);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_GT(counts[i], kPicks / 8) << "host " << i;
}

INSTANTIATE_TEST_SUITE_P(Lb, EveryPolicy,
                         ::testing::Values(PolicyKind::kRoundRobin, PolicyKind::kRandom,
                                           PolicyKind::kLeastRequest, PolicyKind::kRingHash,
                                           PolicyKind::kMaglev),
                         [](const auto& param_info) { return name_of(param_info.param); });

}  // namespace
}  // namespace waygate::lb
