#include "http/parser.h"

#include <algorithm>
#include <bit>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "http/field_syntax.h"
#include "http/header_names.h"

namespace waygate::http {
namespace {

Parser& self(llhttp_t* p) {
  return *static_cast<Parser*>(p->data);
}

// A request target is visible ASCII (RFC 9112 3.2); llhttp also lets through bytes above 0x7E
// and, in some states, a tab.
bool is_target_text(const char* at, size_t length) {
  for (size_t i = 0; i < length; ++i) {
    auto byte = static_cast<unsigned char>(at[i]);
    if (byte <= 0x20 || byte >= 0x7f) return false;
  }
  return true;
}

// Whether chunked is the only coding the Transfer-Encoding fields list: waygate re-frames a body
// with chunked alone, so another coding ("gzip, chunked") would be lost on the way upstream.
bool codings_are_chunked_only(const MessageHead& head) {
  for (const HeaderField& field : head.fields) {
    if (field.id != HeaderId::kTransferEncoding) continue;
    std::string_view list = head.value(field);
    while (true) {
      size_t comma = list.find(',');
      if (!equals_ignore_case(trim_whitespace(list.substr(0, comma)), "chunked")) return false;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return true;
}

}  // namespace

Parser::Parser(llhttp_type_t type, ParserSink& sink, ParserLimits limits)
    : sink_(sink), limits_(limits) {
  llhttp_init(&parser_, type, &settings());
  parser_.data = this;
}

const llhttp_settings_t& Parser::settings() {
  static const llhttp_settings_t kSettings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = &Parser::on_message_begin;
    s.on_url = &Parser::on_url;
    s.on_status = &Parser::on_status;
    s.on_version_complete = &Parser::on_version_complete;
    s.on_header_field = &Parser::on_header_field;
    s.on_header_field_complete = &Parser::on_header_field_complete;
    s.on_header_value = &Parser::on_header_value;
    s.on_header_value_complete = &Parser::on_header_value_complete;
    s.on_headers_complete = &Parser::on_headers_complete;
    s.on_body = &Parser::on_body;
    s.on_message_complete = &Parser::on_message_complete;
    return s;
  }();
  return kSettings;
}

Parser::Result Parser::execute(std::string_view bytes, size_t* consumed) {
  if (plain_closed_) return read_after_close(bytes, consumed);
  size_t plain = 0;
  if (plain_message_ || at_plain_start()) {
    if (std::optional<Result> result = read_plain(bytes, &plain)) {
      *consumed = plain;
      return *result;
    }
  }
  Result result = execute_llhttp(bytes.substr(plain), consumed);
  *consumed += plain;
  return result;
}

std::optional<Parser::Result> Parser::read_plain(std::string_view bytes, size_t* taken) {
  for (;;) {
    if (!plain_message_) {
      PlainResponseHead plain;
      std::string_view rest = bytes.substr(*taken);
      if (rest.empty() || !at_plain_start() ||
          !read_plain_response_head(rest, limits_.max_header_bytes, limits_.max_headers, &plain)) {
        return std::nullopt;
      }
      *taken += plain.length;
      int result = deliver_plain_head(plain, rest.data());
      // As llhttp answers on_headers_complete: a pause stops after the head (the body follows
      // the resume), and anything but these is an error.
      if (result == kHeadPause) return Result::kPaused;
      if (result != kHeadContinue && result != kHeadSkipBody) return Result::kError;
    }
    std::string_view rest = bytes.substr(*taken);
    size_t length = static_cast<size_t>(std::min<uint64_t>(rest.size(), plain_body_left_));
    if (length > 0) {
      plain_body_left_ -= length;
      *taken += length;
      int result = sink_.on_body(rest.substr(0, length));
      if (result == HPE_PAUSED) return Result::kPaused;
      if (result != 0) return Result::kError;
    }
    if (plain_body_left_ > 0) return Result::kOk;  // every byte was body
    plain_message_ = false;
    plain_closed_ = !plain_keep_alive_;
    int result = end_message();
    if (result == HPE_PAUSED) return Result::kPaused;
    if (result != 0) return Result::kError;
    if (*taken == bytes.size()) return Result::kOk;
    if (plain_closed_) {
      size_t after = 0;
      Result closed = read_after_close(bytes.substr(*taken), &after);
      *taken += after;
      return closed;
    }
  }
}

Parser::Result Parser::read_after_close(std::string_view bytes, size_t* consumed) {
  // As llhttp (built without LLHTTP_STRICT_MODE) after such a message: whatever follows is taken
  // and dropped. A connection reading on stops at the message's end, and sees those bytes.
  *consumed = bytes.size();
  return Result::kOk;
}

int Parser::deliver_plain_head(const PlainResponseHead& plain, const char* text) {
  begin_message();
  MessageHead& head = *head_;
  // The same bytes and fields llhttp's callbacks would have left: the reason phrase, then each
  // name and value, with a value's trailing whitespace kept in the bytes but not in its length.
  // Room for all of it at once (bytes and fields kept from earlier heads are reused), then each
  // piece copied to its place.
  head.bytes.resize(plain.text_bytes);
  head.fields.resize(plain.field_count);
  char* out = head.bytes.data();
  std::memcpy(out, plain.reason.data(), plain.reason.size());
  head.target_offset = 0;
  head.target_length = static_cast<uint32_t>(plain.reason.size());
  auto offset = static_cast<uint32_t>(plain.reason.size());
  for (size_t i = 0; i < plain.field_count; ++i) {
    const PlainResponseHead::Field& field = plain.fields[i];
    std::memcpy(out + offset, text + field.name_offset, field.name_length);
    std::memcpy(out + offset + field.name_length, text + field.value_offset, field.value_length);
    head.fields[i] = HeaderField{offset, field.name_length, offset + field.name_length,
                                 field.trimmed_length, field.id};
    offset += field.name_length + field.value_length;
  }
  head_bytes_ = static_cast<uint32_t>(plain.text_bytes + 4 * plain.field_count);
  head.method = parser_.method;
  head.status = plain.status;
  head.version_major = 1;
  head.version_minor = plain.version_minor;
  head.chunked = head.upgrade = head.transfer_encoding = false;
  head.has_content_length = true;
  head.content_length = plain.content_length;
  // llhttp_should_keep_alive for a response framed by its length.
  head.keep_alive =
      plain.version_minor == 1 ? !plain.connection_close : plain.connection_keep_alive;
  plain_keep_alive_ = head.keep_alive;
  head_complete_ = true;
  int result = sink_.on_headers_complete(head);
  end_head();
  plain_message_ = true;
  plain_body_left_ = result == kHeadSkipBody ? 0 : plain.content_length;
  return result;
}

Parser::Result Parser::execute_llhttp(std::string_view bytes, size_t* consumed) {
  // The head's bytes before a malformed one are parsed first, so the refusal has a method and
  // target to log.
  size_t bad_at = 0;
  const char* bad = head_scan_.active ? scan_head(bytes, &bad_at) : nullptr;
  if (bad) bytes = bytes.substr(0, bad_at);
  if (value_at_input_end_ && !bytes.empty() && (bytes[0] == '\r' || bytes[0] == '\n')) {
    value_hit_line_end_ = true;
  }
  value_at_input_end_ = false;
  input_end_ = bytes.data() + bytes.size();
  llhttp_errno_t err = llhttp_execute(&parser_, bytes.data(), bytes.size());
  if (err == HPE_OK) {
    *consumed = bytes.size();
    if (!bad) return Result::kOk;
    error_status_ = 400;
    reject_reason_ = bad;
    return Result::kError;
  }
  const char* stop = llhttp_get_error_pos(&parser_);
  *consumed = stop ? static_cast<size_t>(stop - bytes.data()) : bytes.size();
  switch (err) {
    case HPE_PAUSED:
      return Result::kPaused;
    case HPE_PAUSED_UPGRADE:
      return Result::kUpgrade;
    default:
      return Result::kError;
  }
}

Parser::Result Parser::finish() {
  if (plain_message_) return Result::kError;  // the connection closed before the body's end
  // A sink that pauses in on_message_complete makes llhttp_finish report the pause: still a
  // success.
  llhttp_errno_t err = llhttp_finish(&parser_);
  return err == HPE_OK || err == HPE_PAUSED ? Result::kOk : Result::kError;
}

namespace {

// The first CR or LF in [from, end), or end: sixteen bytes at a time where SSE2 is there (every
// x86-64), where a loop would look at each byte and memchr finds one of the two only.
const char* line_break(const char* from, const char* end) {
#if defined(__SSE2__)
  const __m128i cr = _mm_set1_epi8('\r');
  const __m128i lf = _mm_set1_epi8('\n');
  for (; end - from >= 16; from += 16) {
    __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(from));
    auto found = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(block, cr), _mm_cmpeq_epi8(block, lf))));
    if (found != 0) return from + std::countr_zero(found);
  }
#endif
  for (; from < end; ++from) {
    if (*from == '\r' || *from == '\n') return from;
  }
  return end;
}

}  // namespace

// Returns why the head is malformed, with *bad_at on the offending byte; null when it is not (so
// far: the head may go on in the next bytes). Only a line's first byte and its line break can be
// malformed here; the bytes between are skipped whole, and a CRLF after text in one step.
const char* Parser::scan_head(std::string_view bytes, size_t* bad_at) {
  HeadScan& scan = head_scan_;
  const char* begin = bytes.data();
  const char* end = begin + bytes.size();
  for (const char* at = begin; at < end;) {
    char c = *at;
    *bad_at = static_cast<size_t>(at - begin);
    if (scan.after_cr && c != '\n') return "bare CR in a request or response head";
    scan.after_cr = c == '\r';
    if (c == '\r') {
      ++at;
      continue;
    }
    if (c == '\n') {
      if (scan.started && !scan.line_has_text) {
        scan.active = false;  // the empty line: the body, if any, is not scanned
        return nullptr;
      }
      scan.line_has_text = false;
      ++at;
      continue;
    }
    if (scan.started && !scan.line_has_text && (c == ' ' || c == '\t')) {
      return "obs-fold in a header value";
    }
    scan.started = scan.line_has_text = true;
    at = line_break(at + 1, end);
    if (end - at >= 2 && at[0] == '\r' && at[1] == '\n') {
      scan.line_has_text = false;  // the usual end of a line with text: the next one starts
      at += 2;
    }
  }
  return nullptr;
}

const char* Parser::error_reason() const {
  if (reject_reason_) return reject_reason_;
  const char* reason = llhttp_get_error_reason(&parser_);
  return reason ? reason : llhttp_errno_name(llhttp_get_errno(&parser_));
}

int Parser::reject(uint16_t status, const char* reason) {
  error_status_ = status;
  reject_reason_ = reason;
  return -1;
}

int Parser::append_head_bytes(const char* at, size_t length) {
  head_bytes_ += static_cast<uint32_t>(length);
  if (head_bytes_ > limits_.max_header_bytes) {
    return reject(431, "request header block too large");
  }
  head_->bytes.append(at, length);
  return 0;
}

int Parser::on_message_begin(llhttp_t* p) {
  self(p).begin_message();
  return 0;
}

void Parser::end_head() {
  if (trailers_) trailers_->clear();
  head_ = nullptr;
}

MessageHead& Parser::trailers_head() {
  if (!trailers_) trailers_ = std::make_unique<MessageHead>();
  return *trailers_;
}

const MessageHead& Parser::trailers() const {
  static const MessageHead kNone;
  return trailers_ ? *trailers_ : kNone;
}

void Parser::begin_message() {
  head_ = &sink_.on_message_begin();
  head_->clear();
  head_bytes_ = 0;
  field_done_ = true;
  in_message_ = true;
  head_complete_ = false;
  reject_reason_ = nullptr;
  error_status_ = 400;
}

int Parser::on_url(llhttp_t* p, const char* at, size_t length) {
  Parser& parser = self(p);
  MessageHead& head = *parser.head_;
  if (head.target_length + length > parser.limits_.max_target_bytes) {
    return parser.reject(414, "request target too long");
  }
  if (!is_target_text(at, length)) {
    return parser.reject(400, "request target has a byte that is not visible ASCII");
  }
  if (head.target_length == 0) head.target_offset = static_cast<uint32_t>(head.bytes.size());
  head.target_length += static_cast<uint32_t>(length);
  return parser.append_head_bytes(at, length);
}

int Parser::on_status(llhttp_t* p, const char* at, size_t length) {
  Parser& parser = self(p);
  MessageHead& head = *parser.head_;
  if (head.target_length == 0) head.target_offset = static_cast<uint32_t>(head.bytes.size());
  head.target_length += static_cast<uint32_t>(length);
  return parser.append_head_bytes(at, length);
}

int Parser::on_version_complete(llhttp_t* p) {
  Parser& parser = self(p);
  // HTTP/2 has its own codec, never this one; 0.9 and other versions are not HTTP/1 messages.
  if (p->http_major == 1 && (p->http_minor == 0 || p->http_minor == 1)) return 0;
  return parser.reject(505, "HTTP version is not 1.0 or 1.1");
}

int Parser::on_header_field(llhttp_t* p, const char* at, size_t length) {
  Parser& parser = self(p);
  if (!parser.head_) parser.head_ = &parser.trailers_head();  // the first trailer field
  MessageHead& head = *parser.head_;
  if (parser.field_done_) {
    if (head.fields.size() >= parser.limits_.max_headers) {
      return parser.reject(431, "too many header fields");
    }
    uint32_t offset = static_cast<uint32_t>(head.bytes.size());
    head.fields.push_back(HeaderField{offset, 0, offset, 0, HeaderId::kOther});
    parser.field_done_ = false;
  }
  HeaderField& field = head.fields.back();
  field.name_length += static_cast<uint32_t>(length);
  field.value_offset = field.name_offset + field.name_length;
  // Each field also costs its ": " and CRLF on the wire; count them toward the limit.
  if (field.name_length == length) parser.head_bytes_ += 4;
  return parser.append_head_bytes(at, length);
}

int Parser::on_header_field_complete(llhttp_t* p) {
  Parser& parser = self(p);
  HeaderField& field = parser.head_->fields.back();
  std::string_view name = parser.head_->name(field);
  if (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
    return parser.reject(400, "whitespace before a header colon");
  }
  field.id = classify_header(name);
  if (field.id == HeaderId::kOther && !is_token(name)) {
    return parser.reject(400, "header name is not a token");
  }
  return 0;
}

int Parser::on_header_value(llhttp_t* p, const char* at, size_t length) {
  Parser& parser = self(p);
  if (length == 0) return 0;
  if (parser.value_hit_line_end_) return parser.reject(400, "obs-fold in a header value");
  if (!is_field_value(std::string_view(at, length))) {
    return parser.reject(400, "control character in a header value");
  }
  const char* end = at + length;
  parser.value_hit_line_end_ = end < parser.input_end_ && (*end == '\r' || *end == '\n');
  parser.value_at_input_end_ = end == parser.input_end_;
  HeaderField& field = parser.head_->fields.back();
  field.value_length += static_cast<uint32_t>(length);
  return parser.append_head_bytes(at, length);
}

int Parser::on_header_value_complete(llhttp_t* p) {
  Parser& parser = self(p);
  parser.field_done_ = true;
  parser.value_hit_line_end_ = parser.value_at_input_end_ = false;
  HeaderField& field = parser.head_->fields.back();
  // Trailing whitespace is not part of a field value (RFC 9110 5.5); llhttp leaves it in.
  while (field.value_length > 0) {
    char last = parser.head_->bytes[field.value_offset + field.value_length - 1];
    if (last != ' ' && last != '\t') break;
    --field.value_length;
  }
  return 0;
}

int Parser::on_headers_complete(llhttp_t* p) {
  Parser& parser = self(p);
  MessageHead& head = *parser.head_;
  head.method = p->method;
  head.status = p->status_code;
  head.version_major = p->http_major;
  head.version_minor = p->http_minor;
  head.chunked = (p->flags & F_CHUNKED) != 0;
  head.has_content_length = (p->flags & F_CONTENT_LENGTH) != 0;
  head.content_length = head.has_content_length ? p->content_length : 0;
  head.upgrade = p->upgrade != 0;
  head.transfer_encoding = (p->flags & F_TRANSFER_ENCODING) != 0;
  head.keep_alive = llhttp_should_keep_alive(p) != 0;
  // An HTTP/1.0 message with Transfer-Encoding cannot be trusted to end where it seems to: answer
  // it, then close (RFC 9112 6.1).
  if (head.transfer_encoding && head.is_http10()) head.keep_alive = false;
  parser.head_complete_ = true;
  if (p->type == HTTP_REQUEST) {
    // A request line without a version ("GET /") is HTTP/0.9 to llhttp, and on_version_complete
    // never sees it.
    if (p->http_major != 1) return parser.reject(505, "HTTP version is not 1.0 or 1.1");
    // llhttp checks framing only after this callback returns; a sink that pauses here to start
    // forwarding must not see a request whose length is ambiguous (RFC 9112 6.1, 6.3).
    if ((p->flags & F_TRANSFER_ENCODING) && (p->flags & F_CONTENT_LENGTH)) {
      return parser.reject(400, "Content-Length with Transfer-Encoding");
    }
    if ((p->flags & F_TRANSFER_ENCODING) && !(p->flags & F_CHUNKED)) {
      return parser.reject(400, "Transfer-Encoding does not end in chunked");
    }
    if (head.count(HeaderId::kHost) > 1) return parser.reject(400, "more than one Host header");
  }
  // In a response too: forwarded as chunked alone, a gzip-coded body would reach the client as
  // if it were plain. A request with a coding waygate does not implement is answered 501 (RFC
  // 9112 6.1); a response, like every malformed one, becomes a 502.
  if (!codings_are_chunked_only(head)) {
    return parser.reject(p->type == HTTP_REQUEST ? 501 : 400,
                         "a transfer coding other than chunked");
  }
  int result = parser.sink_.on_headers_complete(head);
  // A 1xx response ends with its head (RFC 9110 15.2), whatever length it claims; llhttp knows
  // that only of 100 and 101. Read as a body, a 103's bytes would reach the client ahead of the
  // final response's head.
  if (p->type == HTTP_RESPONSE && head.status >= 100 && head.status < 200 && head.status != 101 &&
      result == kHeadContinue) {
    result = kHeadSkipBody;
  }
  // Trailer fields (after a chunked body) are checked and counted like header fields, but kept
  // apart (trailers()): appending them to the head would move its bytes while the sink still reads
  // the target and Host it took from them.
  parser.end_head();
  return result;
}

int Parser::on_body(llhttp_t* p, const char* at, size_t length) {
  return self(p).sink_.on_body(std::string_view(at, length));
}

int Parser::on_message_complete(llhttp_t* p) {
  return self(p).end_message();
}

int Parser::end_message() {
  in_message_ = false;
  int result = sink_.on_message_complete();
  // Paused here, the next execute() call starts at the next message's first byte.
  head_scan_ = HeadScan{};
  head_scan_.active = result == HPE_PAUSED;
  return result;
}

}  // namespace waygate::http
