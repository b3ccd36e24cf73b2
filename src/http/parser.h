// Strict HTTP/1.1 parsing on llhttp (no lenient flags), collecting the head into a MessageHead and
// handing body bytes to a sink as they arrive. Limits on the request target and the head size are
// enforced while parsing, so an oversized head is refused before it is buffered.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <string_view>

#include "http/message_head.h"

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

  // The status a client should get for the last kError: 400, 413, 414, 431 or 505.
  uint16_t error_status() const { return error_status_; }
  const char* error_reason() const;
  // True while a message is partly parsed (between its first byte and its end).
  bool in_message() const { return in_message_; }
  bool head_complete() const { return head_complete_; }
  // The trailer fields after the last message's chunked body (none for any other body). Valid
  // until the next message's head is complete.
  const MessageHead& trailers() const { return trailers_; }

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

  int append_head_bytes(const char* at, size_t length);
  int reject(uint16_t status, const char* reason);
  const char* scan_head(std::string_view bytes, size_t* bad_at);

  llhttp_t parser_;
  ParserSink& sink_;
  MessageHead* head_ = nullptr;  // the sink's head, then trailers_ once the head is complete
  MessageHead trailers_;
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
};

}  // namespace waygate::http
