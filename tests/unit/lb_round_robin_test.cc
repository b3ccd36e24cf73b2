// Round robin: every host in turn, and in proportion to weight when weights differ.
#include "lb/round_robin.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "lb_test_hosts.h"

namespace waygate::lb {
namespace {

using testing::count_picks;
using testing::host_set;

constexpr size_t kPicks = 100'000;

TEST(LbRoundRobin, EqualWeightsGetExactlyEqualShares) {
  routing::HostSet set = testing::equal_hosts(4);
  RoundRobin policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(counts[i], kPicks / 4) << "host " << i;
}

TEST(LbRoundRobin, TakesHostsInTurn) {
  routing::HostSet set = testing::equal_hosts(3);
  RoundRobin policy;
  PickContext context;
  std::vector<int32_t> order;
  for (int i = 0; i < 6; ++i)
    order.push_back(policy.pick(set, context));
  EXPECT_EQ(order, (std::vector<int32_t>{0, 1, 2, 0, 1, 2}));
}

TEST(LbRoundRobin, WeightsOneToThreeGetOneToThreeShares) {
  routing::HostSet set = host_set({1, 3});
  RoundRobin policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks);
  EXPECT_EQ(counts[0], kPicks / 4);
  EXPECT_EQ(counts[1], kPicks * 3 / 4);
}

// Smooth weighted round robin: the heavy host's picks are spread through the cycle, so every run
// of four picks holds the light host once, never a run of heavy picks longer than the cycle.
TEST(LbRoundRobin, WeightedPicksInterleave) {
  routing::HostSet set = host_set({1, 3});
  RoundRobin policy;
  PickContext context;
  std::vector<int32_t> order;
  for (int i = 0; i < 400; ++i)
    order.push_back(policy.pick(set, context));
  for (size_t start = 0; start + 4 <= order.size(); ++start) {
    EXPECT_EQ(std::count(order.begin() + static_cast<long>(start),
                         order.begin() + static_cast<long>(start) + 4, 0),
              1)
        << "picks " << start << " to " << start + 3;
  }
}

// A set built by hand (or the first one a worker sees) may share the policy's initial version;
// a set of another size must not reuse scores sized for the last one.
TEST(LbRoundRobin, WeightedSetOfAnotherSizeButSameVersionIsServed) {
  routing::HostSet small = host_set({1, 3});
  routing::HostSet large = host_set({1, 3, 1, 3});
  large.version = small.version;
  RoundRobin policy;
  count_picks(policy, small, 10);
  std::vector<size_t> counts = count_picks(policy, large, 8'000);
  EXPECT_EQ(counts[0], 1'000u);
  EXPECT_EQ(counts[1], 3'000u);
  EXPECT_EQ(counts[2], 1'000u);
  EXPECT_EQ(counts[3], 3'000u);
}

}  // namespace
}  // namespace waygate::lb
