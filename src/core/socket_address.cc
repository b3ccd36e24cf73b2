#include "core/socket_address.h"

#include <netinet/in.h>
#include <uv.h>

#include <algorithm>
#include <charconv>

namespace waygate {

std::optional<SocketAddress> parse_socket_address(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 >= text.size()) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  SocketAddress address;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    std::string ip(host.substr(1, host.size() - 2));
    if (uv_ip6_addr(ip.c_str(), static_cast<int>(port),
                    reinterpret_cast<sockaddr_in6*>(&address.storage)) != 0) {
      return std::nullopt;
    }
    return address;
  }
  std::string ip(host);
  if (uv_ip4_addr(ip.c_str(), static_cast<int>(port),
                  reinterpret_cast<sockaddr_in*>(&address.storage)) != 0) {
    return std::nullopt;
  }
  return address;
}

std::string format_ip(const sockaddr_storage& address) {
  char text[64] = "-";
  if (address.ss_family == AF_INET) {
    uv_ip4_name(reinterpret_cast<const sockaddr_in*>(&address), text, sizeof(text));
  } else if (address.ss_family == AF_INET6) {
    uv_ip6_name(reinterpret_cast<const sockaddr_in6*>(&address), text, sizeof(text));
  }
  return text;
}

uint16_t socket_port(const sockaddr_storage& address) {
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return 0;
}

AddressText format_address(std::string_view ip, uint16_t port) {
  AddressText address;
  char* at = address.text;
  char* end = address.text + sizeof(address.text);
  constexpr size_t kAroundIp = 3 + 5;  // brackets, the colon, the port's digits
  ip = ip.substr(0, sizeof(address.text) - kAroundIp);
  bool v6 = ip.find(':') != std::string_view::npos;
  if (v6) *at++ = '[';
  at = std::copy(ip.begin(), ip.end(), at);
  if (v6) *at++ = ']';
  *at++ = ':';
  at = std::to_chars(at, end, port).ptr;
  address.length = static_cast<uint8_t>(at - address.text);
  return address;
}

}  // namespace waygate
