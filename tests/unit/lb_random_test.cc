// Random: uniform over the hosts that may be picked, or in proportion to their weights. Shares are
// checked over 100,000 picks to within 3% of the expected share (the binomial standard deviation
// is under 1% of it for every share here).
#include "lb/random.h"

#include <gtest/gtest.h>

#include "lb_test_hosts.h"

namespace waygate::lb {
namespace {

using testing::count_picks;
using testing::host_set;

constexpr size_t kPicks = 100'000;

void expect_share(size_t count, double share, const char* what) {
  double expected = share * kPicks;
  EXPECT_NEAR(static_cast<double>(count), expected, 0.03 * expected) << what;
}

TEST(LbRandom, EqualWeightsGetEqualShares) {
  routing::HostSet set = testing::equal_hosts(5);
  Random policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks);
  for (size_t i = 0; i < 5; ++i)
    expect_share(counts[i], 0.2, "host");
}

TEST(LbRandom, WeightsOneToThreeGetOneToThreeShares) {
  routing::HostSet set = host_set({1, 3});
  Random policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks);
  expect_share(counts[0], 0.25, "weight 1");
  expect_share(counts[1], 0.75, "weight 3");
}

// Few draws land on a pickable host here, so most picks come from the exact pass: it must be as
// uniform as the draws.
TEST(LbRandom, EqualSharesWhenMostHostsAreOut) {
  routing::HostSet set = testing::equal_hosts(200);
  for (size_t i = 0; i < 200; ++i)
    set.hosts[i].healthy = i == 10 || i == 20 || i == 30;
  set.healthy_count = 3;
  Random policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks);
  for (size_t i : {10, 20, 30})
    expect_share(counts[i], 1.0 / 3, "healthy host");
}

// The same, weighted: a heavy host among many light ones rejects most draws.
TEST(LbRandom, WeightedSharesWhenMostDrawsAreRejected) {
  std::vector<uint32_t> weights(100, 1);
  weights[0] = 1'000;
  routing::HostSet set = host_set(weights);
  Random policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks);
  expect_share(counts[0], 1'000.0 / 1'099, "heavy host");
  size_t light = 0;
  for (size_t i = 1; i < 100; ++i)
    light += counts[i];
  expect_share(light, 99.0 / 1'099, "light hosts together");
}

TEST(LbRandom, WeightsOfTheHostsLeftSetTheShares) {
  routing::HostSet set = host_set({1, 2, 3, 4});
  uint32_t excluded[] = {testing::kFirstEndpointId + 3};
  PickContext context;
  context.excluded = excluded;
  Random policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks, context);
  expect_share(counts[0], 1.0 / 6, "weight 1");
  expect_share(counts[1], 2.0 / 6, "weight 2");
  expect_share(counts[2], 3.0 / 6, "weight 3");
  EXPECT_EQ(counts[3], 0u);
}

}  // namespace
}  // namespace waygate::lb
