#include "http/plain_response_head.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/parser.h"

namespace waygate::http {
namespace {

// What a response parser reported, as an upstream connection sees it: the heads, the bodies, and
// each execute() call's result and the bytes it took.
class Recorder final : public ParserSink {
 public:
  MessageHead& on_message_begin() override {
    heads.emplace_back();
    bodies.emplace_back();
    return heads.back();
  }
  int on_headers_complete(MessageHead& head) override {
    heads_done.push_back(heads.size() - 1);
    // As UpstreamConnection answers: a 1xx and a response to HEAD have no body.
    bool no_body = head_request || (head.status >= 100 && head.status < 200) ||
                   head.status == 204 || head.status == 304;
    if (pause_at_head) return kHeadPause;
    return no_body ? kHeadSkipBody : kHeadContinue;
  }
  int on_body(std::string_view bytes) override {
    bodies.back().append(bytes);
    return 0;
  }
  int on_message_complete() override {
    ++completed;
    return HPE_PAUSED;
  }

  bool head_request = false;
  bool pause_at_head = false;
  std::vector<MessageHead> heads;
  std::vector<size_t> heads_done;  // which heads were whole (a refused one is left half built)
  std::vector<std::string> bodies;
  std::vector<std::string> steps;  // "result consumed" per execute() call
  int completed = 0;
  bool finished_ok = false;
};

struct Options {
  size_t piece = 0;  // bytes per read; 0: all at once
  bool head_request = false;
  bool pause_at_head = false;
  ParserLimits limits = {64 * 1024, 8 * 1024, 100};
};

// Parses `bytes` as an upstream connection does, in pieces, resuming after every pause, and
// ending with the connection's close.
Recorder parse(std::string_view bytes, bool plain_heads, const Options& options) {
  Recorder recorder;
  recorder.head_request = options.head_request;
  recorder.pause_at_head = options.pause_at_head;
  Parser parser(HTTP_RESPONSE, recorder, options.limits);
  parser.set_plain_heads(plain_heads);
  size_t piece = options.piece == 0 ? bytes.size() : options.piece;
  while (!bytes.empty()) {
    std::string_view chunk = bytes.substr(0, piece);
    for (;;) {
      size_t consumed = 0;
      Parser::Result result = parser.execute(chunk, &consumed);
      recorder.steps.push_back(std::to_string(static_cast<int>(result)) + " " +
                               std::to_string(consumed));
      chunk.remove_prefix(consumed);
      bytes.remove_prefix(consumed);
      if (result == Parser::Result::kError) return recorder;
      if (result != Parser::Result::kPaused) break;
      parser.resume();
    }
  }
  recorder.finished_ok = parser.finish() == Parser::Result::kOk;
  return recorder;
}

std::string describe(const MessageHead& head) {
  std::string out = std::to_string(head.status) + " 1." + std::to_string(head.version_minor) +
                    " [" + std::string(head.target()) + "] method " + std::to_string(head.method);
  out += head.keep_alive ? " keep-alive" : " close";
  if (head.has_content_length) out += " length " + std::to_string(head.content_length);
  if (head.chunked) out += " chunked";
  if (head.upgrade) out += " upgrade";
  if (head.transfer_encoding) out += " transfer-encoding";
  for (const HeaderField& field : head.fields) {
    out += "\n  " + std::string(head.name(field)) + ": [" + std::string(head.value(field)) + "] " +
           std::to_string(static_cast<int>(field.id));
  }
  return out;
}

// Reading plain heads changes nothing a sink sees: heads, bodies, pauses, bytes taken, errors.
void expect_as_llhttp_reads_it(std::string_view bytes, const Options& options = {}) {
  Recorder plain = parse(bytes, true, options);
  Recorder llhttp = parse(bytes, false, options);
  ASSERT_EQ(plain.heads.size(), llhttp.heads.size()) << bytes;
  ASSERT_EQ(plain.heads_done, llhttp.heads_done) << bytes;
  for (size_t i : plain.heads_done) {
    EXPECT_EQ(describe(plain.heads[i]), describe(llhttp.heads[i])) << bytes;
    EXPECT_EQ(plain.bodies[i], llhttp.bodies[i]) << bytes;
  }
  EXPECT_EQ(plain.steps, llhttp.steps) << bytes;
  EXPECT_EQ(plain.completed, llhttp.completed) << bytes;
  EXPECT_EQ(plain.finished_ok, llhttp.finished_ok) << bytes;
}

bool reads_plain(std::string_view bytes, ParserLimits limits = {64 * 1024, 8 * 1024, 100}) {
  PlainResponseHead head;
  return read_plain_response_head(bytes, limits.max_header_bytes, limits.max_headers, &head);
}

const char* const kPlain[] = {
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 01 Dec 2026 20:00:00 GMT\r\n"
    "Content-Type: text/plain\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n",
    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 3\r\nCONNECTION: Close\r\n\r\nbye",
    "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Blank: \t \r\nX-Padded:\t a  b \t\r\nContent-Length: "
    "1\r\n\r\nx",
    "HTTP/1.1 200 All good here\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: "
    "000\r\n\r\n",
    "HTTP/1.1 201 Created\r\nConnection: close\r\nConnection: keep-alive\r\nContent-Length: "
    "1\r\n\r\n1",
    // The body of a 200 to HEAD is not read, whatever its length says.
    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
};

TEST(PlainResponseHead, ReadsTheCommonHeadsAsLlhttpDoes) {
  for (const char* response : kPlain) {
    EXPECT_TRUE(reads_plain(response)) << response;
    expect_as_llhttp_reads_it(response);
    // In reads of every size, pausing at the head, and as the answer to a HEAD request.
    for (size_t piece : {1, 7, 64})
      expect_as_llhttp_reads_it(response, {.piece = piece});
    expect_as_llhttp_reads_it(response, {.pause_at_head = true});
    expect_as_llhttp_reads_it(response, {.head_request = true});
  }
  Recorder recorder = parse(kPlain[0], true, {});
  ASSERT_EQ(recorder.heads.size(), 1u);
  EXPECT_EQ(recorder.heads[0].find(HeaderId::kContentLength), "6");
  EXPECT_EQ(recorder.bodies[0], "hello\n");
}

TEST(PlainResponseHead, ResponsesOneAfterAnotherAndCutShort) {
  std::string two = std::string(kPlain[1]) + kPlain[0];
  expect_as_llhttp_reads_it(two);
  expect_as_llhttp_reads_it(two, {.piece = 5});
  // A body cut short by the close fails at finish, as llhttp's does.
  std::string cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf";
  expect_as_llhttp_reads_it(cut);
  EXPECT_FALSE(parse(cut, true, {}).finished_ok);
  // Bytes after a whole response are the next one's, not this one's body.
  expect_as_llhttp_reads_it(std::string(kPlain[1]) +
                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                            "\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
}

TEST(PlainResponseHead, LeavesEverythingElseToLlhttp) {
  const char* const kNotPlain[] = {
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
      "HTTP/1.1 200 OK\r\n\r\nuntil the close",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: 1 \r\n\r\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456789\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nProxy-Connection: close\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nConnection: keep-alive, Upgrade\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nConnection: close \r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 \xc3\xa9\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nX-Name: caf\xc3\xa9\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nX-Bad: a\x01z\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nX-Del: \x7f\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Cr: a\rb\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nX-Space : a\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nX Space: a\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\n: no name\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 099 OK\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 600 OK\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.2 200 OK\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/2.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n",
      "\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
  };
  for (const char* response : kNotPlain) {
    EXPECT_FALSE(reads_plain(response)) << response;
    expect_as_llhttp_reads_it(response);
  }
  // Past the parser's limits, llhttp refuses it with the status those limits give.
  std::string many = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 40; ++i)
    many += "X-" + std::to_string(i) + ": v\r\n";
  many += "Content-Length: 1\r\n\r\nx";
  EXPECT_FALSE(reads_plain(many));  // more fields than it has room for
  expect_as_llhttp_reads_it(many);
  std::string few = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 1\r\n\r\nx";
  EXPECT_FALSE(reads_plain(few, {64 * 1024, 8 * 1024, 2}));
  expect_as_llhttp_reads_it(few, {.limits = {64 * 1024, 8 * 1024, 2}});
  EXPECT_FALSE(reads_plain(few, {30, 8 * 1024, 100}));
  expect_as_llhttp_reads_it(few, {.limits = {30, 8 * 1024, 100}});
}

}  // namespace
}  // namespace waygate::http
