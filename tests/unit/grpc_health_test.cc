#include "health/grpc_health.h"

#include <gtest/gtest.h>

#include <string>

namespace waygate::health {
namespace {

using namespace std::string_literals;

// A HealthCheckResponse{status} as one gRPC message: flag, 4-byte length, field 1 varint.
std::string response(char status) {
  return "\0\0\0\0\2\x08"s + status;
}

TEST(GrpcHealth, RequestNamesTheServiceInOneUncompressedMessage) {
  EXPECT_EQ(grpc_health_request("test.Echo"), "\0\0\0\0\x0b\x0a\x09test.Echo"s);
  EXPECT_EQ(grpc_health_request(""), "\0\0\0\0\0"s);  // the server as a whole: no field
}

TEST(GrpcHealth, OnlyServingPasses) {
  EXPECT_EQ(grpc_health_failure(200, "0", response(1)), nullptr);
  EXPECT_STREQ(grpc_health_failure(200, "0", response(2)), "not-serving");
  EXPECT_STREQ(grpc_health_failure(200, "0", response(0)), "not-serving");
  EXPECT_STREQ(grpc_health_failure(200, "0", "\0\0\0\0\0"s), "not-serving");  // UNKNOWN
}

TEST(GrpcHealth, UnknownFieldsAreSkipped) {
  // field 2 (length-delimited "ab"), then field 1 = SERVING.
  EXPECT_EQ(grpc_health_failure(200, "0",
                                "\0\0\0\0\6\x12\x02"
                                "ab\x08\x01"s),
            nullptr);
}

TEST(GrpcHealth, FailedCallsAndBrokenAnswersFail) {
  EXPECT_STREQ(grpc_health_failure(200, "5", ""), "grpc-error");  // NOT_FOUND, trailers-only
  EXPECT_STREQ(grpc_health_failure(503, "", ""), "unexpected-status");
  EXPECT_STREQ(grpc_health_failure(200, "", response(1)), "malformed");  // no grpc-status
  EXPECT_STREQ(grpc_health_failure(200, "0", "\0\0\0\0\7\x08\x01"s), "malformed");  // short
  EXPECT_STREQ(grpc_health_failure(200, "0", "\1\0\0\0\2\x08\x01"s), "malformed");  // compressed
  EXPECT_STREQ(grpc_health_failure(200, "0", "\0\0\0\0\1\x08"s), "malformed");      // cut varint
}

}  // namespace
}  // namespace waygate::health
