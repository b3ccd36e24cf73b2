// The grpc-timeout request header (gRPC over HTTP/2): a call's deadline, which waygate applies to
// the upstream response timeout.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace waygate::http {

// 1 to 8 digits and a unit (H M S m u n), in milliseconds rounded up, so a deadline under a
// millisecond is not mistaken for none; nothing when the value is malformed.
std::optional<uint64_t> parse_grpc_timeout_ms(std::string_view value);

}  // namespace waygate::http
