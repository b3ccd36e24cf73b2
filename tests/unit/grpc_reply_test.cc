// gRPC calls answered by waygate itself: which requests are gRPC calls, and the Trailers-Only
// response they get.
#include "http/grpc_reply.h"

#include <gtest/gtest.h>

#include <string>

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

bool grpc_call(std::string_view content_type) {
  HeadOnly sink;
  Parser parser(HTTP_REQUEST, sink);
  std::string bytes = "POST /s/M HTTP/1.1\r\nHost: a\r\n";
  if (!content_type.empty()) bytes.append("Content-Type: ").append(content_type).append("\r\n");
  bytes.append("Content-Length: 0\r\n\r\n");
  size_t consumed = 0;
  EXPECT_EQ(parser.execute(bytes, &consumed), Parser::Result::kOk);
  return is_grpc_request(sink.head);
}

TEST(GrpcReply, GrpcCallsAreKnownByTheirContentType) {
  EXPECT_TRUE(grpc_call("application/grpc"));
  EXPECT_TRUE(grpc_call("application/grpc+proto"));
  EXPECT_TRUE(grpc_call("Application/GRPC"));
  EXPECT_FALSE(grpc_call("application/grpc-web"));  // gRPC-Web is not gRPC over HTTP/2
  EXPECT_FALSE(grpc_call("application/json"));
  EXPECT_FALSE(grpc_call("application/grp"));
  EXPECT_FALSE(grpc_call(""));
}

TEST(GrpcReply, StatusFollowsGrpcsMappingWithTimeoutsAsDeadlines) {
  EXPECT_EQ(grpc_status_for(404), 12U);  // UNIMPLEMENTED
  EXPECT_EQ(grpc_status_for(502), 14U);  // UNAVAILABLE
  EXPECT_EQ(grpc_status_for(503), 14U);
  EXPECT_EQ(grpc_status_for(504), 4U);  // DEADLINE_EXCEEDED
  EXPECT_EQ(grpc_status_for(403), 7U);  // PERMISSION_DENIED
  EXPECT_EQ(grpc_status_for(418), 2U);  // UNKNOWN
}

TEST(GrpcReply, TrailersOnlyResponseHasNoBody) {
  std::string out;
  append_grpc_reply(out, 503, "waygate: no-endpoint", false);
  EXPECT_EQ(out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\ngrpc-status: 14\r\n"
            "grpc-message: waygate: no-endpoint\r\nContent-Length: 0\r\n\r\n");
}

}  // namespace
}  // namespace waygate::http
