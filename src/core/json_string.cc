#include "core/json_string.h"

#include <cstring>

#include "core/plain_bytes.h"

namespace waygate {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// The length of the well-formed UTF-8 sequence at the start of `text` (Unicode table 3-7), or,
// when there is none, minus the length of its maximal ill-formed prefix (at least 1), which is
// replaced by one U+FFFD as the Unicode standard recommends.
int utf8_sequence(std::string_view text) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  int length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // no overlong forms
    if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    return -1;
  }
  for (int i = 1; i < length; ++i) {
    if (static_cast<size_t>(i) >= text.size()) return -i;
    unsigned char next = byte(static_cast<size_t>(i));
    bool fits = i == 1 ? next >= low && next <= high : next >= 0x80 && next <= 0xBF;
    if (!fits) return -i;
  }
  return length;
}

}  // namespace

char* write_json_string(char* out, std::string_view value) {
  auto put = [&out](std::string_view bytes) {
    std::memcpy(out, bytes.data(), bytes.size());
    out += bytes.size();
  };
  *out++ = '"';
  split_plain_runs(value, put, [&put](std::string_view rest) -> size_t {
    auto byte = static_cast<unsigned char>(rest[0]);
    if (byte >= 0x80) {
      int length = utf8_sequence(rest);
      if (length > 0) {
        put(rest.substr(0, static_cast<size_t>(length)));
        return static_cast<size_t>(length);
      }
      put("\\ufffd");
      return static_cast<size_t>(-length);
    }
    switch (byte) {
      case '"':
        put("\\\"");
        break;
      case '\\':
        put("\\\\");
        break;
      case '\n':
        put("\\n");
        break;
      case '\r':
        put("\\r");
        break;
      case '\t':
        put("\\t");
        break;
      case '\b':
        put("\\b");
        break;
      case '\f':
        put("\\f");
        break;
      default: {
        char escape[6] = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xf]};
        put({escape, 6});
      }
    }
    return 1;
  });
  *out++ = '"';
  return out;
}

void append_json_string(std::string& out, std::string_view value) {
  size_t start = out.size();
  out.resize(start + json_string_bound(value));
  char* end = write_json_string(out.data() + start, value);
  out.resize(static_cast<size_t>(end - out.data()));
}

}  // namespace waygate
