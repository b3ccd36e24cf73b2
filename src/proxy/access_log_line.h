// One access-log line from one request's facts: a text line laid out by a parsed template, or a
// JSON object. Each is written straight into room the caller made for its bound, so a line costs
// one bounds check, not one per piece, and allocates nothing.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/json_string.h"
#include "routing/access_log_format.h"

namespace waygate::proxy {

// What the log says about a request. An empty string is a value not known ("-" in text, null in
// JSON); so is a time of kNoTime. The time, client, method and endpoint are made by waygate (a
// formatted clock, socket addresses, llhttp's method names) and hold only printable ASCII
// without quotes or backslashes, so they are written without the escaping every other text gets.
struct AccessLogEntry {
  static constexpr uint64_t kNoTime = UINT64_MAX;

  std::string_view time;  // RFC 3339, UTC, milliseconds
  std::string_view request_id;
  std::string_view client;  // "ip:port"
  std::string_view method;
  std::string_view target;
  uint8_t version_minor = 1;
  bool http2 = false;           // the request came on an HTTP/2 stream: "HTTP/2"
  uint16_t status = 0;          // 0: no response was sent
  uint64_t bytes_sent = 0;      // response body bytes
  uint64_t bytes_received = 0;  // request head and body bytes
  uint64_t duration_ns = 0;
  uint64_t upstream_connect_ns = kNoTime;
  uint64_t upstream_response_ns = kNoTime;
  std::string_view host;
  std::string_view listener;
  std::string_view route;
  std::string_view cluster;
  std::string_view endpoint;
  std::string_view error;
};

// Lines stay short whatever a client sends: longer values are cut to these many bytes.
inline constexpr size_t kMaxLoggedTarget = 1024;
inline constexpr size_t kMaxLoggedHost = 100;
inline constexpr size_t kMaxLoggedRequestId = 64;

// The most bytes the line may take; the write functions return the end of what they wrote.
size_t text_line_bound(std::span<const routing::AccessLogPiece> pieces,
                       const AccessLogEntry& entry);
char* write_text_line(char* out, std::span<const routing::AccessLogPiece> pieces,
                      const AccessLogEntry& entry);
size_t json_line_bound(const AccessLogEntry& entry);
char* write_json_line(char* out, const AccessLogEntry& entry);

// The same lines appended to a string.
void append_text_line(std::string& out, std::span<const routing::AccessLogPiece> pieces,
                      const AccessLogEntry& entry);
void append_json_line(std::string& out, const AccessLogEntry& entry);

using waygate::append_json_string;  // core/json_string.h
// A value in a text line: visible ASCII as it is, except '"' and '\'; those, control bytes and
// bytes above 0x7e as \xNN, so a value can neither end a quoted field nor the line.
void append_text_value(std::string& out, std::string_view value);

}  // namespace waygate::proxy
