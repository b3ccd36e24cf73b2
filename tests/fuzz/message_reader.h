// Drives http::Parser over fuzzed bytes the way waygate's connections do: in pieces of a chosen
// size, pausing after each head and each message and resuming with an empty step (as
// ServerConnection and UpstreamConnection do), and keeps what each message delivered.
#pragma once

#include <llhttp.h>

#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "http/parser.h"
#include "http/serialize.h"

namespace waygate::fuzz {

struct ParsedMessage {
  http::MessageHead head;
  std::vector<std::string> body_pieces;  // as on_body delivered them
  bool head_done = false;                // the parser let the whole head through
  bool complete = false;
  bool interim = false;  // a 1xx response that is not the final one
  // A view into the head taken when it was complete, as a session keeps its target and Host
  // while the body streams, and what it read then.
  std::string_view target_view;
  std::string target_at_head;
  // The last chunk as waygate forwards it: with the trailer fields it passes on.
  std::string last_chunk;

  std::string body() const {
    std::string all;
    for (const std::string& piece : body_pieces)
      all += piece;
    return all;
  }
};

// The body as waygate forwards a chunked one: every piece it is handed becomes one chunk, and
// the end of the message the last chunk, with its trailers (DownstreamSession's on_request_body
// and on_request_complete, on_upstream_body and on_upstream_complete).
inline std::string reframe_chunked(const std::vector<std::string>& pieces, bool complete,
                                   std::string_view last_chunk = http::kLastChunk) {
  std::string out;
  for (const std::string& piece : pieces) {
    http::append_chunk_header(out, piece.size());
    out.append(piece).append(http::kChunkEnd);
  }
  if (complete) out.append(last_chunk);
  return out;
}

class MessageReader final : private http::ParserSink {
 public:
  enum class End : uint8_t {
    kConsumed,  // every byte was parsed
    kError,     // the parser refused the input (parser().error_status() says how)
    kUpgrade,   // a message switched protocols: the rest is a tunnel's
    kStopped,   // an upstream reader stopped after the final response
  };

  // A request reader reads pipelined requests one after the other; a response reader reads 1xx
  // interim responses and stops after the final one, as an upstream connection does.
  // `plain_heads`: whether the parser may read plain response heads without llhttp.
  MessageReader(llhttp_type_t type, http::ParserLimits limits, bool response_to_head = false,
                bool plain_heads = true)
      : type_(type), response_to_head_(response_to_head), parser_(type, *this, limits) {
    parser_.set_plain_heads(plain_heads);
  }

  End read(std::string_view input, size_t piece_size) {
    if (piece_size == 0) piece_size = input.size();
    while (!input.empty()) {
      std::string_view piece = input.substr(0, piece_size);
      size_t used = 0;
      End end = feed(piece, &used);
      consumed_ += used;
      input.remove_prefix(used);
      if (end != End::kConsumed) return end;
    }
    return End::kConsumed;
  }

  // The connection closed: completes a message framed by the close, if it is one.
  bool finish() { return parser_.finish() == http::Parser::Result::kOk; }

  const http::Parser& parser() const { return parser_; }
  size_t consumed() const { return consumed_; }
  std::deque<ParsedMessage> messages;  // a deque: heads never move while parsed

 private:
  // One piece, with as many empty steps as pauses need; *used says how much of it was parsed.
  End feed(std::string_view piece, size_t* used) {
    *used = 0;
    bool step = true;
    while (step) {
      size_t consumed = 0;
      http::Parser::Result result = parser_.execute(piece.substr(*used), &consumed);
      *used += consumed;
      switch (result) {
        case http::Parser::Result::kOk:
          return End::kConsumed;
        case http::Parser::Result::kError:
          return End::kError;
        case http::Parser::Result::kUpgrade:
          return End::kUpgrade;
        case http::Parser::Result::kPaused:
          if (stopped_) return End::kStopped;
          parser_.resume();
          step = true;  // a bodiless message ends without another byte
          break;
      }
    }
    return End::kConsumed;
  }

  http::MessageHead& on_message_begin() override {
    messages.emplace_back();
    return messages.back().head;
  }

  int on_headers_complete(http::MessageHead& head) override {
    ParsedMessage& message = messages.back();
    message.head_done = true;
    message.target_view = head.target();
    message.target_at_head = head.target();
    if (type_ == HTTP_REQUEST) return http::kHeadPause;
    message.interim = head.status >= 100 && head.status < 200 && head.status != 101;
    if (message.interim) return http::kHeadContinue;
    bool no_body = response_to_head_ || head.status == 204 || head.status == 304;
    return no_body ? http::kHeadSkipBody : http::kHeadContinue;
  }

  int on_body(std::string_view bytes) override {
    messages.back().body_pieces.emplace_back(bytes);
    return 0;
  }

  int on_message_complete() override {
    ParsedMessage& message = messages.back();
    message.complete = true;
    // Under ASan a head whose bytes moved after it was complete fails here, reading freed memory.
    FUZZ_CHECK(message.target_view == message.target_at_head);
    http::append_last_chunk(message.last_chunk, parser_.trailers());
    if (type_ == HTTP_REQUEST) return HPE_PAUSED;
    if (message.interim) return 0;
    stopped_ = !message.head.upgrade;
    return message.head.upgrade ? 0 : HPE_PAUSED;
  }

  llhttp_type_t type_;
  bool response_to_head_;
  bool stopped_ = false;
  size_t consumed_ = 0;
  http::Parser parser_;
};

}  // namespace waygate::fuzz
