#include "proxy/access_log_line.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include "core/json_string.h"
#include "core/plain_bytes.h"

namespace waygate::proxy {
namespace {

using routing::AccessLogField;

constexpr char kHex[] = "0123456789abcdef";

// The most a number takes: UINT64_MAX; with a point and three decimals for milliseconds.
constexpr size_t kNumberBytes = 20;
constexpr size_t kMillisBytes = 24;

// Writes a line where the caller made room for its bound. Copies of a length known when compiled
// (keys, literals of the JSON line) become a few moves instead of a call.
class LineCursor {
 public:
  explicit LineCursor(char* at) : at_(at) {}

  void put(std::string_view bytes) {
    std::memcpy(at_, bytes.data(), bytes.size());
    at_ += bytes.size();
  }
  template <size_t N>
  void put(const std::array<char, N>& bytes) {
    std::memcpy(at_, bytes.data(), N);
    at_ += N;
  }
  void put(char byte) { *at_++ = byte; }
  void number(uint64_t value) { at_ = std::to_chars(at_, at_ + kNumberBytes, value).ptr; }
  // Milliseconds with three decimals, "12.345".
  void millis(uint64_t ns) {
    uint64_t micros = ns / 1000;
    number(micros / 1000);
    char decimals[4] = {'.', static_cast<char>('0' + micros / 100 % 10),
                        static_cast<char>('0' + micros / 10 % 10),
                        static_cast<char>('0' + micros % 10)};
    std::memcpy(at_, decimals, sizeof(decimals));
    at_ += sizeof(decimals);
  }
  // A value in a text line; see append_text_value.
  void text_value(std::string_view value) {
    split_plain_runs(
        value, [this](std::string_view run) { put(run); },
        [this](std::string_view rest) -> size_t {
          auto byte = static_cast<unsigned char>(rest[0]);
          put(std::array<char, 4>{'\\', 'x', kHex[byte >> 4], kHex[byte & 0xf]});
          return 1;
        });
  }
  // A text waygate made, which needs no escaping (see AccessLogEntry).
  void json_plain_string(std::string_view value) {
    if (value.empty()) return put(std::array<char, 4>{'n', 'u', 'l', 'l'});
    put('"');
    put(value);
    put('"');
  }
  void json_string(std::string_view value) {
    if (value.empty()) {
      put(std::array<char, 4>{'n', 'u', 'l', 'l'});
    } else {
      at_ = write_json_string(at_, value);
    }
  }
  char* end() const { return at_; }

 private:
  char* at_;
};

// Text values are escaped as \xNN, four bytes for one.
constexpr size_t text_value_bound(std::string_view value) {
  return 4 * value.size();
}

std::string_view text_or_dash(std::string_view value) {
  return value.empty() ? std::string_view("-") : value;
}

// The text a field shows, or an empty view for the fields that are numbers.
std::string_view field_text(AccessLogField field, const AccessLogEntry& e) {
  switch (field) {
    case AccessLogField::kTime:
      return e.time;
    case AccessLogField::kRequestId:
      return text_or_dash(e.request_id.substr(0, kMaxLoggedRequestId));
    case AccessLogField::kClient:
      return text_or_dash(e.client);
    case AccessLogField::kMethod:
      return text_or_dash(e.method);
    case AccessLogField::kTarget:
      return text_or_dash(e.target.substr(0, kMaxLoggedTarget));
    case AccessLogField::kHost:
      return text_or_dash(e.host.substr(0, kMaxLoggedHost));
    case AccessLogField::kListener:
      return text_or_dash(e.listener);
    case AccessLogField::kRoute:
      return text_or_dash(e.route);
    case AccessLogField::kCluster:
      return text_or_dash(e.cluster);
    case AccessLogField::kEndpoint:
      return text_or_dash(e.endpoint);
    case AccessLogField::kError:
      return text_or_dash(e.error);
    case AccessLogField::kProtocol:
    case AccessLogField::kStatus:
    case AccessLogField::kBytesSent:
    case AccessLogField::kBytesReceived:
    case AccessLogField::kDurationMs:
    case AccessLogField::kUpstreamConnectMs:
    case AccessLogField::kUpstreamResponseMs:
    case AccessLogField::kLiteral:
      return {};
  }
  return {};
}

void write_text_field(LineCursor& line, AccessLogField field, const AccessLogEntry& e) {
  switch (field) {
    case AccessLogField::kTime:
      return line.put(e.time);
    case AccessLogField::kClient:
    case AccessLogField::kMethod:
    case AccessLogField::kEndpoint:
      return line.put(field_text(field, e));
    case AccessLogField::kProtocol:
      if (e.http2) return line.put("HTTP/2");
      line.put("HTTP/1.");
      return line.number(e.version_minor);
    case AccessLogField::kStatus:
      return line.number(e.status);
    case AccessLogField::kBytesSent:
      return line.number(e.bytes_sent);
    case AccessLogField::kBytesReceived:
      return line.number(e.bytes_received);
    case AccessLogField::kDurationMs:
      return line.millis(e.duration_ns);
    case AccessLogField::kUpstreamConnectMs:
      if (e.upstream_connect_ns == AccessLogEntry::kNoTime) return line.put('-');
      return line.millis(e.upstream_connect_ns);
    case AccessLogField::kUpstreamResponseMs:
      if (e.upstream_response_ns == AccessLogEntry::kNoTime) return line.put('-');
      return line.millis(e.upstream_response_ns);
    case AccessLogField::kLiteral:
      return;
    default:
      return line.text_value(field_text(field, e));
  }
}

// `{"time":`, `,"request_id":`, ...: each key as the JSON line writes it, made when compiled.
template <AccessLogField kField>
constexpr auto kJsonKey = [] {
  constexpr std::string_view kName = routing::kAccessLogFieldNames[static_cast<size_t>(kField)];
  std::array<char, kName.size() + 4> key{};
  key[0] = kField == AccessLogField::kTime ? '{' : ',';
  key[1] = '"';
  for (size_t i = 0; i < kName.size(); ++i)
    key[2 + i] = kName[i];
  key[kName.size() + 2] = '"';
  key[kName.size() + 3] = ':';
  return key;
}();
static_assert(AccessLogField::kTime == AccessLogField{0}, "the JSON line starts with the time");

template <AccessLogField kField>
void json_text(LineCursor& line, std::string_view value) {
  line.put(kJsonKey<kField>);
  line.json_string(value);
}

template <AccessLogField kField>
void json_plain_text(LineCursor& line, std::string_view value) {
  line.put(kJsonKey<kField>);
  line.json_plain_string(value);
}

template <AccessLogField kField>
void json_number(LineCursor& line, uint64_t value) {
  line.put(kJsonKey<kField>);
  line.number(value);
}

template <AccessLogField kField>
void json_millis(LineCursor& line, uint64_t ns) {
  line.put(kJsonKey<kField>);
  if (ns == AccessLogEntry::kNoTime) return line.put(std::array<char, 4>{'n', 'u', 'l', 'l'});
  line.millis(ns);
}

// The texts of a JSON line, each cut to what the log keeps.
std::array<std::string_view, 11> json_texts(const AccessLogEntry& e) {
  return {e.time,
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
}

}  // namespace

void append_text_value(std::string& out, std::string_view value) {
  size_t start = out.size();
  out.resize(start + text_value_bound(value));
  LineCursor line(out.data() + start);
  line.text_value(value);
  out.resize(static_cast<size_t>(line.end() - out.data()));
}

size_t text_line_bound(std::span<const routing::AccessLogPiece> pieces,
                       const AccessLogEntry& entry) {
  size_t bound = 1;  // the newline
  for (const routing::AccessLogPiece& piece : pieces) {
    if (piece.field == AccessLogField::kLiteral) {
      bound += piece.literal.size();
    } else {
      bound += std::max(text_value_bound(field_text(piece.field, entry)), kMillisBytes);
    }
  }
  return bound;
}

char* write_text_line(char* out, std::span<const routing::AccessLogPiece> pieces,
                      const AccessLogEntry& entry) {
  LineCursor line(out);
  for (const routing::AccessLogPiece& piece : pieces) {
    if (piece.field == AccessLogField::kLiteral) {
      line.put(piece.literal);
    } else {
      write_text_field(line, piece.field, entry);
    }
  }
  line.put('\n');
  return line.end();
}

size_t json_line_bound(const AccessLogEntry& entry) {
  // Keys, braces and "HTTP/1.x" take under 300 bytes; seven numbers (with their decimals) under
  // 200; each text its escaped bound.
  size_t bound = 512;
  for (std::string_view text : json_texts(entry))
    bound += json_string_bound(text);
  return bound;
}

char* write_json_line(char* out, const AccessLogEntry& e) {
  std::array<std::string_view, 11> texts = json_texts(e);
  LineCursor line(out);
  json_plain_text<AccessLogField::kTime>(line, texts[0]);
  json_text<AccessLogField::kRequestId>(line, texts[1]);
  json_plain_text<AccessLogField::kClient>(line, texts[2]);
  json_plain_text<AccessLogField::kMethod>(line, texts[3]);
  json_text<AccessLogField::kTarget>(line, texts[4]);
  line.put(kJsonKey<AccessLogField::kProtocol>);
  if (e.http2) {
    line.put("\"HTTP/2\"");
  } else {
    line.put(std::array<char, 10>{'"', 'H', 'T', 'T', 'P', '/', '1', '.',
                                  static_cast<char>('0' + e.version_minor % 10), '"'});
  }
  json_number<AccessLogField::kStatus>(line, e.status);
  json_number<AccessLogField::kBytesSent>(line, e.bytes_sent);
  json_number<AccessLogField::kBytesReceived>(line, e.bytes_received);
  json_millis<AccessLogField::kDurationMs>(line, e.duration_ns);
  json_millis<AccessLogField::kUpstreamConnectMs>(line, e.upstream_connect_ns);
  json_millis<AccessLogField::kUpstreamResponseMs>(line, e.upstream_response_ns);
  json_text<AccessLogField::kHost>(line, texts[5]);
  json_text<AccessLogField::kListener>(line, texts[6]);
  json_text<AccessLogField::kRoute>(line, texts[7]);
  json_text<AccessLogField::kCluster>(line, texts[8]);
  json_plain_text<AccessLogField::kEndpoint>(line, texts[9]);
  json_text<AccessLogField::kError>(line, texts[10]);
  line.put(std::array<char, 2>{'}', '\n'});
  return line.end();
}

void append_text_line(std::string& out, std::span<const routing::AccessLogPiece> pieces,
                      const AccessLogEntry& entry) {
  size_t start = out.size();
  out.resize(start + text_line_bound(pieces, entry));
  char* end = write_text_line(out.data() + start, pieces, entry);
  out.resize(static_cast<size_t>(end - out.data()));
}

void append_json_line(std::string& out, const AccessLogEntry& entry) {
  size_t start = out.size();
  out.resize(start + json_line_bound(entry));
  char* end = write_json_line(out.data() + start, entry);
  out.resize(static_cast<size_t>(end - out.data()));
}

}  // namespace waygate::proxy
