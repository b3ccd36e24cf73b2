#include "http/serialize.h"

#include <gtest/gtest.h>

#include "http/parser.h"

namespace waygate::http {
namespace {

class HeadOnly final : public ParserSink {
 public:
  MessageHead& on_message_begin() override { return head; }
  int on_headers_complete(MessageHead&) override { return kHeadContinue; }
  int on_body(std::string_view) override { return 0; }
  int on_message_complete() override { return 0; }
  MessageHead head;
};

MessageHead parse(llhttp_type_t type, std::string_view bytes) {
  HeadOnly sink;
  Parser parser(type, sink);
  size_t consumed = 0;
  EXPECT_NE(parser.execute(bytes, &consumed), Parser::Result::kError) << bytes;
  return sink.head;
}

ResponseFraming framing(BodyFraming body, uint64_t content_length = 0, bool close = false,
                        bool keep_alive_10 = false) {
  ResponseFraming framing;
  framing.framing = body;
  framing.content_length = content_length;
  framing.close = close;
  framing.keep_alive_10 = keep_alive_10;
  return framing;
}

// The head sent upstream, with the target and Host the session would pass for an origin-form
// request: the client's own.
std::string upstream_head(std::string_view request_bytes, ForwardContext context = {}) {
  MessageHead request = parse(HTTP_REQUEST, request_bytes);
  if (context.client_address.empty()) context.client_address = "10.1.2.3";
  if (context.proto.empty()) context.proto = "http";
  if (context.target.empty()) context.target = request.target();
  std::string_view host = request.find(HeaderId::kHost).value_or("");
  if (context.host.empty()) context.host = host;
  if (context.forwarded_host.empty()) context.forwarded_host = host;
  std::string out;
  append_upstream_request_head(out, request, context);
  return out;
}

TEST(UpstreamRequestHead, HopByHopHeadersAreRemoved) {
  std::string out = upstream_head(
      "GET /x HTTP/1.1\r\nHost: a.example\r\nConnection: keep-alive, X-Secret\r\n"
      "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: gzip\r\n"
      "Trailer: X-T\r\nUpgrade: h2c\r\nX-Secret: 1\r\nX-Kept: 2\r\n\r\n");
  EXPECT_TRUE(out.starts_with("GET /x HTTP/1.1\r\n"));
  for (const char* gone : {"Connection:", "Keep-Alive:", "Proxy-Connection:", "TE:", "Trailer:",
                           "Upgrade:", "X-Secret:"}) {
    EXPECT_EQ(out.find(gone), std::string::npos) << gone << " in\n" << out;
  }
  EXPECT_NE(out.find("X-Kept: 2\r\n"), std::string::npos);
  EXPECT_NE(out.find("Host: a.example\r\n"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST(UpstreamRequestHead, TeTrailersGoesOnWithItsConnectionOption) {
  std::string out = upstream_head(
      "POST /svc/Call HTTP/1.1\r\nHost: a.example\r\nTE: trailers, deflate;q=0.5\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_NE(out.find("TE: trailers\r\nConnection: te\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("deflate"), std::string::npos) << out;
}

TEST(UpstreamRequestHead, TeTrailersJoinsTheUpgradeConnectionOption) {
  ForwardContext context;
  context.upgrade = true;
  std::string out = upstream_head(
      "GET /ws HTTP/1.1\r\nHost: a.example\r\nTE: trailers\r\nConnection: upgrade, te\r\n"
      "Upgrade: websocket\r\n\r\n",
      context);
  EXPECT_NE(out.find("TE: trailers\r\nConnection: upgrade, te\r\nUpgrade: websocket\r\n"),
            std::string::npos)
      << out;
}

TEST(UpstreamRequestHead, TeTrailersIsDroppedWhenTheRouteRemovesTe) {
  HeaderEdits edits;
  edits.remove = {"TE"};
  ForwardContext context;
  context.edits = &edits;
  std::string out =
      upstream_head("GET / HTTP/1.1\r\nHost: a.example\r\nTE: trailers\r\n\r\n", context);
  EXPECT_EQ(out.find("TE:"), std::string::npos) << out;
  EXPECT_EQ(out.find("Connection:"), std::string::npos) << out;
}

// The head is written into room made for the request's own size: headers a route adds past that
// room must still go whole, after whatever the buffer held before.
TEST(UpstreamRequestHead, RouteHeadersLargerThanTheRequestGoWhole) {
  HeaderEdits edits;
  for (char c : {'a', 'b', 'c'})
    edits.add.emplace_back(std::string("X-Big-") + c, std::string(3000, c));
  MessageHead request = parse(HTTP_REQUEST, "GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n");
  ForwardContext context;
  context.client_address = "10.1.2.3";
  context.proto = "http";
  context.target = request.target();
  context.host = "a.example";
  context.edits = &edits;
  std::string out = "kept";
  append_upstream_request_head(out, request, context);
  EXPECT_TRUE(out.starts_with("keptGET /x HTTP/1.1\r\nHost: a.example\r\n")) << out;
  for (const auto& [name, value] : edits.add) {
    EXPECT_NE(out.find(name + ": " + value + "\r\n"), std::string::npos) << name;
  }
  EXPECT_TRUE(out.ends_with("X-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: http\r\n\r\n"))
      << out.substr(out.size() - 100);
}

TEST(UpstreamRequestHead, ForwardedHeadersAreSetAndForAppended) {
  std::string out = upstream_head(
      "GET / HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-For: 1.1.1.1\r\n"
      "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\r\n");
  EXPECT_NE(out.find("X-Forwarded-For: 1.1.1.1, 10.1.2.3\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Forwarded-Proto: http\r\n"), std::string::npos);
  EXPECT_EQ(out.find("https"), std::string::npos);
  EXPECT_NE(out.find("X-Forwarded-Host: shop.example\r\n"), std::string::npos);
  EXPECT_EQ(out.find("evil"), std::string::npos);
}

TEST(UpstreamRequestHead, RequestIdIsAddedOnlyWhenMissing) {
  ForwardContext context;
  context.client_address = "10.1.2.3";
  context.proto = "http";
  context.request_id = "abc123";
  std::string added = upstream_head("GET / HTTP/1.1\r\nHost: a\r\n\r\n", context);
  EXPECT_NE(added.find("X-Request-Id: abc123\r\n"), std::string::npos);
  std::string kept =
      upstream_head("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: mine\r\n\r\n", context);
  EXPECT_NE(kept.find("X-Request-Id: mine\r\n"), std::string::npos);
  EXPECT_EQ(kept.find("abc123"), std::string::npos);
}

TEST(UpstreamRequestHead, ChunkedRequestStaysChunkedWithOneFramingHeader) {
  std::string out =
      upstream_head("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos);
}

TEST(UpstreamRequestHead, ExpectContinueIsAnsweredByTheProxyNotForwarded) {
  std::string out = upstream_head(
      "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  EXPECT_EQ(out.find("Expect"), std::string::npos);
  EXPECT_NE(out.find("Content-Length: 4\r\n"), std::string::npos);
}

TEST(UpstreamRequestHead, UpgradeIsKeptForATunnel) {
  ForwardContext context;
  context.client_address = "10.1.2.3";
  context.proto = "http";
  context.upgrade = true;
  std::string out = upstream_head(
      "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: k\r\n\r\n",
      context);
  EXPECT_NE(out.find("Connection: upgrade\r\nUpgrade: websocket\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Sec-WebSocket-Key: k\r\n"), std::string::npos);
}

TEST(DownstreamResponseHead, ChunkedUpstreamIsReframedAndConnectionNamedHeadersDropped) {
  MessageHead response =
      parse(HTTP_RESPONSE,
            "HTTP/1.1 200 Fine\r\nTransfer-Encoding: chunked\r\nConnection: X-Internal\r\n"
            "X-Internal: 1\r\nContent-Type: text/plain\r\n\r\n");
  std::string out;
  append_downstream_response_head(out, response, framing(BodyFraming::kChunked));
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200 Fine\r\n")) << out;
  EXPECT_NE(out.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(out.find("X-Internal"), std::string::npos);
  EXPECT_NE(out.find("Content-Type: text/plain\r\n"), std::string::npos);
}

// One option is compared whole with each name, whatever its case and the spaces around it; a
// name it only starts, or that only starts it, goes on.
TEST(DownstreamResponseHead, TheOneConnectionOptionDropsOnlyTheFieldItNames) {
  MessageHead response = parse(HTTP_RESPONSE,
                               "HTTP/1.1 200 OK\r\nConnection:  x-internal \r\nX-Internal: 1\r\n"
                               "X-Internals: 2\r\nX-Intern: 3\r\nContent-Length: 0\r\n\r\n");
  std::string out;
  append_downstream_response_head(out, response, framing(BodyFraming::kContentLength, 0));
  EXPECT_EQ(out.find("X-Internal:"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Internals: 2\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Intern: 3\r\n"), std::string::npos) << out;
}

TEST(DownstreamResponseHead, CloseAndHttp10KeepAliveAreAnnounced) {
  MessageHead response = parse(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
  std::string closing;
  append_downstream_response_head(closing, response, framing(BodyFraming::kContentLength, 3, true));
  EXPECT_NE(closing.find("Connection: close\r\nContent-Length: 3\r\n\r\n"), std::string::npos);
  std::string keep;
  append_downstream_response_head(keep, response,
                                  framing(BodyFraming::kContentLength, 3, false, true));
  EXPECT_NE(keep.find("Connection: keep-alive\r\n"), std::string::npos);
}

TEST(DownstreamResponseHead, UntilCloseHasNoFramingHeader) {
  MessageHead response =
      parse(HTTP_RESPONSE, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string out;
  append_downstream_response_head(out, response, framing(BodyFraming::kUntilClose, 0, true));
  EXPECT_EQ(out.find("Transfer-Encoding"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos);
}

TEST(ChunkFraming, SizesAreHex) {
  std::string out;
  append_chunk_header(out, 0x1a2b);
  EXPECT_EQ(out, "1a2b\r\n");
  EXPECT_EQ(kLastChunk, "0\r\n\r\n");
}

// The trailer fields after a chunked body, as the parser keeps them.
MessageHead parse_trailers(std::string_view trailer_lines) {
  HeadOnly sink;
  Parser parser(HTTP_REQUEST, sink);
  std::string bytes = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  bytes.append(trailer_lines).append("\r\n");
  size_t consumed = 0;
  EXPECT_EQ(parser.execute(bytes, &consumed), Parser::Result::kOk) << bytes;
  return parser.trailers();
}

TEST(LastChunk, WithoutTrailersIsTheBareLastChunk) {
  std::string out;
  append_last_chunk(out, parse_trailers(""));
  EXPECT_EQ(out, kLastChunk);
}

TEST(LastChunk, CarriesTrailerFieldsAsTheyCame) {
  std::string out;
  append_last_chunk(out, parse_trailers("grpc-status: 0\r\nGrpc-Message: all  good\r\n"));
  EXPECT_EQ(out, "0\r\ngrpc-status: 0\r\nGrpc-Message: all  good\r\n\r\n");
}

TEST(LastChunk, LeavesOutFieldsThatMayNotBeTrailers) {
  std::string out;
  append_last_chunk(out, parse_trailers("Content-Length: 5\r\n"
                                        "Host: evil\r\nConnection: close\r\nTE: trailers\r\n"
                                        "Trailer: x\r\nAuthorization: Basic eA==\r\n"
                                        "Set-Cookie: a=b\r\nContent-Type: text/html\r\n"
                                        "X-Forwarded-For: 1.2.3.4\r\nX-Checksum: 7\r\n"));
  EXPECT_EQ(out, "0\r\nX-Checksum: 7\r\n\r\n");
}

TEST(GeneratedResponse, CarriesStatusReasonAndLength) {
  std::string out;
  append_generated_response(out, 502, true);
  EXPECT_EQ(out,
            "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n"
            "Connection: close\r\n\r\n502 Bad Gateway\n");
}

}  // namespace
}  // namespace waygate::http
