#include "http/plain_response_head.h"

#include <cstring>

#include "http/field_syntax.h"
#include "http/line_break.h"

namespace waygate::http {
namespace {

bool is_plain_byte(char c) {
  auto byte = static_cast<unsigned char>(c);
  return (byte >= 0x20 && byte < 0x7f) || byte == '\t';
}

// Visible ASCII, spaces and tabs only: what llhttp takes in a reason phrase or a field value
// whatever its mode. Eight bytes a step while none is below 0x20 or at or above 0x7f (SWAR, as
// is_field_value does), then byte by byte through a word that holds one, where a tab is fine.
bool is_plain_text(std::string_view text) {
  constexpr uint64_t kOnes = 0x0101010101010101;
  constexpr uint64_t kTopBits = 0x8080808080808080;
  const char* at = text.data();
  const char* end = at + text.size();
  for (; end - at >= 8; at += 8) {
    uint64_t word;
    std::memcpy(&word, at, 8);
    uint64_t del = word ^ (kOnes * 0x7f);
    uint64_t odd = ((word - kOnes * 0x20) & ~word) | ((del - kOnes) & ~del) | word;
    if ((odd & kTopBits) == 0) continue;
    for (int i = 0; i < 8; ++i) {
      if (!is_plain_byte(at[i])) return false;
    }
  }
  for (; at < end; ++at) {
    if (!is_plain_byte(*at)) return false;
  }
  return true;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A Content-Length value of digits alone, short enough not to overflow.
bool read_length(std::string_view value, uint64_t* length) {
  if (value.empty() || value.size() > 18) return false;
  uint64_t n = 0;
  for (char c : value) {
    if (!is_digit(c)) return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *length = n;
  return true;
}

// The line that starts at `from` ends in CRLF: returns its CR, or null when it ends otherwise or
// not within the bytes.
const char* line_end(const char* from, const char* end) {
  const char* at = line_break(from, end);
  if (end - at < 2 || at[0] != '\r' || at[1] != '\n') return nullptr;
  return at;
}

}  // namespace

bool read_plain_response_head(std::string_view bytes, uint32_t max_head_bytes, uint32_t max_fields,
                              PlainResponseHead* head) {
  const char* begin = bytes.data();
  const char* end = begin + bytes.size();
  // "HTTP/1.1 200 OK\r\n": the version, a final status with a body, a reason phrase.
  constexpr std::string_view kVersion = "HTTP/1.";
  if (bytes.size() < 17 || bytes.substr(0, kVersion.size()) != kVersion) return false;
  char minor = bytes[7];
  if ((minor != '0' && minor != '1') || bytes[8] != ' ' || bytes[12] != ' ') return false;
  if (!is_digit(bytes[9]) || !is_digit(bytes[10]) || !is_digit(bytes[11])) return false;
  int status = (bytes[9] - '0') * 100 + (bytes[10] - '0') * 10 + (bytes[11] - '0');
  if (status < 200 || status > 599 || status == 204 || status == 304) return false;
  const char* reason_end = line_end(begin + 13, end);
  if (!reason_end || reason_end == begin + 13) return false;
  head->reason = std::string_view(begin + 13, static_cast<size_t>(reason_end - (begin + 13)));
  if (!is_plain_text(head->reason)) return false;
  head->status = static_cast<uint16_t>(status);
  head->version_minor = static_cast<uint8_t>(minor - '0');
  head->content_length = 0;
  head->connection_close = head->connection_keep_alive = false;

  // Counted as Parser counts a head against its limit: the reason, and each field's name and
  // value with 4 bytes for its colon, space and CRLF.
  uint64_t head_bytes = head->reason.size();
  bool has_length = false;
  size_t count = 0;
  const char* at = reason_end + 2;
  for (;;) {
    if (end - at < 2) return false;
    if (at[0] == '\r') {
      if (at[1] != '\n') return false;
      at += 2;
      break;  // the empty line
    }
    const char* eol = line_end(at, end);
    if (!eol) return false;
    const auto* colon =
        static_cast<const char*>(std::memchr(at, ':', static_cast<size_t>(eol - at)));
    if (!colon || colon == at) return false;
    std::string_view name(at, static_cast<size_t>(colon - at));
    // Whitespace before the colon is refused by Parser, and a name must be a token.
    HeaderId id = classify_header(name);
    if (id == HeaderId::kOther && !is_token(name)) return false;
    const char* value_at = colon + 1;
    while (value_at < eol && (*value_at == ' ' || *value_at == '\t'))
      ++value_at;
    std::string_view value(value_at, static_cast<size_t>(eol - value_at));
    if (!is_plain_text(value)) return false;
    size_t trimmed = value.size();
    while (trimmed > 0 && (value[trimmed - 1] == ' ' || value[trimmed - 1] == '\t'))
      --trimmed;
    switch (id) {
      case HeaderId::kContentLength:
        if (has_length || !read_length(value, &head->content_length)) return false;
        has_length = true;
        break;
      case HeaderId::kConnection:
        if (equals_ignore_case(value, "close")) {
          head->connection_close = true;
        } else if (equals_ignore_case(value, "keep-alive")) {
          head->connection_keep_alive = true;
        } else {
          return false;
        }
        break;
      case HeaderId::kTransferEncoding:
      case HeaderId::kUpgrade:
      case HeaderId::kProxyConnection:
        return false;
      default:
        break;
    }
    head_bytes += name.size() + value.size() + 4;
    if (count == PlainResponseHead::kMaxFields || count >= max_fields ||
        head_bytes > max_head_bytes) {
      return false;
    }
    head->fields[count++] = {name, value, static_cast<uint32_t>(trimmed), id};
    at = eol + 2;
  }
  if (!has_length) return false;
  head->field_count = count;
  head->length = static_cast<size_t>(at - begin);
  return true;
}

}  // namespace waygate::http
