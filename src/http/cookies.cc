#include "http/cookies.h"

namespace waygate::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::string_view> find_cookie(const MessageHead& request, std::string_view name) {
  for (const HeaderField& field : request.fields) {
    if (field.id != HeaderId::kCookie) continue;
    std::string_view rest = request.value(field);
    while (!rest.empty()) {
      size_t semicolon = rest.find(';');
      std::string_view pair = trim(rest.substr(0, semicolon));
      rest = semicolon == std::string_view::npos ? std::string_view() : rest.substr(semicolon + 1);
      size_t equals = pair.find('=');
      if (equals == std::string_view::npos || trim(pair.substr(0, equals)) != name) continue;
      std::string_view value = trim(pair.substr(equals + 1));
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
