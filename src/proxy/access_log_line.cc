#include "proxy/access_log_line.h"

#include <array>
#include <charconv>
#include <cstring>

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

// The most write_millis writes: 20 digits, the point and three decimals.
constexpr size_t kMillisBytes = 24;

// Milliseconds with three decimals, "12.345", at `out`; returns the end of what it wrote.
char* write_millis(char* out, uint64_t ns) {
  uint64_t micros = ns / 1000;
  out = std::to_chars(out, out + kMillisBytes, micros / 1000).ptr;
  *out++ = '.';
  *out++ = static_cast<char>('0' + micros / 100 % 10);
  *out++ = static_cast<char>('0' + micros / 10 % 10);
  *out++ = static_cast<char>('0' + micros % 10);
  return out;
}

void append_millis(std::string& out, uint64_t ns) {
  char millis[kMillisBytes];
  out.append(millis, write_millis(millis, ns));
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

// Writes a JSON line where append_json_line made room for it: one bounds check per line instead
// of one per piece.
class JsonLineWriter {
 public:
  explicit JsonLineWriter(char* at) : at_(at) {}

  void put(std::string_view bytes) {
    std::memcpy(at_, bytes.data(), bytes.size());
    at_ += bytes.size();
  }
  void key(AccessLogField field) {
    static_assert(static_cast<size_t>(AccessLogField::kTime) == 0, "the line starts with the time");
    put(json_keys()[static_cast<size_t>(field)]);
  }
  void text(AccessLogField field, std::string_view value) {
    key(field);
    if (value.empty()) {
      put("null");
    } else {
      at_ = write_json_string(at_, value);
    }
  }
  void number(AccessLogField field, uint64_t value) {
    key(field);
    at_ = std::to_chars(at_, at_ + kNumberBytes, value).ptr;
  }
  void millis(AccessLogField field, uint64_t ns) {
    key(field);
    if (ns == AccessLogEntry::kNoTime) {
      put("null");
      return;
    }
    at_ = write_millis(at_, ns);
  }
  char* end() const { return at_; }

  static constexpr size_t kNumberBytes = 20;  // UINT64_MAX

 private:
  char* at_;
};

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
  const std::string_view texts[] = {e.time,
                                    e.request_id.substr(0, kMaxLoggedRequestId),
                                    e.client,
                                    e.method,
                                    e.target.substr(0, kMaxLoggedTarget),
                                    e.host.substr(0, kMaxLoggedHost),
                                    e.listener,
                                    e.route,
                                    e.cluster,
                                    e.endpoint,
                                    e.error};
  // Keys, braces and "HTTP/1.x" take under 300 bytes; seven numbers (with their decimals) under
  // 200; each text its escaped bound.
  size_t bound = 512;
  for (std::string_view text : texts)
    bound += json_string_bound(text);
  size_t start = out.size();
  out.resize(start + bound);
  JsonLineWriter line(out.data() + start);
  line.text(AccessLogField::kTime, texts[0]);
  line.text(AccessLogField::kRequestId, texts[1]);
  line.text(AccessLogField::kClient, texts[2]);
  line.text(AccessLogField::kMethod, texts[3]);
  line.text(AccessLogField::kTarget, texts[4]);
  line.key(AccessLogField::kProtocol);
  char protocol[] = {
      '"', 'H', 'T', 'T', 'P', '/', '1', '.', static_cast<char>('0' + e.version_minor % 10), '"'};
  line.put({protocol, sizeof(protocol)});
  line.number(AccessLogField::kStatus, e.status);
  line.number(AccessLogField::kBytesSent, e.bytes_sent);
  line.number(AccessLogField::kBytesReceived, e.bytes_received);
  line.millis(AccessLogField::kDurationMs, e.duration_ns);
  line.millis(AccessLogField::kUpstreamConnectMs, e.upstream_connect_ns);
  line.millis(AccessLogField::kUpstreamResponseMs, e.upstream_response_ns);
  line.text(AccessLogField::kHost, texts[5]);
  line.text(AccessLogField::kListener, texts[6]);
  line.text(AccessLogField::kRoute, texts[7]);
  line.text(AccessLogField::kCluster, texts[8]);
  line.text(AccessLogField::kEndpoint, texts[9]);
  line.text(AccessLogField::kError, texts[10]);
  line.put("}\n");
  out.resize(static_cast<size_t>(line.end() - out.data()));
}

}  // namespace waygate::proxy
