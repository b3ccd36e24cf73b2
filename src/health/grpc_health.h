// grpc.health.v1.Health/Check on the wire, for the `grpc:` health check. Both messages have one
// field that matters, so they are written and read here without a protobuf library: the request
// names a service, the response's `status` says whether it is SERVING.
#pragma once

#include <string>
#include <string_view>

namespace waygate::health {

inline constexpr std::string_view kGrpcHealthCheckPath = "/grpc.health.v1.Health/Check";

// The request as one gRPC length-prefixed message: HealthCheckRequest{service}.
std::string grpc_health_request(std::string_view service);

// Why an answer fails the check; nullptr when it says SERVING. `http_status` is the response's
// :status, `grpc_status` its grpc-status field (from the trailers, or the head of a
// trailers-only response), `messages` the response body as received. Reasons:
// "unexpected-status" (not 200), "grpc-error" (grpc-status other than 0: NOT_FOUND for a service
// the server does not know, UNIMPLEMENTED without a health service), "not-serving" (any status
// but SERVING), "malformed".
const char* grpc_health_failure(int http_status, std::string_view grpc_status,
                                std::string_view messages);

}  // namespace waygate::health
