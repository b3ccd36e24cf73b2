// Fuzzes the upstream side: a response as an upstream connection parses it (http/parser with its
// limits, 1xx interim responses skipped, stopping after the final one), then framed for the
// client as DownstreamSession frames it. Whatever the upstream sends, the client gets exactly one
// well-framed response with the upstream's status and body: never two, never a poisoned stream.
// And the parser reads it exactly as with llhttp reading every head: its plain-head path
// (http/plain_response_head.h) changes nothing a connection sees.
//
// Input: byte 0 bit 0: the request was HEAD; bit 1: it was HTTP/1.0; bits 2-7: the size of the
// pieces the rest (the upstream's bytes) is fed in (0: all at once).
#include <llhttp.h>

#include <string>

#include "fuzz_check.h"
#include "http/field_syntax.h"
#include "http/serialize.h"
#include "message_reader.h"

namespace waygate::fuzz {
namespace {

// UpstreamConnection's limits for response heads.
constexpr http::ParserLimits kResponseLimits{64 * 1024, 8 * 1024, 1000};
constexpr http::ParserLimits kClientLimits{1 << 20, 1 << 20, 10'000};

// DownstreamSession::on_upstream_head's choice of framing toward the client.
http::ResponseFraming framing_for(const http::MessageHead& response, bool head_request,
                                  bool http10_request) {
  http::ResponseFraming framing;
  bool bodiless = head_request || response.status == 204 || response.status == 304;
  if (response.has_content_length && !response.chunked) {
    framing.framing = http::BodyFraming::kContentLength;
    framing.content_length = response.content_length;
  } else if (bodiless) {
    framing.framing = http::BodyFraming::kNone;
  } else if (http10_request) {
    framing.framing = http::BodyFraming::kUntilClose;
  } else {
    framing.framing = http::BodyFraming::kChunked;
  }
  framing.close = !response.keep_alive || framing.framing == http::BodyFraming::kUntilClose;
  framing.keep_alive_10 = http10_request && !framing.close;
  return framing;
}

void check_forwarded(const ParsedMessage& response, bool head_request, bool http10_request) {
  http::ResponseFraming framing = framing_for(response.head, head_request, http10_request);
  bool bodiless = head_request || response.head.status == 204 || response.head.status == 304;
  std::string wire;
  http::append_downstream_response_head(wire, response.head, framing);
  std::string body = response.body();
  if (!bodiless) {
    if (framing.framing == http::BodyFraming::kChunked) {
      wire += reframe_chunked(response.body_pieces, true);
    } else {
      wire += body;
    }
  }
  if (framing.framing == http::BodyFraming::kContentLength && !bodiless) {
    FUZZ_CHECK(body.size() == framing.content_length);
  }

  MessageReader client(HTTP_RESPONSE, kClientLimits, head_request);
  MessageReader::End end = client.read(wire, 0);
  if (end == MessageReader::End::kConsumed && framing.framing == http::BodyFraming::kUntilClose) {
    FUZZ_CHECK(client.finish());
  }
  FUZZ_CHECK(end == MessageReader::End::kConsumed || end == MessageReader::End::kStopped);
  FUZZ_CHECK(client.consumed() == wire.size());
  FUZZ_CHECK(client.messages.size() == 1);
  const ParsedMessage& forwarded = client.messages.front();
  FUZZ_CHECK(forwarded.complete && !forwarded.interim);
  FUZZ_CHECK(forwarded.head.status == response.head.status);
  FUZZ_CHECK(forwarded.body() == (bodiless ? std::string() : body));
  FUZZ_CHECK(forwarded.head.count(http::HeaderId::kContentLength) <= 1);
  FUZZ_CHECK(forwarded.head.count(http::HeaderId::kTransferEncoding) <= 1);
  FUZZ_CHECK(!(forwarded.head.chunked && forwarded.head.has_content_length));
}

// Both readers saw the same messages, heads and bodies.
void check_same_messages(const MessageReader& a, const MessageReader& b) {
  FUZZ_CHECK(a.consumed() == b.consumed());
  FUZZ_CHECK(a.messages.size() == b.messages.size());
  for (size_t i = 0; i < a.messages.size(); ++i) {
    const ParsedMessage& x = a.messages[i];
    const ParsedMessage& y = b.messages[i];
    FUZZ_CHECK(x.head_done == y.head_done && x.complete == y.complete && x.interim == y.interim);
    FUZZ_CHECK(x.body() == y.body());
    FUZZ_CHECK(x.last_chunk == y.last_chunk);
    if (!x.head_done) continue;  // a refused head is left half built, differently
    const http::MessageHead& h = x.head;
    const http::MessageHead& k = y.head;
    FUZZ_CHECK(h.status == k.status && h.method == k.method);
    FUZZ_CHECK(h.version_major == k.version_major && h.version_minor == k.version_minor);
    FUZZ_CHECK(h.keep_alive == k.keep_alive && h.upgrade == k.upgrade);
    FUZZ_CHECK(h.chunked == k.chunked && h.transfer_encoding == k.transfer_encoding);
    FUZZ_CHECK(h.has_content_length == k.has_content_length);
    FUZZ_CHECK(h.content_length == k.content_length);
    FUZZ_CHECK(h.target() == k.target());
    FUZZ_CHECK(h.fields.size() == k.fields.size());
    for (size_t f = 0; f < h.fields.size(); ++f) {
      FUZZ_CHECK(h.fields[f].id == k.fields[f].id);
      FUZZ_CHECK(h.name(h.fields[f]) == k.name(k.fields[f]));
      FUZZ_CHECK(h.value(h.fields[f]) == k.value(k.fields[f]));
    }
  }
}

}  // namespace
}  // namespace waygate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace waygate;
  if (size == 0) return 0;
  bool head_request = (data[0] & 1) != 0;
  bool http10_request = (data[0] & 2) != 0;
  size_t piece = data[0] >> 2;
  std::string_view input = fuzz::as_text(data + 1, size - 1);

  fuzz::MessageReader upstream(HTTP_RESPONSE, fuzz::kResponseLimits, head_request);
  fuzz::MessageReader::End end = upstream.read(input, piece);
  // The upstream closed after its bytes: that may end a response framed by the close.
  bool finished = end == fuzz::MessageReader::End::kConsumed && upstream.finish();
  FUZZ_CHECK(upstream.consumed() <= input.size());

  fuzz::MessageReader by_llhttp(HTTP_RESPONSE, fuzz::kResponseLimits, head_request, false);
  fuzz::MessageReader::End llhttp_end = by_llhttp.read(input, piece);
  FUZZ_CHECK(end == llhttp_end);
  FUZZ_CHECK(finished == (llhttp_end == fuzz::MessageReader::End::kConsumed && by_llhttp.finish()));
  if (end == fuzz::MessageReader::End::kError) {
    FUZZ_CHECK(upstream.parser().error_status() == by_llhttp.parser().error_status());
  }
  fuzz::check_same_messages(upstream, by_llhttp);

  const fuzz::ParsedMessage* final_response = nullptr;
  for (const fuzz::ParsedMessage& response : upstream.messages) {
    if (!response.head_done) continue;
    for (const http::HeaderField& field : response.head.fields) {
      FUZZ_CHECK(http::is_token(response.head.name(field)));
      FUZZ_CHECK(http::is_field_value(response.head.value(field)));
    }
    if (response.interim) {
      FUZZ_CHECK(response.body_pieces.empty());
      continue;
    }
    FUZZ_CHECK(final_response == nullptr);  // nothing is read after the final response
    final_response = &response;
  }
  // A 101 switches to a tunnel the session asked for; its framing is the tunnel's.
  if (final_response && final_response->complete && final_response->head.status != 101) {
    fuzz::check_forwarded(*final_response, head_request, http10_request);
  }
  return 0;
}
