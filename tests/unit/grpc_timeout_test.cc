#include "http/grpc_timeout.h"

#include <gtest/gtest.h>

namespace waygate::http {
namespace {

TEST(GrpcTimeout, EachUnitBecomesMilliseconds) {
  EXPECT_EQ(parse_grpc_timeout_ms("2H"), 7'200'000u);
  EXPECT_EQ(parse_grpc_timeout_ms("3M"), 180'000u);
  EXPECT_EQ(parse_grpc_timeout_ms("1S"), 1'000u);
  EXPECT_EQ(parse_grpc_timeout_ms("250m"), 250u);
  EXPECT_EQ(parse_grpc_timeout_ms("1500u"), 2u);
  EXPECT_EQ(parse_grpc_timeout_ms("99999999n"), 100u);
}

TEST(GrpcTimeout, UnderAMillisecondIsRoundedUpNotToNone) {
  EXPECT_EQ(parse_grpc_timeout_ms("1n"), 1u);
  EXPECT_EQ(parse_grpc_timeout_ms("1u"), 1u);
  EXPECT_EQ(parse_grpc_timeout_ms("0m"), 0u);
}

TEST(GrpcTimeout, EightDigitsAtMost) {
  EXPECT_EQ(parse_grpc_timeout_ms("12345678m"), 12'345'678u);
  EXPECT_FALSE(parse_grpc_timeout_ms("123456789m"));
}

TEST(GrpcTimeout, MalformedValuesAreNone) {
  for (const char* value :
       {"", "S", "1", "10", "1s", "1h", "1 S", " 1S", "+1S", "-1S", "1.5S", "0x1S", "1SS", "S1"}) {
    EXPECT_FALSE(parse_grpc_timeout_ms(value)) << value;
  }
}

}  // namespace
}  // namespace waygate::http
