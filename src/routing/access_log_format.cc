#include "routing/access_log_format.h"

namespace waygate::routing {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

void append_literal(std::vector<AccessLogPiece>& pieces, std::string_view text) {
  if (text.empty()) return;
  if (pieces.empty() || pieces.back().field != AccessLogField::kLiteral) pieces.emplace_back();
  pieces.back().literal.append(text);
}

std::string known_names() {
  std::string names;
  for (std::string_view name : kAccessLogFieldNames)
    names.append(names.empty() ? "" : ", ").append(name);
  return names;
}

}  // namespace

AccessLogTemplate parse_access_log_template(std::string_view text) {
  AccessLogTemplate result;
  auto fail = [&result](size_t offset, std::string message) {
    result.pieces.clear();
    result.error = std::move(message);
    result.error_offset = offset;
    return result;
  };
  size_t i = 0;
  while (i < text.size()) {
    auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x20 || byte == 0x7f) {
      // A line break in the template would split every line it writes in two.
      return fail(i, "a template may not hold control characters (line breaks, tabs and the like)");
    }
    if (text[i] != '$') {
      size_t next = text.find('$', i);
      size_t end = next == std::string_view::npos ? text.size() : next;
      size_t control = i;
      while (control < end && static_cast<unsigned char>(text[control]) >= 0x20 &&
             text[control] != 0x7f)
        ++control;
      append_literal(result.pieces, text.substr(i, control - i));
      i = control;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      append_literal(result.pieces, "$");
      i += 2;
      continue;
    }
    size_t start = i;
    bool braced = i + 1 < text.size() && text[i + 1] == '{';
    size_t name_start = i + (braced ? 2 : 1);
    size_t name_end = name_start;
    while (name_end < text.size() && is_name_char(text[name_end]))
      ++name_end;
    if (braced && (name_end >= text.size() || text[name_end] != '}')) {
      return fail(start, "'${' must be followed by a variable name and '}'");
    }
    std::string_view name = text.substr(name_start, name_end - name_start);
    if (name.empty()) {
      return fail(start, "'$' must start a variable ($name or ${name}); '$$' writes a dollar sign");
    }
    bool known = false;
    for (size_t f = 0; f < kAccessLogFieldNames.size() && !known; ++f) {
      if (kAccessLogFieldNames[f] == name) {
        result.pieces.push_back(AccessLogPiece{static_cast<AccessLogField>(f), {}});
        known = true;
      }
    }
    if (!known) {
      return fail(start,
                  "unknown variable '$" + std::string(name) + "' (known: " + known_names() + ")");
    }
    i = name_end + (braced ? 1 : 0);
  }
  return result;
}

}  // namespace waygate::routing
