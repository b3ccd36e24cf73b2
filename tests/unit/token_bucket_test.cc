// The rate limiter's buckets, driven by a clock of the test's own: a burst passes, the next request
// waits as long as the refill rate says, tokens come back with time up to the burst, and the
// per-client table stays within its size however many clients come, forgetting refilled buckets
// before any other.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include "proxy/client_buckets.h"
#include "proxy/token_bucket.h"

namespace waygate::proxy {
namespace {

constexpr uint64_t kSecond = 1'000'000'000;

routing::RateLimitConfig limit(double per_second, uint64_t burst) {
  routing::RateLimitConfig config;
  config.requests_per_second = per_second;
  config.burst = burst;
  return config;
}

ClientAddress ipv4(uint32_t host_order) {
  sockaddr_storage peer{};
  auto& v4 = reinterpret_cast<sockaddr_in&>(peer);
  v4.sin_family = AF_INET;
  v4.sin_addr.s_addr = htonl(host_order);
  return ClientAddress::from(peer);
}

TEST(TokenBucket, BurstPassesThenTheNextRequestWaits) {
  TokenBucket bucket;
  auto config = limit(2, 3);  // a token every 500 ms
  uint64_t now = 7 * kSecond;
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(bucket.take(config, now), 0u) << "request " << i;
  EXPECT_EQ(bucket.take(config, now), kSecond / 2);
  EXPECT_EQ(retry_after_seconds(bucket.take(config, now)), 1u);
}

TEST(TokenBucket, TokensRefillAtTheRate) {
  TokenBucket bucket;
  auto config = limit(2, 3);
  uint64_t now = kSecond;
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(bucket.take(config, now), 0u);
  // 400 ms later: 0.8 of a token, 100 ms short.
  EXPECT_EQ(bucket.take(config, now + 400'000'000), 100'000'000u);
  // 500 ms: one token, one request; the next waits a whole interval again.
  EXPECT_EQ(bucket.take(config, now + 500'000'000), 0u);
  EXPECT_EQ(bucket.take(config, now + 500'000'000), kSecond / 2);
}

TEST(TokenBucket, RefillStopsAtTheBurst) {
  TokenBucket bucket;
  auto config = limit(10, 2);
  ASSERT_EQ(bucket.take(config, kSecond), 0u);
  EXPECT_FALSE(bucket.full_at(config, kSecond));
  // An hour idle is worth two tokens, not 36000.
  uint64_t later = kSecond + 3600 * kSecond;
  EXPECT_TRUE(bucket.full_at(config, later));
  EXPECT_EQ(bucket.take(config, later), 0u);
  EXPECT_EQ(bucket.take(config, later), 0u);
  EXPECT_NE(bucket.take(config, later), 0u);
}

TEST(TokenBucket, RetryAfterRoundsUpToWholeSeconds) {
  EXPECT_EQ(retry_after_seconds(1), 1u);
  EXPECT_EQ(retry_after_seconds(kSecond), 1u);
  EXPECT_EQ(retry_after_seconds(kSecond + 1), 2u);
  // A slow rate: 0.001 per second waits a thousand seconds for its token.
  TokenBucket bucket;
  auto config = limit(0.001, 1);
  ASSERT_EQ(bucket.take(config, kSecond), 0u);
  EXPECT_EQ(retry_after_seconds(bucket.take(config, kSecond)), 1000u);
}

TEST(TokenBucket, AVerySlowRateWaitsLongWithoutOverflow) {
  TokenBucket bucket;
  auto config = limit(1e-30, 1);
  ASSERT_EQ(bucket.take(config, kSecond), 0u);
  uint64_t wait_ns = bucket.take(config, kSecond);
  EXPECT_GE(wait_ns, 1'000'000'000'000'000'000u);
  EXPECT_GE(retry_after_seconds(wait_ns), 1'000'000'000u);
}

TEST(ClientBuckets, EachClientHasItsOwnBucket) {
  ClientBuckets buckets;
  auto config = limit(0.001, 2);
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(buckets.take(1, ipv4(0x0a000001), config, kSecond), 0u);
  EXPECT_NE(buckets.take(1, ipv4(0x0a000001), config, kSecond), 0u);
  EXPECT_EQ(buckets.take(1, ipv4(0x0a000002), config, kSecond), 0u) << "another client";
  EXPECT_EQ(buckets.take(2, ipv4(0x0a000001), config, kSecond), 0u) << "another route's limit";
}

// The table's size is fixed; what can go wrong is clients crowding into a few slots (a bad hash)
// and evicting each other long before it is full.
TEST(ClientBuckets, ManyClientsSpreadOverEverySlotAndNoMore) {
  ClientBuckets buckets;
  auto config = limit(0.001, 5);
  for (uint32_t client = 0; client < 4 * ClientBuckets::kSlots; ++client)
    buckets.take(1, ipv4(0x0a000000 + client), config, kSecond);
  EXPECT_EQ(buckets.size(), ClientBuckets::kSlots);
}

TEST(ClientBuckets, AnEmptiedBucketOutlivesAFloodOfRefilledOnes) {
  ClientBuckets buckets;
  auto slow = limit(0.001, 2);
  ClientAddress busy = ipv4(0x0a000001);
  uint64_t now = 100 * kSecond;
  ASSERT_EQ(buckets.take(1, busy, slow, now), 0u);
  ASSERT_EQ(buckets.take(1, busy, slow, now), 0u);
  ASSERT_NE(buckets.take(1, busy, slow, now), 0u);
  // Many more clients than slots, one request each, a millisecond apart; theirs is a limit that
  // refills in a millisecond, so every earlier bucket is full again when the next client comes.
  // The table makes room by forgetting those, never the busy client's empty bucket (the one idle
  // longest), which would hand it a new burst.
  auto fast = limit(1000, 1);
  for (uint32_t client = 0; client < 4 * ClientBuckets::kSlots; ++client) {
    now += 1'000'000;
    ASSERT_EQ(buckets.take(1, ipv4(0x0b000000 + client), fast, now), 0u);
  }
  EXPECT_NE(buckets.take(1, busy, slow, now), 0u);
}

}  // namespace
}  // namespace waygate::proxy
