#include "proxy/access_log_line.h"

#include <array>
#include <charconv>

#include "core/json_string.h"

namespace waygate::proxy {
namespace {

using routing::AccessLogField;

constexpr char kHex[] = "0123456789abcdef";

void append_number(std::string& out, uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

// Milliseconds with three decimals: "12.345".
void append_millis(std::string& out, uint64_t ns) {
  uint64_t micros = ns / 1000;
  append_number(out, micros / 1000);
  char fraction[4] = {'.', static_cast<char>('0' + micros / 100 % 10),
                      static_cast<char>('0' + micros / 10 % 10),
                      static_cast<char>('0' + micros % 10)};
  out.append(fraction, 4);
}

// Printable ASCII but the quote and the backslash: what a text line shows as it is.
bool is_plain(unsigned char byte) {
  return byte >= 0x20 && byte < 0x7f && byte != '"' && byte != '\\';
}

std::string_view text_or_dash(std::string_view value) {
  return value.empty() ? std::string_view("-") : value;
}

void append_text_field(std::string& out, AccessLogField field, const AccessLogEntry& e) {
  switch (field) {
    case AccessLogField::kTime:
      out.append(e.time);
      return;
    case AccessLogField::kRequestId:
      return append_text_value(out, text_or_dash(e.request_id.substr(0, kMaxLoggedRequestId)));
    case AccessLogField::kClient:
      return append_text_value(out, text_or_dash(e.client));
    case AccessLogField::kMethod:
      return append_text_value(out, text_or_dash(e.method));
    case AccessLogField::kTarget:
      return append_text_value(out, text_or_dash(e.target.substr(0, kMaxLoggedTarget)));
    case AccessLogField::kProtocol:
      out.append("HTTP/1.");
      return append_number(out, e.version_minor);
    case AccessLogField::kStatus:
      return append_number(out, e.status);
    case AccessLogField::kBytesSent:
      return append_number(out, e.bytes_sent);
    case AccessLogField::kBytesReceived:
      return append_number(out, e.bytes_received);
    case AccessLogField::kDurationMs:
      return append_millis(out, e.duration_ns);
    case AccessLogField::kUpstreamConnectMs:
      if (e.upstream_connect_ns == AccessLogEntry::kNoTime) return out.push_back('-');
      return append_millis(out, e.upstream_connect_ns);
    case AccessLogField::kUpstreamResponseMs:
      if (e.upstream_response_ns == AccessLogEntry::kNoTime) return out.push_back('-');
      return append_millis(out, e.upstream_response_ns);
    case AccessLogField::kHost:
      return append_text_value(out, text_or_dash(e.host.substr(0, kMaxLoggedHost)));
    case AccessLogField::kListener:
      return append_text_value(out, text_or_dash(e.listener));
    case AccessLogField::kRoute:
      return append_text_value(out, text_or_dash(e.route));
    case AccessLogField::kCluster:
      return append_text_value(out, text_or_dash(e.cluster));
    case AccessLogField::kEndpoint:
      return append_text_value(out, text_or_dash(e.endpoint));
    case AccessLogField::kError:
      return append_text_value(out, text_or_dash(e.error));
    case AccessLogField::kLiteral:
      return;
  }
}

// `{"time":`, `,"request_id":`, ...: each key as the line writes it, made once, so a key costs
// one copy of known length.
const std::array<std::string, routing::kAccessLogFieldNames.size()>& json_keys() {
  static const auto keys = [] {
    std::array<std::string, routing::kAccessLogFieldNames.size()> made;
    for (size_t i = 0; i < made.size(); ++i) {
      made[i].append(i == 0 ? "{\"" : ",\"").append(routing::kAccessLogFieldNames[i]).append("\":");
    }
    return made;
  }();
  return keys;
}

void append_json_key(std::string& out, AccessLogField field) {
  static_assert(static_cast<size_t>(AccessLogField::kTime) == 0, "the line starts with the time");
  out.append(json_keys()[static_cast<size_t>(field)]);
}

void append_json_text(std::string& out, AccessLogField field, std::string_view value) {
  append_json_key(out, field);
  if (value.empty()) {
    out.append("null");
  } else {
    append_json_string(out, value);
  }
}

void append_json_number(std::string& out, AccessLogField field, uint64_t value) {
  append_json_key(out, field);
  append_number(out, value);
}

void append_json_millis(std::string& out, AccessLogField field, uint64_t ns) {
  append_json_key(out, field);
  if (ns == AccessLogEntry::kNoTime) {
    out.append("null");
  } else {
    append_millis(out, ns);
  }
}

}  // namespace

void append_text_value(std::string& out, std::string_view value) {
  size_t i = 0;
  while (i < value.size()) {
    size_t run = i;
    while (run < value.size() && is_plain(static_cast<unsigned char>(value[run])))
      ++run;
    out.append(value.data() + i, run - i);
    if (run == value.size()) break;
    auto byte = static_cast<unsigned char>(value[run]);
    char escape[4] = {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xf]};
    out.append(escape, 4);
    i = run + 1;
  }
}

void append_text_line(std::string& out, std::span<const routing::AccessLogPiece> pieces,
                      const AccessLogEntry& entry) {
  for (const routing::AccessLogPiece& piece : pieces) {
    if (piece.field == AccessLogField::kLiteral) {
      out.append(piece.literal);
    } else {
      append_text_field(out, piece.field, entry);
    }
  }
  out.push_back('\n');
}

void append_json_line(std::string& out, const AccessLogEntry& e) {
  append_json_text(out, AccessLogField::kTime, e.time);
  append_json_text(out, AccessLogField::kRequestId, e.request_id.substr(0, kMaxLoggedRequestId));
  append_json_text(out, AccessLogField::kClient, e.client);
  append_json_text(out, AccessLogField::kMethod, e.method);
  append_json_text(out, AccessLogField::kTarget, e.target.substr(0, kMaxLoggedTarget));
  append_json_key(out, AccessLogField::kProtocol);
  out.append("\"HTTP/1.");
  append_number(out, e.version_minor);
  out.push_back('"');
  append_json_number(out, AccessLogField::kStatus, e.status);
  append_json_number(out, AccessLogField::kBytesSent, e.bytes_sent);
  append_json_number(out, AccessLogField::kBytesReceived, e.bytes_received);
  append_json_millis(out, AccessLogField::kDurationMs, e.duration_ns);
  append_json_millis(out, AccessLogField::kUpstreamConnectMs, e.upstream_connect_ns);
  append_json_millis(out, AccessLogField::kUpstreamResponseMs, e.upstream_response_ns);
  append_json_text(out, AccessLogField::kHost, e.host.substr(0, kMaxLoggedHost));
  append_json_text(out, AccessLogField::kListener, e.listener);
  append_json_text(out, AccessLogField::kRoute, e.route);
  append_json_text(out, AccessLogField::kCluster, e.cluster);
  append_json_text(out, AccessLogField::kEndpoint, e.endpoint);
  append_json_text(out, AccessLogField::kError, e.error);
  out.append("}\n");
}

}  // namespace waygate::proxy
