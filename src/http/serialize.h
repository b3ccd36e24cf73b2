// Writes message heads for the next hop: the request sent upstream (end-to-end headers,
// X-Forwarded-*, its own framing) and the response sent downstream, plus chunk framing and
// waygate's own responses.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/header_names.h"
#include "http/message_head.h"

namespace waygate::http {

enum class BodyFraming : uint8_t {
  kNone,           // no body follows
  kContentLength,  // exactly content_length bytes
  kChunked,        // chunked transfer coding, re-framed by waygate
  kUntilClose,     // the body ends when the connection closes
};

// Headers a route removes (by name, case-insensitive) and then adds, on one message.
struct HeaderEdits {
  std::vector<std::pair<std::string, std::string>> add;
  std::vector<std::string> remove;
  bool empty() const { return add.empty() && remove.empty(); }
};

struct ForwardContext {
  std::string_view client_address;  // X-Forwarded-For is appended with it
  std::string_view proto;           // X-Forwarded-Proto
  std::string_view request_id;      // X-Request-Id to add when the request has none
  bool upgrade = false;             // ask the upstream to switch protocols (WebSocket)
  std::string_view target;          // the request target sent upstream (origin-form)
  std::string_view host;            // the one Host sent upstream (the client's are dropped)
  std::string_view forwarded_host;  // X-Forwarded-Host: the host the client addressed, if any
  // X-Client-Cert-Subject: a verified client certificate's subject. The client's own header of
  // that name is always dropped, so no client can claim an identity.
  std::string_view client_cert_subject;
  const HeaderEdits* edits = nullptr;
};

void append_upstream_request_head(std::string& out, const MessageHead& request,
                                  const ForwardContext& context);

struct ResponseFraming {
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  bool close = false;          // announce Connection: close
  bool keep_alive_10 = false;  // an HTTP/1.0 client asked for keep-alive and gets it
  bool upgrade = false;        // a 101 that opens a tunnel: keep Connection/Upgrade
  const HeaderEdits* edits = nullptr;
  std::string_view set_cookie;  // a Set-Cookie value of waygate\'s own (sticky sessions)
  std::string_view hsts;        // Strict-Transport-Security, unless the upstream sent its own
};

void append_downstream_response_head(std::string& out, const MessageHead& response,
                                     const ResponseFraming& framing);

// The names a message's Connection header lists (RFC 9110 7.6.1): fields of those names stay
// behind at this hop. Read once per message, since it is asked about every field: most messages
// list one option ("keep-alive", "close"), which a name is compared with by its length first.
class ConnectionOptions {
 public:
  explicit ConnectionOptions(const MessageHead& message);
  bool empty() const { return only_.empty() && list_.empty(); }
  bool lists(std::string_view name) const {
    if (list_.empty()) return name.size() == only_.size() && equals_ignore_case(name, only_);
    return name.size() <= list_.size() && has_token(list_, name);
  }

 private:
  std::string_view only_;  // the one option, when the header lists one
  std::string_view list_;  // the header's value, when it lists more
};

// Whether the route removes headers of this name (none when it has no edits).
bool removed_by(const HeaderEdits* edits, std::string_view name);

// Whether a field of `message` stays behind at this hop: per-hop by definition, listed in its
// Connection header, or removed by the route. Inline: it runs for every field of every message,
// and most have neither a Connection header nor edits.
inline bool is_dropped(const MessageHead& message, const HeaderField& field,
                       const ConnectionOptions& connection, const HeaderEdits* edits) {
  if (is_per_hop(field.id)) return true;
  if (connection.empty() && !edits) return false;
  std::string_view name = message.name(field);
  return connection.lists(name) || (edits && removed_by(edits, name));
}

// The response head's fields as they go downstream, in order, whatever the codec writes them as
// (HTTP/1.1 text, or HTTP/2 HEADERS): `emit(HeaderId id, std::string_view name,
// std::string_view value)` for each. Values made here (Content-Length) live only for the call.
template <typename Emit>
void for_each_downstream_response_field(const MessageHead& response, const ResponseFraming& framing,
                                        Emit&& emit) {
  ConnectionOptions connection(response);
  for (const HeaderField& field : response.fields) {
    if (is_dropped(response, field, connection, framing.edits)) continue;
    emit(field.id, response.name(field), response.value(field));
  }
  if (framing.edits) {
    for (const auto& [name, value] : framing.edits->add)
      emit(classify_header(name), std::string_view(name), std::string_view(value));
  }
  if (!framing.set_cookie.empty()) emit(HeaderId::kOther, "Set-Cookie", framing.set_cookie);
  if (!framing.hsts.empty() && !response.find("strict-transport-security")) {
    emit(HeaderId::kOther, "Strict-Transport-Security", framing.hsts);
  }
  if (framing.upgrade) {
    emit(HeaderId::kConnection, "Connection", "upgrade");
    emit(HeaderId::kUpgrade, "Upgrade", response.find(HeaderId::kUpgrade).value_or(""));
  } else if (framing.close) {
    emit(HeaderId::kConnection, "Connection", "close");
  } else if (framing.keep_alive_10) {
    emit(HeaderId::kConnection, "Connection", "keep-alive");
  }
  if (framing.framing == BodyFraming::kChunked) {
    emit(HeaderId::kTransferEncoding, "Transfer-Encoding", "chunked");
  } else if (framing.framing == BodyFraming::kContentLength) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), framing.content_length);
    emit(HeaderId::kContentLength, "Content-Length",
         std::string_view(digits, static_cast<size_t>(end - digits)));
  }
}

// A complete response generated by waygate: "<status> <reason>\n" as a text/plain body.
void append_generated_response(std::string& out, uint16_t status, bool close);

// A complete response with the given body and headers (Content-Type defaults to text/plain).
using HeaderList = std::vector<std::pair<std::string, std::string>>;
void append_local_response(std::string& out, uint16_t status, std::string_view body,
                           const HeaderList& headers, bool close);

// The same in parts, for a caller that writes its own headers between them: the status line, each
// header, then Content-Type (text/plain unless the caller wrote one), the length, Connection:
// close when asked, the blank line and the body.
void append_status_line(std::string& out, uint16_t status);
void append_header(std::string& out, std::string_view name, std::string_view value);
void append_local_body(std::string& out, std::string_view body, bool has_content_type, bool close);

// "<hex size>\r\n" for a chunk of the given size.
void append_chunk_header(std::string& out, uint64_t size);
inline constexpr std::string_view kChunkEnd = "\r\n";
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";
// The last chunk with the trailer fields that may reach the next hop (is_forwarded_trailer);
// kLastChunk alone when there are none.
void append_last_chunk(std::string& out, const MessageHead& trailers);
// RFC 9110 6.5.1: a field that frames, routes, controls or authenticates a message, or says how to
// process its content, is not processed from a trailer section: waygate does not pass one on (a
// client could otherwise make it appear to the upstream as if sent in the head).
bool is_forwarded_trailer(std::string_view name);

}  // namespace waygate::http
