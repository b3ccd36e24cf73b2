// Header-name facts the proxy needs: case-insensitive comparison, the names it acts on (classified
// once while parsing, so later lookups compare a byte, not a string), and the hop-by-hop set.
#pragma once

#include <cstdint>
#include <string_view>

#include "http/field_syntax.h"

namespace waygate::http {

bool equals_ignore_case(std::string_view a, std::string_view b);

// The header names waygate reads or rewrites; every other name is kOther.
enum class HeaderId : uint8_t {
  kOther,
  kHost,
  kConnection,
  kContentLength,
  kTransferEncoding,
  kUpgrade,
  kExpect,
  kKeepAlive,
  kProxyConnection,
  kTe,
  kTrailer,
  kXForwardedFor,
  kXForwardedProto,
  kXForwardedHost,
  kXRequestId,
  kCookie,
  kXClientCertSubject,  // set by waygate alone, from a verified client certificate
  kGrpcTimeout,         // a gRPC call's deadline, which caps the upstream response timeout
};

// A name that is not kOther is one of the known names but for the case of its letters, so it
// is a token too (the parser checks only other names' bytes).
HeaderId classify_header(std::string_view name);

// Headers never copied to the next hop: the hop-by-hop set of RFC 9110 7.6.1, plus the framing
// headers (Content-Length, Transfer-Encoding) that the proxy writes anew for each hop.
// Inline: it runs for every field of every message.
inline bool is_per_hop(HeaderId id) {
  switch (id) {
    case HeaderId::kConnection:
    case HeaderId::kKeepAlive:
    case HeaderId::kProxyConnection:
    case HeaderId::kTe:
    case HeaderId::kTrailer:
    case HeaderId::kTransferEncoding:
    case HeaderId::kUpgrade:
    case HeaderId::kContentLength:
      return true;
    default:
      return false;
  }
}
bool is_per_hop(std::string_view name);

// Whether `visit` holds for an item of a comma-separated header value (Connection, If-Match), each
// item without the whitespace around it; items after the first it holds for are not visited.
template <typename Visit>
bool any_list_item(std::string_view list, Visit&& visit) {
  while (true) {
    size_t comma = list.find(',');
    if (visit(trim_whitespace(list.substr(0, comma)))) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

// Whether a comma-separated header value (such as Connection) lists the token, case-insensitively.
bool has_token(std::string_view list, std::string_view token);

}  // namespace waygate::http
