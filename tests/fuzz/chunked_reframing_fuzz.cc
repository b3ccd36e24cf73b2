// Fuzzes chunked re-framing: a chunked body is decoded by http/parser and every piece it hands
// over is framed again as one chunk (http/serialize's chunk framing, as DownstreamSession does on
// the way to the upstream and to the client), its trailer fields after the last chunk. The
// re-framed body decodes to the same bytes and the same forwarded trailers, ends exactly where
// the original ended, and a body cut short stays unfinished: no piece can become an early last
// chunk, and nothing after the body can become part of it.
//
// Input: byte 0 picks the size of the pieces the rest (a chunked body, possibly followed by more
// bytes) is fed in (0: all at once).
#include <llhttp.h>

#include <string>

#include "fuzz_check.h"
#include "message_reader.h"

namespace {

constexpr std::string_view kHead =
    "POST /upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace waygate;
  if (size == 0) return 0;
  size_t piece = data[0];
  std::string input(kHead);
  input.append(fuzz::as_text(data + 1, size - 1));

  fuzz::MessageReader client(HTTP_REQUEST, http::ParserLimits{});
  client.read(input, piece);
  FUZZ_CHECK(!client.messages.empty() && client.messages.front().head_done);
  const fuzz::ParsedMessage& request = client.messages.front();
  FUZZ_CHECK(request.head.chunked);

  std::string reframed(kHead);
  reframed += fuzz::reframe_chunked(request.body_pieces, request.complete, request.last_chunk);
  fuzz::MessageReader upstream(HTTP_REQUEST, http::ParserLimits{});
  fuzz::MessageReader::End end = upstream.read(reframed, 0);
  FUZZ_CHECK(end == fuzz::MessageReader::End::kConsumed);
  FUZZ_CHECK(upstream.consumed() == reframed.size());
  FUZZ_CHECK(upstream.messages.size() == 1);
  const fuzz::ParsedMessage& forwarded = upstream.messages.front();
  FUZZ_CHECK(forwarded.complete == request.complete);
  FUZZ_CHECK(forwarded.body() == request.body());
  FUZZ_CHECK(forwarded.last_chunk == request.last_chunk);
  return 0;
}
