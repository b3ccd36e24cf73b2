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

}  // namespace waygate
