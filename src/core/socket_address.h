// "host:port" text <-> sockaddr for listeners and endpoints: IPv4 "127.0.0.1:80", IPv6 "[::1]:80".
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace waygate {

struct SocketAddress {
  sockaddr_storage storage{};
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// The address, or nullopt when the text is not a literal IP address with a port.
std::optional<SocketAddress> parse_socket_address(std::string_view text);

// The peer's IP address as text, without the port ("127.0.0.1", "::1").
std::string format_ip(const sockaddr_storage& address);
uint16_t socket_port(const sockaddr_storage& address);

// "127.0.0.1:51234", "[::1]:51234": an IP address's text (format_ip's) with a port.
struct AddressText {
  char text[56];  // the longest IPv6 text (45), brackets, a colon and five digits
  uint8_t length = 0;
  std::string_view view() const { return {text, length}; }
};
AddressText format_address(std::string_view ip, uint16_t port);

}  // namespace waygate
