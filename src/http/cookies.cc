#include "http/cookies.h"

#include "http/field_syntax.h"

namespace waygate::http {

std::optional<std::string_view> find_cookie(const MessageHead& request, std::string_view name) {
  for (const HeaderField& field : request.fields) {
    if (field.id != HeaderId::kCookie) continue;
    std::string_view rest = request.value(field);
    while (!rest.empty()) {
      size_t semicolon = rest.find(';');
      std::string_view pair = trim_whitespace(rest.substr(0, semicolon));
      rest = semicolon == std::string_view::npos ? std::string_view() : rest.substr(semicolon + 1);
      size_t equals = pair.find('=');
      if (equals == std::string_view::npos || trim_whitespace(pair.substr(0, equals)) != name)
        continue;
      std::string_view value = trim_whitespace(pair.substr(equals + 1));
      // A quoted value (RFC 6265 cookie-value) is the same value without its quotes.
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
  }
  return std::nullopt;
}

}  // namespace waygate::http
