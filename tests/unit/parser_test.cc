#include "http/parser.h"

#include "http/plain_response_head.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace waygate::http {
namespace {

// Collects what the parser reports, as a proxy session would.
class Recorder final : public ParserSink {
 public:
  MessageHead& on_message_begin() override {
    heads.emplace_back();
    bodies.emplace_back();
    return heads.back();
  }
  int on_headers_complete(MessageHead& head) override {
    heads_done.push_back(heads.size() - 1);
    // As UpstreamConnection answers: a 1xx, a 204, a 304 and a response to HEAD have no body.
    if (as_upstream && head_result == kHeadContinue &&
        (head_request || (head.status >= 100 && head.status < 200) || head.status == 204 ||
         head.status == 304)) {
      return kHeadSkipBody;
    }
    return head_result;
  }
  int on_body(std::string_view bytes) override {
    bodies.back().append(bytes);
    return 0;
  }
  int on_message_complete() override {
    ++completed;
    return complete_result;
  }

  std::vector<MessageHead> heads;
  std::vector<size_t> heads_done;  // which heads were whole (a refused one is left half built)
  std::vector<std::string> bodies;
  int completed = 0;
  int head_result = kHeadContinue;
  int complete_result = 0;
  bool as_upstream = false;  // answer heads as an upstream connection does
  bool head_request = false;
};

struct Outcome {
  Parser::Result result;
  uint16_t status;
};

Outcome parse_request(Recorder& recorder, std::string_view bytes, ParserLimits limits = {}) {
  Parser parser(HTTP_REQUEST, recorder, limits);
  size_t consumed = 0;
  Parser::Result result = parser.execute(bytes, &consumed);
  return {result, parser.error_status()};
}

// The proxy pauses at the end of each head to start forwarding, then resumes: every rejection
// must come through that sequence.
void expect_rejected(std::string_view bytes, uint16_t status = 400) {
  Recorder recorder;
  recorder.head_result = kHeadPause;
  Parser parser(HTTP_REQUEST, recorder);
  size_t consumed = 0;
  Parser::Result result = parser.execute(bytes, &consumed);
  while (result == Parser::Result::kPaused) {
    bytes.remove_prefix(consumed);
    parser.resume();
    result = parser.execute(bytes, &consumed);
  }
  EXPECT_EQ(result, Parser::Result::kError) << bytes;
  EXPECT_EQ(parser.error_status(), status) << bytes;
}

TEST(Parser, CollectsMethodTargetAndHeaders) {
  Recorder recorder;
  auto outcome = parse_request(
      recorder, "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nAccept: */*\r\n\r\n");
  ASSERT_EQ(outcome.result, Parser::Result::kOk);
  ASSERT_EQ(recorder.heads.size(), 1u);
  const MessageHead& head = recorder.heads[0];
  EXPECT_EQ(head.method, HTTP_GET);
  EXPECT_EQ(head.target(), "/a?b=1");
  ASSERT_EQ(head.fields.size(), 3u);
  EXPECT_EQ(head.find("HOST"), "example.com");
  EXPECT_EQ(head.find("x-empty"), "");
  EXPECT_EQ(head.find("accept"), "*/*");
  EXPECT_FALSE(head.find("cookie"));
  EXPECT_TRUE(head.keep_alive);
  EXPECT_EQ(recorder.completed, 1);
}

TEST(Parser, ValuesLoseSurroundingWhitespace) {
  Recorder recorder;
  ASSERT_EQ(
      parse_request(recorder, "GET / HTTP/1.1\r\nHost: \t a.example \t\r\nX-Mid: a  b \r\n\r\n")
          .result,
      Parser::Result::kOk);
  EXPECT_EQ(recorder.heads[0].find("host"), "a.example");
  EXPECT_EQ(recorder.heads[0].find("x-mid"), "a  b");
}

TEST(Parser, HeadSplitAcrossManyReadsIsReassembled) {
  Recorder recorder;
  Parser parser(HTTP_REQUEST, recorder);
  std::string request = "GET /path HTTP/1.1\r\nHost: example.com\r\nX-Long: abcdef\r\n\r\n";
  for (char c : request) {
    size_t consumed = 0;
    ASSERT_EQ(parser.execute(std::string_view(&c, 1), &consumed), Parser::Result::kOk);
  }
  ASSERT_EQ(recorder.heads.size(), 1u);
  EXPECT_EQ(recorder.heads[0].target(), "/path");
  EXPECT_EQ(recorder.heads[0].find("x-long"), "abcdef");
}

TEST(Parser, ChunkedBodyIsDeliveredWithoutFraming) {
  Recorder recorder;
  auto outcome = parse_request(recorder,
                               "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n");
  ASSERT_EQ(outcome.result, Parser::Result::kOk);
  EXPECT_TRUE(recorder.heads[0].chunked);
  EXPECT_EQ(recorder.bodies[0], "hello world");
  EXPECT_EQ(recorder.completed, 1);
}

TEST(Parser, TrailerFieldsAreKeptApartFromTheHead) {
  Recorder recorder;
  Parser parser(HTTP_REQUEST, recorder);
  size_t consumed = 0;
  ASSERT_EQ(parser.execute("POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n0\r\nX-Checksum: 42 \r\ngrpc-status: 0\r\n\r\n",
                           &consumed),
            Parser::Result::kOk);
  ASSERT_EQ(recorder.completed, 1);
  EXPECT_EQ(recorder.bodies[0], "abc");
  EXPECT_FALSE(recorder.heads[0].find("x-checksum"));
  const MessageHead& trailers = parser.trailers();
  ASSERT_EQ(trailers.fields.size(), 2u);
  EXPECT_EQ(trailers.find("X-Checksum"), "42");
  EXPECT_EQ(trailers.find("grpc-status"), "0");
}

TEST(Parser, NoTrailersAfterABodyWithALength) {
  Recorder recorder;
  Parser parser(HTTP_REQUEST, recorder);
  size_t consumed = 0;
  ASSERT_EQ(parser.execute("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "0\r\nX-T: 1\r\n\r\n"
                           "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok",
                           &consumed),
            Parser::Result::kOk);
  ASSERT_EQ(recorder.completed, 2);
  EXPECT_TRUE(parser.trailers().fields.empty());
}

TEST(Parser, PipelinedRequestsPauseAtEachEnd) {
  Recorder recorder;
  recorder.complete_result = HPE_PAUSED;
  Parser parser(HTTP_REQUEST, recorder);
  std::string two = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n";
  size_t consumed = 0;
  ASSERT_EQ(parser.execute(two, &consumed), Parser::Result::kPaused);
  EXPECT_EQ(recorder.completed, 1);
  std::string_view rest = std::string_view(two).substr(consumed);
  EXPECT_TRUE(rest.starts_with("GET /2"));
  parser.resume();
  ASSERT_EQ(parser.execute(rest, &consumed), Parser::Result::kPaused);
  EXPECT_EQ(recorder.completed, 2);
  EXPECT_EQ(recorder.heads[1].target(), "/2");
}

TEST(Parser, PauseAtHeadThenResumeWithNoBytesEndsABodilessMessage) {
  Recorder recorder;
  recorder.head_result = kHeadPause;
  Parser parser(HTTP_REQUEST, recorder);
  size_t consumed = 0;
  ASSERT_EQ(parser.execute("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &consumed),
            Parser::Result::kPaused);
  EXPECT_EQ(recorder.completed, 0);
  parser.resume();
  std::string empty;
  ASSERT_EQ(parser.execute(std::string_view(empty.data(), 0), &consumed), Parser::Result::kOk);
  EXPECT_EQ(recorder.completed, 1);
}

TEST(Parser, Http10WithoutKeepAliveIsNotKeptAlive) {
  Recorder recorder;
  ASSERT_EQ(parse_request(recorder, "GET / HTTP/1.0\r\n\r\n").result, Parser::Result::kOk);
  EXPECT_TRUE(recorder.heads[0].is_http10());
  EXPECT_FALSE(recorder.heads[0].keep_alive);
  Recorder keep;
  ASSERT_EQ(parse_request(keep, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").result,
            Parser::Result::kOk);
  EXPECT_TRUE(keep.heads[0].keep_alive);
}

TEST(Parser, ContentLengthWithTransferEncodingIsRefused) {
  expect_rejected(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\n");
}

TEST(Parser, TwoContentLengthsAreRefused) {
  expect_rejected(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc");
}

TEST(Parser, BadChunkSizeIsRefused) {
  expect_rejected(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhi\r\n0\r\n\r\n");
}

TEST(Parser, ObsFoldIsRefused) {
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n");
}

TEST(Parser, ObsFoldSplitAcrossReadsIsRefused) {
  for (std::string_view first : {"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one",
                                 "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r"}) {
    Recorder recorder;
    Parser parser(HTTP_REQUEST, recorder);
    std::string_view all = "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n";
    size_t consumed = 0;
    ASSERT_EQ(parser.execute(first, &consumed), Parser::Result::kOk);
    EXPECT_EQ(parser.execute(all.substr(first.size()), &consumed), Parser::Result::kError) << first;
  }
}

TEST(Parser, ValueSplitAcrossReadsIsNotMistakenForObsFold) {
  Recorder recorder;
  Parser parser(HTTP_REQUEST, recorder);
  size_t consumed = 0;
  ASSERT_EQ(parser.execute("GET / HTTP/1.1\r\nHost: a\r\nX-Split: one", &consumed),
            Parser::Result::kOk);
  ASSERT_EQ(parser.execute(" two\r\n\r\n", &consumed), Parser::Result::kOk);
  EXPECT_EQ(recorder.heads[0].find("x-split"), "one two");
}

TEST(Parser, ObsFoldOfAnEmptyValueIsRefused) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n");
}

TEST(Parser, LineAfterTheStartLineMayNotStartWithWhitespace) {
  expect_rejected("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n");
}

// llhttp 8 takes "\r\n\r" and any byte as the end of a head: the request after it would be one
// that no other parser sees.
TEST(Parser, BareCrWhereTheHeadShouldEndIsRefused) {
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\n\rXGET /hidden HTTP/1.1\r\nHost: a\r\n\r\n");
}

TEST(Parser, BareCrInAHeadSplitAcrossReadsIsRefused) {
  Recorder recorder;
  Parser parser(HTTP_REQUEST, recorder);
  size_t consumed = 0;
  ASSERT_EQ(parser.execute("GET / HTTP/1.1\r\nHost: a\r\n\r", &consumed), Parser::Result::kOk);
  EXPECT_EQ(parser.execute("XGET /hidden HTTP/1.1\r\n\r\n", &consumed), Parser::Result::kError);
  EXPECT_EQ(parser.error_status(), 400);
}

TEST(Parser, BareCrInsideAFieldLineIsRefusedWhereverTheReadsSplitIt) {
  std::string_view all = "GET / HTTP/1.1\r\nHost: a\r\nX-Cr: one\rtwo\r\n\r\n";
  for (size_t split = 1; split < all.size(); ++split) {
    Recorder recorder;
    Parser parser(HTTP_REQUEST, recorder);
    size_t consumed = 0;
    Parser::Result first = parser.execute(all.substr(0, split), &consumed);
    Parser::Result second =
        first == Parser::Result::kOk ? parser.execute(all.substr(split), &consumed) : first;
    EXPECT_EQ(second, Parser::Result::kError) << "split at " << split;
  }
}

// Line breaks are looked for sixteen bytes at a time: after a field line of every length up to
// three blocks, the next line is still seen where it starts (an obs-fold, or a bare CR where the
// head should end, is refused), and the head whole is taken as it is.
TEST(Parser, LinesAfterLongLinesAreCheckedWhereTheyStart) {
  for (size_t length = 0; length <= 48; ++length) {
    std::string line = "X-V: " + std::string(length, 'v') + "\r\n";
    std::string head = "GET / HTTP/1.1\r\nHost: a\r\n" + line;
    for (const std::string& bad :
         {head + " folded\r\n\r\n", head + "\rXGET /hidden HTTP/1.1\r\nHost: a\r\n\r\n"}) {
      Recorder recorder;
      Parser parser(HTTP_REQUEST, recorder);
      size_t consumed = 0;
      EXPECT_EQ(parser.execute(bad, &consumed), Parser::Result::kError) << "after " << length;
    }
    Recorder recorder;
    Parser parser(HTTP_REQUEST, recorder);
    size_t consumed = 0;
    EXPECT_EQ(parser.execute(head + "X-W: w\r\n\r\n", &consumed), Parser::Result::kOk);
    ASSERT_EQ(recorder.heads.size(), 1u);
    EXPECT_EQ(recorder.heads[0].find("x-v"), std::string(length, 'v'));
    EXPECT_EQ(recorder.heads[0].find("x-w"), "w");
  }
}

// Values are checked many bytes at a time: a control character is refused at every position of
// a long value, while a tab and obs-text (bytes from 0x80) are taken anywhere.
TEST(Parser, ControlCharacterAnywhereInALongValueIsRefused) {
  std::string value(23, 'v');
  for (size_t at = 0; at < value.size(); ++at) {
    for (int byte : {0x00, 0x01, 0x08, 0x0b, 0x1f, 0x7f}) {
      std::string bad = value;
      bad[at] = static_cast<char>(byte);
      std::string bytes = "GET / HTTP/1.1\r\nHost: a\r\nX-V: " + bad + "\r\n\r\n";
      Recorder recorder;
      Parser parser(HTTP_REQUEST, recorder);
      size_t consumed = 0;
      EXPECT_EQ(parser.execute(bytes, &consumed), Parser::Result::kError)
          << "byte " << byte << " at " << at;
    }
    for (int byte : {0x09, 0x80, 0x9f, 0xa0, 0xff, 0x20, 0x7e}) {
      std::string good = value;
      good[at] = static_cast<char>(byte);
      std::string bytes = "GET / HTTP/1.1\r\nHost: a\r\nX-V: " + good + "\r\n\r\n";
      Recorder recorder;
      Parser parser(HTTP_REQUEST, recorder);
      size_t consumed = 0;
      EXPECT_EQ(parser.execute(bytes, &consumed), Parser::Result::kOk)
          << "byte " << byte << " at " << at;
    }
  }
}

TEST(Parser, BareCrInTheNextPipelinedHeadIsRefused) {
  Recorder recorder;
  recorder.complete_result = HPE_PAUSED;
  Parser parser(HTTP_REQUEST, recorder);
  std::string_view bytes = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\rX";
  size_t consumed = 0;
  ASSERT_EQ(parser.execute(bytes, &consumed), Parser::Result::kPaused);
  parser.resume();
  EXPECT_EQ(parser.execute(bytes.substr(consumed), &consumed), Parser::Result::kError);
}

TEST(Parser, BodyBytesAreNotTakenForAHead) {
  Recorder recorder;
  recorder.head_result = kHeadPause;
  Parser parser(HTTP_REQUEST, recorder);
  std::string_view bytes = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\n\r x\n y";
  size_t consumed = 0;
  ASSERT_EQ(parser.execute(bytes, &consumed), Parser::Result::kPaused);
  parser.resume();
  ASSERT_EQ(parser.execute(bytes.substr(consumed), &consumed), Parser::Result::kOk);
  EXPECT_EQ(recorder.bodies[0], "\r x\n y");
}

TEST(Parser, WhitespaceBeforeColonIsRefused) {
  expect_rejected("GET / HTTP/1.1\r\nHost : a\r\n\r\n");
}

// llhttp takes a space inside a name; a name is a token (RFC 9110 5.1), and one that is a known
// name but for a byte is checked as any other name is.
TEST(Parser, NameWithASpaceIsRefused) {
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nX Debug: 1\r\n\r\n");
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nContent Length: 5\r\n\r\nabcde");
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nTransfer Encoding: chunked\r\n\r\n0\r\n\r\n");
}

TEST(Parser, TransferEncodingNotEndingInChunkedIsRefused) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc");
}

// A coding waygate does not implement: 501 Not Implemented (RFC 9112 6.1).
TEST(Parser, TransferCodingBeforeChunkedIsRefused) {
  expect_rejected("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                  501);
  expect_rejected(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: "
      "chunked\r\n\r\n0\r\n\r\n",
      501);
}

TEST(Parser, TwoHostHeadersAreRefused) {
  expect_rejected("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
}

// Found by tests/fuzz (request_parser): llhttp reads a request line without a version as
// HTTP/0.9 and never reports its version, so the 1.0/1.1 check let it through.
TEST(Parser, RequestLineWithoutVersionGets505) {
  expect_rejected("GET /\r\nHost: a\r\n\r\n", 505);
}

// Found by tests/fuzz (request_parser): trailer fields were appended to the head after it was
// complete, moving its bytes while a session still held its target and Host as views.
TEST(Parser, TrailersLeaveTheHeadAsItWasWhenComplete) {
  Recorder recorder;
  std::string request =
      "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nWiki\r\n0\r\nX-Trailer: " +
      std::string(300, 'v') + "\r\n\r\n";
  Parser parser(HTTP_REQUEST, recorder);
  size_t consumed = 0;
  size_t head_end = request.find("\r\n\r\n") + 4;
  ASSERT_EQ(parser.execute(request.substr(0, head_end), &consumed), Parser::Result::kOk);
  std::string_view target = recorder.heads.at(0).target();
  const char* bytes_before = recorder.heads[0].bytes.data();
  ASSERT_EQ(parser.execute(std::string_view(request).substr(head_end), &consumed),
            Parser::Result::kOk);
  EXPECT_EQ(recorder.completed, 1);
  EXPECT_EQ(recorder.bodies[0], "Wiki");
  EXPECT_EQ(recorder.heads[0].bytes.data(), bytes_before);
  EXPECT_EQ(target, "/upload");
  EXPECT_FALSE(recorder.heads[0].find("x-trailer"));
}

// Found by tests/fuzz (response_parser): llhttp gives a 103 with a Content-Length a body, which
// the proxy forwarded ahead of the final response's head.
TEST(Parser, InterimResponseHasNoBodyWhateverItsLength) {
  Recorder recorder;
  Parser parser(HTTP_RESPONSE, recorder);
  std::string_view response =
      "HTTP/1.1 103 Early Hints\r\nContent-Length: 2\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  size_t consumed = 0;
  ASSERT_EQ(parser.execute(response, &consumed), Parser::Result::kOk);
  ASSERT_EQ(recorder.heads.size(), 2u);
  EXPECT_EQ(recorder.heads[0].status, 103);
  EXPECT_EQ(recorder.bodies[0], "");
  EXPECT_EQ(recorder.heads[1].status, 200);
  EXPECT_EQ(recorder.bodies[1], "ok");
}

TEST(Parser, LongTargetGets414) {
  std::string request = "GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
  Recorder recorder;
  auto outcome = parse_request(recorder, request, ParserLimits{32 * 1024, 100});
  EXPECT_EQ(outcome.result, Parser::Result::kError);
  EXPECT_EQ(outcome.status, 414);
}

TEST(Parser, LargeHeaderBlockGets431) {
  std::string request =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n";
  Recorder recorder;
  auto outcome = parse_request(recorder, request, ParserLimits{1024, 1024});
  EXPECT_EQ(outcome.result, Parser::Result::kError);
  EXPECT_EQ(outcome.status, 431);
}

TEST(Parser, ManySmallHeadersCountTowardTheLimit) {
  std::string request = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 300; ++i)
    request += "A: b\r\n";
  request += "\r\n";
  Recorder recorder;
  EXPECT_EQ(parse_request(recorder, request, ParserLimits{1024, 1024}).status, 431);
}

TEST(Parser, ResponseUntilCloseEndsAtFinish) {
  Recorder recorder;
  Parser parser(HTTP_RESPONSE, recorder);
  size_t consumed = 0;
  ASSERT_EQ(parser.execute("HTTP/1.1 200 OK\r\n\r\nsome bytes", &consumed), Parser::Result::kOk);
  EXPECT_EQ(recorder.completed, 0);
  EXPECT_EQ(parser.finish(), Parser::Result::kOk);
  EXPECT_EQ(recorder.completed, 1);
  EXPECT_EQ(recorder.bodies[0], "some bytes");
  EXPECT_EQ(recorder.heads[0].status, 200);
  EXPECT_EQ(recorder.heads[0].target(), "OK");
}

TEST(Parser, TruncatedChunkedResponseFailsAtFinish) {
  Recorder recorder;
  Parser parser(HTTP_RESPONSE, recorder);
  size_t consumed = 0;
  ASSERT_EQ(
      parser.execute("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", &consumed),
      Parser::Result::kOk);
  EXPECT_EQ(parser.finish(), Parser::Result::kError);
  EXPECT_EQ(recorder.completed, 0);
}

TEST(Parser, ResponseWithATransferCodingBesidesChunkedIsAnError) {
  for (std::string_view response :
       {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nbytes until close"}) {
    Recorder recorder;
    Parser parser(HTTP_RESPONSE, recorder);
    size_t consumed = 0;
    EXPECT_EQ(parser.execute(response, &consumed), Parser::Result::kError) << response;
  }
}

TEST(Parser, MalformedStatusLineIsAnError) {
  Recorder recorder;
  Parser parser(HTTP_RESPONSE, recorder);
  size_t consumed = 0;
  EXPECT_EQ(parser.execute("HTTP/1.1 OK\r\n\r\n", &consumed), Parser::Result::kError);
}

// ---- Plain response heads, read without llhttp (http/plain_response_head.h) ----

struct Options {
  size_t piece = 0;  // bytes per read; 0: all at once
  bool head_request = false;
  bool pause_at_head = false;
  ParserLimits limits = {64 * 1024, 8 * 1024, 100};
};

// What a response parser reported, as an upstream connection sees it: the sink's record, each
// execute() call's result and the bytes it took, and whether the close ended it well.
struct ResponseRun {
  Recorder recorder;
  std::vector<std::string> steps;
  bool finished_ok = false;
};

// Parses `bytes` as an upstream connection does, in pieces, resuming after every pause, and
// ending with the connection's close.
ResponseRun parse_response(std::string_view bytes, bool plain_heads, const Options& options) {
  ResponseRun run;
  Recorder& recorder = run.recorder;
  recorder.as_upstream = true;
  recorder.complete_result = HPE_PAUSED;
  recorder.head_request = options.head_request;
  if (options.pause_at_head) recorder.head_result = kHeadPause;
  Parser parser(HTTP_RESPONSE, recorder, options.limits);
  parser.set_plain_heads(plain_heads);
  size_t piece = options.piece == 0 ? bytes.size() : options.piece;
  while (!bytes.empty()) {
    std::string_view chunk = bytes.substr(0, piece);
    for (;;) {
      size_t consumed = 0;
      Parser::Result result = parser.execute(chunk, &consumed);
      run.steps.push_back(std::to_string(static_cast<int>(result)) + " " +
                          std::to_string(consumed));
      chunk.remove_prefix(consumed);
      bytes.remove_prefix(consumed);
      if (result == Parser::Result::kError) return run;
      if (result != Parser::Result::kPaused) break;
      parser.resume();
    }
  }
  run.finished_ok = parser.finish() == Parser::Result::kOk;
  return run;
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
  ResponseRun plain = parse_response(bytes, true, options);
  ResponseRun llhttp = parse_response(bytes, false, options);
  const Recorder& a = plain.recorder;
  const Recorder& b = llhttp.recorder;
  ASSERT_EQ(a.heads.size(), b.heads.size()) << bytes;
  ASSERT_EQ(a.heads_done, b.heads_done) << bytes;
  for (size_t i : a.heads_done) {
    EXPECT_EQ(describe(a.heads[i]), describe(b.heads[i])) << bytes;
    EXPECT_EQ(a.bodies[i], b.bodies[i]) << bytes;
  }
  EXPECT_EQ(plain.steps, llhttp.steps) << bytes;
  EXPECT_EQ(a.completed, b.completed) << bytes;
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
  Recorder recorder = parse_response(kPlain[0], true, {}).recorder;
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
  EXPECT_FALSE(parse_response(cut, true, {}).finished_ok);
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
