// The common upstream response head, read without llhttp: "HTTP/1.x NNN reason", a few fields,
// Content-Length framing, all of it in one read. llhttp reads a head at about 14 instructions a
// byte with a callback per piece; for the ~150-byte heads most upstreams send, this is most of
// what proxying a response costs in user space.
//
// It takes only what llhttp (strict, as Parser runs it) takes the same way, and gives up on
// anything else, which Parser then hands to llhttp as before: a 1xx, 204 or 304 status, no or a
// repeated Content-Length, Transfer-Encoding, Upgrade, Proxy-Connection, a Connection field other
// than "close" or "keep-alive", a byte outside visible ASCII (tabs and spaces aside), a line not
// ended by CRLF, whitespace before a colon, more fields than it has room for, a head over the
// limits, or a head not whole in the bytes given. So whatever it reads, llhttp would have read
// into the same MessageHead (the response_parser fuzz target compares the two).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/header_names.h"

namespace waygate::http {

struct PlainResponseHead {
  // Where a field lies in the bytes read, counted from the head's first byte. No initialisers:
  // the array of them is left as it is until read into (a head is read per response).
  struct Field {
    uint32_t name_offset;
    uint32_t name_length;
    uint32_t value_offset;    // as llhttp hands a value over: leading whitespace skipped...
    uint32_t value_length;    // ... and trailing whitespace kept
    uint32_t trimmed_length;  // the value without its trailing whitespace (RFC 9110 5.5)
    HeaderId id;
  };
  static constexpr size_t kMaxFields = 32;

  size_t length = 0;  // the head's bytes, through the empty line
  uint16_t status = 0;
  uint8_t version_minor = 1;
  std::string_view reason;
  std::array<Field, kMaxFields> fields;
  size_t field_count = 0;
  size_t text_bytes = 0;  // the reason's, the names' and the values' (as MessageHead keeps them)
  uint64_t content_length = 0;
  bool connection_close = false;
  bool connection_keep_alive = false;
};

// Reads the head at the start of `bytes` into *head. False when it is not such a head (or not a
// whole one): nothing is decided, and llhttp reads it. `max_head_bytes` and `max_fields` are the
// parser's limits, counted as Parser counts them.
bool read_plain_response_head(std::string_view bytes, uint32_t max_head_bytes, uint32_t max_fields,
                              PlainResponseHead* head);

}  // namespace waygate::http
