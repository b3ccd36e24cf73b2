// The grammar of HTTP fields and authorities (RFC 9110 5.1, 5.5, 7.2; RFC 3986 3.2), shared by the
// wire parser and the config loader: a header a route adds is held to what a client may send.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace waygate::http {

// A byte table: the letters and digits, and `more`.
constexpr std::array<bool, 256> alphanumerics_and(std::string_view more) {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c)
    table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c)
    table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c)
    table[c] = true;
  for (char c : more)
    table[static_cast<unsigned char>(c)] = true;
  return table;
}

inline constexpr std::array<bool, 256> kTokenChars = alphanumerics_and("!#$%&'*+-.^_`|~");

// tchar (RFC 9110 5.6.2): a byte that may appear in a token such as a header name or a method.
// Inline: readers of a head take names a byte at a time.
inline bool is_token_char(char c) {
  return kTokenChars[static_cast<unsigned char>(c)];
}
// A non-empty token.
bool is_token(std::string_view text);
// A field value as RFC 9110 5.5 allows it: visible ASCII, obs-text (0x80-0xFF), SP and HTAB,
// nothing else (no CR, LF, NUL or other control byte). Leading or trailing whitespace is allowed
// here: the parser trims it.
bool is_field_value(std::string_view text);

// The text without the optional whitespace (SP and HTAB, RFC 9110 5.6.3) around it. Inline: it
// runs on every item of a header list, and on values that mostly have none.
inline std::string_view trim_whitespace(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

// An authority's parts: "example.com:8080" gives host "example.com" and port 8080; "[::1]" keeps
// its brackets in host.
struct Authority {
  std::string_view host;
  std::optional<uint16_t> port;  // absent when the text has no port (or an empty one, "host:")
};
// Parses host[:port] as a Host header or an absolute-form target carries it: host is a reg-name
// (letters, digits, "-._~", sub-delims, %XX), an IPv4 address or a bracketed IPv6 literal; port is
// 0-65535. nullopt when the text is none of these (spaces, an empty host, "host:99999", "host:x").
std::optional<Authority> parse_authority(std::string_view text);

}  // namespace waygate::http
