#include "http/field_syntax.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>

namespace waygate::http {
namespace {

// unreserved / sub-delims (RFC 3986 2.2, 2.3); '%' starts a pct-encoded triplet, checked apart.
// A table: a Host is checked on every request.
constexpr std::array<bool, 256> kRegNameChars = alphanumerics_and("-._~!$&'()*+,;=");

bool is_reg_name_char(char c) {
  return kRegNameChars[static_cast<unsigned char>(c)];
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool is_reg_name(std::string_view host) {
  for (size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    if (c == '%') {
      if (i + 2 >= host.size() || !is_hex(host[i + 1]) || !is_hex(host[i + 2])) return false;
      i += 2;
    } else if (!is_reg_name_char(c)) {
      return false;
    }
  }
  return true;
}

bool is_ip_literal(std::string_view host) {
  // "[" IPv6address / IPvFuture "]": hex digits, colons and dots (an embedded IPv4 tail) are
  // enough to keep anything else out; the address is never resolved from here.
  if (host.size() < 4 || host.front() != '[' || host.back() != ']') return false;
  for (char c : host.substr(1, host.size() - 2)) {
    if (!is_hex(c) && c != ':' && c != '.') return false;
  }
  return true;
}

}  // namespace

bool is_token(std::string_view text) {
  // Four bytes a step, without a branch for each: every header name is checked.
  const auto* at = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = at + text.size();
  auto in = [](unsigned char c) -> unsigned { return kTokenChars[c]; };
  unsigned token = text.empty() ? 0 : 1;
  for (; end - at >= 4; at += 4)
    token &= in(at[0]) & in(at[1]) & in(at[2]) & in(at[3]);
  for (; at < end; ++at)
    token &= in(*at);
  return token != 0;
}

bool is_field_value(std::string_view text) {
  // Eight bytes at a time while none is below 0x20 or 0x7f (SWAR: a byte's subtraction borrows
  // into its top bit only when it is below the subtrahend), then one at a time from the first
  // eight that hold one, where a tab is fine.
  constexpr uint64_t kOnes = 0x0101010101010101;
  constexpr uint64_t kTopBits = 0x8080808080808080;
  const char* at = text.data();
  const char* end = at + text.size();
  for (; end - at >= 8; at += 8) {
    uint64_t word;
    std::memcpy(&word, at, 8);
    uint64_t below_space = (word - kOnes * 0x20) & ~word & kTopBits;
    uint64_t del = word ^ (kOnes * 0x7f);
    uint64_t is_del = (del - kOnes) & ~del & kTopBits;
    if ((below_space | is_del) != 0) break;
  }
  for (; at < end; ++at) {
    auto byte = static_cast<unsigned char>(*at);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7f) return false;
  }
  return true;
}

std::optional<Authority> parse_authority(std::string_view text) {
  Authority authority;
  std::string_view port_text;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    size_t bracket = text.find(']');
    if (bracket == std::string_view::npos) return std::nullopt;
    authority.host = text.substr(0, bracket + 1);
    std::string_view rest = text.substr(bracket + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port_text = rest.substr(1);
      has_port = true;
    }
    if (!is_ip_literal(authority.host)) return std::nullopt;
  } else {
    size_t colon = text.find(':');
    authority.host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = text.substr(colon + 1);
      has_port = true;
    }
    if (authority.host.empty() || !is_reg_name(authority.host)) return std::nullopt;
  }
  if (has_port && !port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
      return std::nullopt;
    }
    authority.port = static_cast<uint16_t>(port);
  }
  return authority;
}

}  // namespace waygate::http
