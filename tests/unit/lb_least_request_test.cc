// Least request (power of two choices): of two hosts drawn at random, the one with fewer requests
// in flight (per unit of weight) wins. Shares are checked over 100,000 picks to within 1.5
// percentage points (the binomial standard deviation is under 0.2).
#include "lb/least_request.h"

#include <gtest/gtest.h>

#include "lb_test_hosts.h"

namespace waygate::lb {
namespace {

using testing::count_picks;
using testing::host_set;
using testing::kFirstEndpointId;

constexpr size_t kPicks = 100'000;

void expect_share(size_t count, double share, const char* what) {
  EXPECT_NEAR(static_cast<double>(count) / kPicks, share, 0.015) << what;
}

// Requests in flight by endpoint id, from the hosts' counts in order.
std::vector<uint32_t> active_by_id(const std::vector<uint32_t>& by_host) {
  std::vector<uint32_t> active(kFirstEndpointId, 0);
  active.insert(active.end(), by_host.begin(), by_host.end());
  return active;
}

TEST(LbLeastRequest, SpreadsEvenlyWhenActiveCountsAreEqual) {
  routing::HostSet set = testing::equal_hosts(4);
  std::vector<uint32_t> active = active_by_id({5, 5, 5, 5});
  PickContext context;
  context.active_requests = active;
  LeastRequest policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks, context);
  for (size_t i = 0; i < 4; ++i)
    expect_share(counts[i], 0.25, "host");
}

// The idle host wins whenever it is one of the two drawn: half of all pairs of four hosts.
TEST(LbLeastRequest, PrefersTheHostWithFewerActiveRequests) {
  routing::HostSet set = testing::equal_hosts(4);
  std::vector<uint32_t> active = active_by_id({10, 0, 10, 10});
  PickContext context;
  context.active_requests = active;
  LeastRequest policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks, context);
  expect_share(counts[1], 0.5, "idle host");
  for (size_t i : {0, 2, 3})
    expect_share(counts[i], 0.5 / 3, "busy host");
}

// Two distinct hosts are compared, so the busiest never wins.
TEST(LbLeastRequest, NeverPicksTheBusiestHost) {
  routing::HostSet set = testing::equal_hosts(4);
  std::vector<uint32_t> active = active_by_id({1, 2, 9, 3});
  PickContext context;
  context.active_requests = active;
  LeastRequest policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks, context);
  EXPECT_EQ(counts[2], 0u);
  expect_share(counts[0], 0.5, "least busy host");  // wins each of the 3 pairs of 6 it is in
}

TEST(LbLeastRequest, HostsPastTheActiveCountsHaveNone) {
  routing::HostSet set = testing::equal_hosts(2);
  std::vector<uint32_t> active = active_by_id({3});  // host 1's id is past the end
  PickContext context;
  context.active_requests = active;
  LeastRequest policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks, context);
  EXPECT_EQ(counts[1], kPicks);
}

// Weights 1 and 3: 2 in flight on the light host is 2 per unit of weight, 3 on the heavy one is 1.
TEST(LbLeastRequest, ComparesActiveRequestsPerUnitOfWeight) {
  routing::HostSet set = host_set({1, 3});
  std::vector<uint32_t> active = active_by_id({2, 3});
  PickContext context;
  context.active_requests = active;
  LeastRequest policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks, context);
  EXPECT_EQ(counts[1], kPicks);
}

TEST(LbLeastRequest, EqualLoadPerWeightGoesToTheHeavierHost) {
  routing::HostSet set = host_set({1, 3});
  std::vector<uint32_t> active = active_by_id({1, 3});
  PickContext context;
  context.active_requests = active;
  LeastRequest policy;
  std::vector<size_t> counts = count_picks(policy, set, kPicks, context);
  EXPECT_EQ(counts[1], kPicks);
}

}  // namespace
}  // namespace waygate::lb
