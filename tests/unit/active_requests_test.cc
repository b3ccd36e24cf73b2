// A worker's requests in flight per endpoint: what least_request balances by (counts()) and what
// GET /clusters reads from another thread (read()) agree, across the tables growing.
#include "proxy/active_requests.h"

#include <gtest/gtest.h>

namespace waygate::proxy {
namespace {

TEST(ActiveRequestsTest, CountsGoUpAndDownByEndpoint) {
  ActiveRequests active;
  EXPECT_EQ(active.read(3), 0u);
  EXPECT_TRUE(active.counts().empty());
  active.change(3, +1);
  active.change(3, +1);
  active.change(5, +1);
  active.change(3, -1);
  EXPECT_EQ(active.read(3), 1u);
  EXPECT_EQ(active.read(5), 1u);
  EXPECT_EQ(active.read(4), 0u);
  ASSERT_GT(active.counts().size(), 5u);
  EXPECT_EQ(active.counts()[3], 1u);
  EXPECT_EQ(active.counts()[5], 1u);
}

TEST(ActiveRequestsTest, GrowingKeepsTheCounts) {
  ActiveRequests active;
  active.change(1, +2);
  active.change(10'000, +1);  // far past the first table
  EXPECT_EQ(active.read(1), 2u);
  EXPECT_EQ(active.read(10'000), 1u);
  EXPECT_EQ(active.counts()[1], 2u);
  EXPECT_EQ(active.read(1'000'000), 0u);
}

}  // namespace
}  // namespace waygate::proxy
