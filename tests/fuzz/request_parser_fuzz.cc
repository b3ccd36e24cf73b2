// Fuzzes what a client's bytes meet first: the request parser (http/parser), the head it fills
// (http/message_head) and the field grammar (http/field_syntax), then the request as waygate
// forwards it. Whatever the bytes, every request accepted has one framing and one Host, and
// forwarding it gives the upstream exactly one well-framed request with the same body: never a
// second request hidden in the first.
//
// Input: byte 0 picks the size of the pieces the rest is fed in (0: all at once).
#include <llhttp.h>

#include <string>

#include "fuzz_check.h"
#include "http/field_syntax.h"
#include "http/request_target.h"
#include "http/serialize.h"
#include "message_reader.h"

namespace waygate::fuzz {
namespace {

// What the re-parse of a forwarded request allows: waygate's own additions make a head larger
// than the client's, and the upstream is not bound by waygate's limits.
constexpr http::ParserLimits kUpstreamLimits{1 << 20, 1 << 20, 10'000};

void check_head(const http::MessageHead& head) {
  // One framing (RFC 9112 6.1, 6.3): chunked or a length, never both, and no other coding.
  FUZZ_CHECK(!(head.chunked && head.has_content_length));
  FUZZ_CHECK(head.transfer_encoding == head.chunked);
  FUZZ_CHECK(head.count(http::HeaderId::kHost) <= 1);
  FUZZ_CHECK(head.version_major == 1 && head.version_minor <= 1);
  for (char c : head.target()) {
    FUZZ_CHECK(c > 0x20 && c < 0x7f);
  }
  for (const http::HeaderField& field : head.fields) {
    std::string_view name = head.name(field);
    std::string_view value = head.value(field);
    FUZZ_CHECK(http::is_token(name));
    FUZZ_CHECK(http::is_field_value(value));
    FUZZ_CHECK(value.empty() || (value.back() != ' ' && value.back() != '\t'));
    FUZZ_CHECK(field.id == http::classify_header(name));
    // find() by name and by id agree on the first of a kind.
    if (field.id != http::HeaderId::kOther) {
      FUZZ_CHECK(head.find(field.id).has_value());
      FUZZ_CHECK(head.find(name).has_value());
      FUZZ_CHECK(*head.find(field.id) == *head.find(name));
    }
  }
}

// The target and Host as DownstreamSession::resolve_target reads them; false when it answers
// 400 instead of forwarding.
bool resolve(const http::MessageHead& head, std::string& target, std::string& host) {
  http::RequestTarget parts;
  if (!http::parse_request_target(head.target(), &parts)) return false;
  std::optional<std::string_view> host_header = head.find(http::HeaderId::kHost);
  std::string_view authority = parts.form == http::RequestTarget::Form::kAbsolute
                                   ? parts.authority
                                   : host_header.value_or("");
  if (authority.empty() && !head.is_http10()) return false;
  if (!authority.empty()) {
    std::optional<http::Authority> parsed = http::parse_authority(authority);
    if (!parsed) return false;
    FUZZ_CHECK(!parsed->host.empty());
    FUZZ_CHECK(authority.starts_with(parsed->host));
  }
  host = authority.empty() ? "upstream" : std::string(authority);
  if (parts.form == http::RequestTarget::Form::kAsterisk) {
    target = "*";
    return true;
  }
  std::string normalized;
  switch (http::normalize_path(parts.path, http::PathOptions{}, normalized)) {
    case http::PathStatus::kUnchanged:
      target.assign(parts.path);
      break;
    case http::PathStatus::kNormalized:
      target = normalized;
      break;
    default:
      return false;
  }
  target.append(parts.query);
  return true;
}

void check_forwarded(const ParsedMessage& request) {
  std::string target;
  std::string host;
  if (!resolve(request.head, target, host)) return;
  http::ForwardContext context;
  context.client_address = "192.0.2.1";
  context.proto = "http";
  context.request_id = "fuzz-request";
  context.target = target;
  context.host = host;
  std::string wire;
  http::append_upstream_request_head(wire, request.head, context);
  std::string body = request.body();
  wire += request.head.chunked ? reframe_chunked(request.body_pieces, true) : body;

  MessageReader upstream(HTTP_REQUEST, kUpstreamLimits);
  MessageReader::End end = upstream.read(wire, 0);
  FUZZ_CHECK(end == MessageReader::End::kConsumed);
  FUZZ_CHECK(upstream.consumed() == wire.size());
  FUZZ_CHECK(upstream.messages.size() == 1);
  const ParsedMessage& forwarded = upstream.messages.front();
  FUZZ_CHECK(forwarded.complete);
  FUZZ_CHECK(forwarded.head.method == request.head.method);
  FUZZ_CHECK(forwarded.head.chunked == request.head.chunked);
  FUZZ_CHECK(forwarded.head.count(http::HeaderId::kHost) == 1);
  FUZZ_CHECK(forwarded.head.count(http::HeaderId::kContentLength) <= 1);
  FUZZ_CHECK(forwarded.head.count(http::HeaderId::kTransferEncoding) <= 1);
  FUZZ_CHECK(forwarded.body() == body);
  FUZZ_CHECK(forwarded.head.target() == target);
}

}  // namespace
}  // namespace waygate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace waygate;
  if (size == 0) return 0;
  size_t piece = data[0];
  std::string_view input = fuzz::as_text(data + 1, size - 1);

  fuzz::MessageReader client(HTTP_REQUEST, http::ParserLimits{});
  fuzz::MessageReader::End end = client.read(input, piece);
  FUZZ_CHECK(client.consumed() <= input.size());
  if (end == fuzz::MessageReader::End::kError) {
    uint16_t status = client.parser().error_status();
    // 501: a transfer coding other than chunked (RFC 9112 6.1).
    FUZZ_CHECK(status == 400 || status == 413 || status == 414 || status == 431 || status == 501 ||
               status == 505);
    FUZZ_CHECK(client.parser().error_reason() != nullptr);
  }
  for (const fuzz::ParsedMessage& request : client.messages) {
    // A head is only trusted once the parser let it through whole.
    if (!request.head_done) continue;
    fuzz::check_head(request.head);
    if (request.complete) fuzz::check_forwarded(request);
    if (request.head.has_content_length && request.complete) {
      FUZZ_CHECK(request.body().size() == request.head.content_length);
    }
  }

  // The same bytes in one piece give the same requests: where reads split the input must not
  // change what it means.
  if (piece != 0) {
    fuzz::MessageReader whole(HTTP_REQUEST, http::ParserLimits{});
    FUZZ_CHECK(whole.read(input, 0) == end);
    size_t complete = 0;
    for (const fuzz::ParsedMessage& request : client.messages)
      complete += request.complete ? 1 : 0;
    size_t whole_complete = 0;
    for (const fuzz::ParsedMessage& request : whole.messages)
      whole_complete += request.complete ? 1 : 0;
    FUZZ_CHECK(complete == whole_complete);
    for (size_t i = 0; i < client.messages.size() && i < whole.messages.size(); ++i) {
      if (!client.messages[i].complete || !whole.messages[i].complete) continue;
      FUZZ_CHECK(client.messages[i].body() == whole.messages[i].body());
      FUZZ_CHECK(client.messages[i].head.bytes == whole.messages[i].head.bytes);
    }
  }
  return 0;
}
