#include "core/json_string.h"

namespace waygate {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Printable ASCII but the quote and the backslash. DEL, which JSON allows as it is, is escaped
// too: these strings end up in logs that people read in terminals.
bool is_plain(unsigned char byte) {
  return byte >= 0x20 && byte < 0x7f && byte != '"' && byte != '\\';
}

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

void append_json_string(std::string& out, std::string_view value) {
  out.push_back('"');
  size_t i = 0;
  while (i < value.size()) {
    size_t run = i;
    while (run < value.size() && is_plain(static_cast<unsigned char>(value[run])))
      ++run;
    out.append(value.data() + i, run - i);
    i = run;
    if (i == value.size()) break;
    auto byte = static_cast<unsigned char>(value[i]);
    if (byte >= 0x80) {
      int length = utf8_sequence(value.substr(i));
      if (length > 0) {
        out.append(value.data() + i, static_cast<size_t>(length));
        i += static_cast<size_t>(length);
      } else {
        out.append("\\ufffd");
        i += static_cast<size_t>(-length);
      }
      continue;
    }
    switch (byte) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      default: {
        char escape[6] = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xf]};
        out.append(escape, 6);
      }
    }
    ++i;
  }
  out.push_back('"');
}

}  // namespace waygate
