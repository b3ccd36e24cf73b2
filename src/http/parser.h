// Strict HTTP/1.1 parsing on llhttp (no lenient flags), collecting the head into a MessageHead and
// handing body bytes to a sink as they arrive. Limits on the request target and the head size are
// enforced while parsing, so an oversized head is refused before it is buffered.
// A response parser reads the common response (a plain head whole in one read, framed by its
// Content-Length) without llhttp, into the same MessageHead and with the same events
// (http/plain_response_head.h says which); every other message goes through llhttp.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "http/message_head.h"
#include "http/plain_response_head.h"

namespace waygate::http {

// Return values for ParserSink::on_headers_complete.
inline constexpr int kHeadContinue = 0;
inline constexpr int kHeadSkipBody = 1;  // a response to HEAD, say
inline constexpr int kHeadPause = HPE_PAUSED;

class ParserSink {
 public:
  // A new message starts: the sink names the head to fill.
  virtual MessageHead& on_message_begin() = 0;
  // Returns kHeadContinue, kHeadSkipBody or kHeadPause.
  virtual int on_headers_complete(MessageHead& head) = 0;
  // Returns 0, or -1 to stop parsing (the sink then knows why).
  virtual int on_body(std::string_view bytes) = 0;
  // Returns 0, or HPE_PAUSED to stop before the next message.
  virtual int on_message_complete() = 0;

 protected:
  ~ParserSink() = default;
};

struct ParserLimits {
  uint32_t max_header_bytes = 32 * 1024;
  uint32_t max_target_bytes = 8 * 1024;
  uint32_t max_headers = 100;  // header fields in one head; more is 431
};

class Parser {
 public:
  enum class Result {
    kOk,       // every byte consumed
    kPaused,   // a sink callback paused; call resume() then execute the rest
    kUpgrade,  // the message switched protocols; the rest of the bytes belong to the tunnel
    kError,    // malformed: error_status() and error_reason() say why
  };

  Parser(llhttp_type_t type, ParserSink& sink, ParserLimits limits = {});
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  // Parses bytes; *consumed tells how many were taken (all of them for kOk).
  Result execute(std::string_view bytes, size_t* consumed);
  // Signals end of input: completes an EOF-delimited response. Returns kOk or kError.
  Result finish();
  // Continues after kPaused, or after kUpgrade when the protocol did not switch after all.
  void resume() {
    llhttp_resume(&parser_);
    llhttp_resume_after_upgrade(&parser_);
  }

  // Limits for the next message (they follow config reloads).
  void set_limits(const ParserLimits& limits) { limits_ = limits; }
  // Whether a response parser reads plain heads itself (read_plain_response_head), which it does
  // unless told not to: the fuzz targets compare it with llhttp reading every head.
  void set_plain_heads(bool on) { plain_heads_ = on; }

  // The status a client should get for the last kError: 400, 413, 414, 431 or 505.
  uint16_t error_status() const { return error_status_; }
  const char* error_reason() const;
  // True while a message is partly parsed (between its first byte and its end).
  bool in_message() const { return in_message_; }
  bool head_complete() const { return head_complete_; }
  // The trailer fields after the last message's chunked body (none for any other body). Valid
  // until the next message's head is complete.
  const MessageHead& trailers() const;

 private:
  static int on_message_begin(llhttp_t* p);
  static int on_url(llhttp_t* p, const char* at, size_t length);
  static int on_status(llhttp_t* p, const char* at, size_t length);
  static int on_version_complete(llhttp_t* p);
  static int on_header_field(llhttp_t* p, const char* at, size_t length);
  static int on_header_field_complete(llhttp_t* p);
  static int on_header_value(llhttp_t* p, const char* at, size_t length);
  static int on_header_value_complete(llhttp_t* p);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, size_t length);
  static int on_message_complete(llhttp_t* p);
  static const llhttp_settings_t& settings();

  Result execute_llhttp(std::string_view bytes, size_t* consumed);
  Result read_after_close(std::string_view bytes, size_t* consumed);
  // Reads plain responses and their bodies from the start of `bytes`, adding what it read to
  // *taken; nullopt when llhttp goes on from there (a head that is not plain, or no more bytes).
  std::optional<Result> read_plain(std::string_view bytes, size_t* taken);
  bool at_plain_start() const {
    return plain_heads_ && parser_.type == HTTP_RESPONSE && !in_message_ && !plain_closed_ &&
           head_scan_.active && !head_scan_.started;
  }
  // Hands a plain head read from `text` to the sink as llhttp's callbacks would have; returns the
  // sink's answer.
  int deliver_plain_head(const PlainResponseHead& plain, const char* text);
  // What a message's start and end do, whoever read it.
  void begin_message();
  // The head is complete: what follows it are trailer fields, in trailers_head().
  void end_head();
  MessageHead& trailers_head();
  int end_message();
  int append_head_bytes(const char* at, size_t length);
  int reject(uint16_t status, const char* reason);
  const char* scan_head(std::string_view bytes, size_t* bad_at);

  llhttp_t parser_;
  ParserSink& sink_;
  // The sink's head; once the head is complete, null until a trailer field comes, then trailers_.
  MessageHead* head_ = nullptr;
  // Made for the first message with trailer fields and kept: few messages have any, and every
  // connection has a parser.
  std::unique_ptr<MessageHead> trailers_;
  ParserLimits limits_;
  const char* reject_reason_ = nullptr;
  uint32_t head_bytes_ = 0;
  uint16_t error_status_ = 400;
  bool field_done_ = false;  // the last field's value is complete: the next name starts a field
  // llhttp 8 accepts obs-fold and whitespace before the colon; these catch both. A value span
  // that stopped at a line end and is then continued is a folded line.
  const char* input_end_ = nullptr;
  bool value_hit_line_end_ = false;
  bool value_at_input_end_ = false;
  bool in_message_ = false;
  bool head_complete_ = false;
  // llhttp 8 ends a head at "\r\n\r" followed by any byte, and folds a field with an empty value
  // onto a next line that starts with whitespace unseen. So the raw bytes of each head are
  // scanned before llhttp takes them: a CR not followed by LF, or a field line that starts with
  // whitespace, is refused. A head is scanned only when it starts an execute() call, which it
  // does when the sink pauses at every message end (as the proxy does).
  struct HeadScan {
    bool active = true;    // the bytes to come start a head, or the empty lines before one
    bool started = false;  // the start line has begun
    bool line_has_text = false;
    bool after_cr = false;
  };
  HeadScan head_scan_;
  // A plain response is being read: its body's bytes still to come (Content-Length framing).
  bool plain_message_ = false;
  bool plain_heads_ = true;
  bool plain_keep_alive_ = false;
  // A plain response that closes its connection was read: as llhttp does after one, no other
  // message may follow.
  bool plain_closed_ = false;
  uint64_t plain_body_left_ = 0;
};

}  // namespace waygate::http
