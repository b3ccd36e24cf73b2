#include "http/plain_response_head.h"

#include <bit>
#include <charconv>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "http/field_syntax.h"

namespace waygate::http {
namespace {

// The CRLF at `at`, or null.
const char* crlf_at(const char* at, const char* end) {
  return end - at >= 2 && at[0] == '\r' && at[1] == '\n' ? at : nullptr;
}

// The CR of the CRLF that ends the line starting at `from`, when every byte before it is visible
// ASCII, a space or a tab (what llhttp takes alike whatever its mode); null otherwise, or when
// the line does not end within the bytes. One pass finds the end and checks the bytes: sixteen at
// a time where SSE2 is there, where a signed compare takes bytes at or above 0x80 for controls.
const char* plain_line_end(const char* from, const char* end) {
  const char* at = from;
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i del = _mm_set1_epi8(0x7f);
  for (; end - at >= 16; at += 16) {
    __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
    auto odd = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(block, space), _mm_cmpeq_epi8(block, del))));
    for (; odd != 0; odd &= odd - 1) {
      const char* hit = at + std::countr_zero(odd);
      if (*hit != '\t') return crlf_at(hit, end);
    }
  }
#endif
  for (; at < end; ++at) {
    auto byte = static_cast<unsigned char>(*at);
    if ((byte < 0x20 && byte != '\t') || byte >= 0x7f) return crlf_at(at, end);
  }
  return nullptr;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// A Content-Length value of digits alone (from_chars takes no sign or space for an unsigned),
// short enough not to overflow.
bool read_length(std::string_view value, uint64_t* length) {
  if (value.empty() || value.size() > 18) return false;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), *length);
  return error == std::errc() && end == value.data() + value.size();
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
  const char* reason_end = plain_line_end(begin + 13, end);
  if (!reason_end || reason_end == begin + 13) return false;
  head->reason = std::string_view(begin + 13, static_cast<size_t>(reason_end - (begin + 13)));
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
    const char* eol = plain_line_end(at, end);
    if (!eol) return false;
    // A name is a token right up to its colon: whitespace before the colon is refused by Parser.
    // The CR that ends the line is no token byte, so the scan stops within it.
    const char* colon = at;
    while (is_token_char(*colon))
      ++colon;
    if (colon == at || *colon != ':') return false;
    std::string_view name(at, static_cast<size_t>(colon - at));
    HeaderId id = classify_header(name);
    const char* value_at = colon + 1;
    while (value_at < eol && (*value_at == ' ' || *value_at == '\t'))
      ++value_at;
    std::string_view value(value_at, static_cast<size_t>(eol - value_at));
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
    head->fields[count++] = {
        static_cast<uint32_t>(at - begin),       static_cast<uint32_t>(name.size()),
        static_cast<uint32_t>(value_at - begin), static_cast<uint32_t>(value.size()),
        static_cast<uint32_t>(trimmed),          id};
    at = eol + 2;
  }
  if (!has_length) return false;
  head->field_count = count;
  head->text_bytes = head_bytes - 4 * count;
  head->length = static_cast<size_t>(at - begin);
  return true;
}

}  // namespace waygate::http
