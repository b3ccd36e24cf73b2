// What waygate answers a gRPC call with when it answers it itself (no route, no endpoint, a
// timeout): a Trailers-Only response (gRPC over HTTP/2), whose grpc-status a gRPC client reports,
// where an HTTP error status would reach it only as UNAVAILABLE or UNKNOWN.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http/message_head.h"

namespace waygate::http {

// The request is a gRPC call: its content-type is application/grpc, or application/grpc+FORMAT.
bool is_grpc_request(const MessageHead& request);

// The gRPC status code for an error waygate would answer with this HTTP status, after gRPC's
// HTTP-to-gRPC mapping (404 UNIMPLEMENTED, 502 and 503 UNAVAILABLE, ...), and a timeout as
// DEADLINE_EXCEEDED.
uint32_t grpc_status_for(uint16_t http_status);

// A 200 with content-type application/grpc, grpc-status and grpc-message (`message`, visible ASCII
// without '%', so nothing needs percent-encoding) and no body.
void append_grpc_reply(std::string& out, uint16_t http_status, std::string_view message,
                       bool close);

}  // namespace waygate::http
