#include "core/units.h"

#include <gtest/gtest.h>

namespace waygate {
namespace {

TEST(Units, DurationsTakeEachSuffix) {
  EXPECT_EQ(parse_duration_ms("250ms"), 250u);
  EXPECT_EQ(parse_duration_ms("2s"), 2000u);
  EXPECT_EQ(parse_duration_ms("1m"), 60000u);
  EXPECT_EQ(parse_duration_ms("1h"), 3600000u);
}

TEST(Units, DurationsWithoutAKnownSuffixAreRefused) {
  EXPECT_FALSE(parse_duration_ms("10"));
  EXPECT_FALSE(parse_duration_ms("s"));
  EXPECT_FALSE(parse_duration_ms("1.5s"));
  EXPECT_FALSE(parse_duration_ms("-1s"));
  EXPECT_FALSE(parse_duration_ms("2 s"));
  EXPECT_FALSE(parse_duration_ms("99999999999999999999s"));
}

TEST(Units, SizesTakeBinarySuffixes) {
  EXPECT_EQ(parse_size_bytes("512"), 512u);
  EXPECT_EQ(parse_size_bytes("512B"), 512u);
  EXPECT_EQ(parse_size_bytes("64KiB"), 64u * 1024);
  EXPECT_EQ(parse_size_bytes("10MiB"), 10u * 1024 * 1024);
  EXPECT_EQ(parse_size_bytes("1GiB"), 1ull << 30);
  EXPECT_FALSE(parse_size_bytes("1MB"));
  EXPECT_FALSE(parse_size_bytes("lots"));
  EXPECT_FALSE(parse_size_bytes("99999999999GiB"));
}

}  // namespace
}  // namespace waygate
