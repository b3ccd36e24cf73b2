// What an access-log line may hold, and a text template ("$status $route ...") parsed into
// literal and variable pieces once, when the config is read, so a request only walks the list.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace waygate::routing {

// The variables of a template and the keys of a JSON line, in the JSON line's order.
enum class AccessLogField : uint8_t {
  kTime,
  kRequestId,
  kClient,
  kMethod,
  kTarget,
  kProtocol,
  kStatus,
  kBytesSent,
  kBytesReceived,
  kDurationMs,
  kUpstreamConnectMs,
  kUpstreamResponseMs,
  kHost,
  kListener,
  kRoute,
  kCluster,
  kEndpoint,
  kError,
  kLiteral,  // not a variable: a piece of template text
};

inline constexpr std::array<std::string_view, 18> kAccessLogFieldNames = {"time",
                                                                          "request_id",
                                                                          "client",
                                                                          "method",
                                                                          "target",
                                                                          "protocol",
                                                                          "status",
                                                                          "bytes_sent",
                                                                          "bytes_received",
                                                                          "duration_ms",
                                                                          "upstream_connect_ms",
                                                                          "upstream_response_ms",
                                                                          "host",
                                                                          "listener",
                                                                          "route",
                                                                          "cluster",
                                                                          "endpoint",
                                                                          "error"};

inline std::string_view access_log_field_name(AccessLogField field) {
  return kAccessLogFieldNames[static_cast<size_t>(field)];
}

struct AccessLogPiece {
  AccessLogField field = AccessLogField::kLiteral;
  std::string literal;  // for kLiteral
  bool operator==(const AccessLogPiece&) const = default;
};

// waygate's own text line, the one written without a `template:`.
inline constexpr std::string_view kDefaultAccessLogTemplate =
    "$time $client \"$method $target $protocol\" $status $bytes_sent ${duration_ms}ms host=$host "
    "cluster=$cluster upstream=$endpoint id=$request_id error=$error";

struct AccessLogTemplate {
  std::vector<AccessLogPiece> pieces;
  std::string error;        // empty when the template is valid
  size_t error_offset = 0;  // where in the template the problem starts
};

// `$name` or `${name}` is a variable (the name runs over lower-case letters, digits and '_'),
// `$$` a dollar sign, anything else literal text. Control bytes and unknown variables are errors.
AccessLogTemplate parse_access_log_template(std::string_view text);

}  // namespace waygate::routing
