#include "http/grpc_reply.h"

#include <optional>
#include <string_view>

#include "http/header_names.h"
#include "http/serialize.h"

namespace waygate::http {
namespace {

// gRPC status codes (grpc/status.h).
constexpr uint32_t kUnknown = 2;
constexpr uint32_t kDeadlineExceeded = 4;
constexpr uint32_t kPermissionDenied = 7;
constexpr uint32_t kResourceExhausted = 8;
constexpr uint32_t kUnimplemented = 12;
constexpr uint32_t kInternal = 13;
constexpr uint32_t kUnavailable = 14;
constexpr uint32_t kUnauthenticated = 16;

}  // namespace

bool is_grpc_request(const MessageHead& request) {
  std::optional<std::string_view> type = request.find("content-type");
  if (!type) return false;
  constexpr std::string_view kGrpc = "application/grpc";
  if (type->size() < kGrpc.size() || !equals_ignore_case(type->substr(0, kGrpc.size()), kGrpc)) {
    return false;
  }
  return type->size() == kGrpc.size() || (*type)[kGrpc.size()] == '+' ||
         (*type)[kGrpc.size()] == ';';
}

uint32_t grpc_status_for(uint16_t http_status) {
  switch (http_status) {
    case 400:
      return kInternal;
    case 401:
      return kUnauthenticated;
    case 403:
      return kPermissionDenied;
    case 404:
      return kUnimplemented;
    case 413:
    case 431:
      return kResourceExhausted;
    case 429:
    case 502:
    case 503:
      return kUnavailable;
    case 504:
      return kDeadlineExceeded;
    default:
      return kUnknown;
  }
}

void append_grpc_reply(std::string& out, uint16_t http_status, std::string_view message,
                       bool close) {
  append_status_line(out, 200);
  append_header(out, "Content-Type", "application/grpc");
  std::string code = std::to_string(grpc_status_for(http_status));
  append_header(out, "grpc-status", code);
  append_header(out, "grpc-message", message);
  append_header(out, "Content-Length", "0");
  if (close) append_header(out, "Connection", "close");
  out.append("\r\n");
}

}  // namespace waygate::http
