// A client-address range (`allow_from: [10.0.0.0/8, "2001:db8::/32"]`): CIDR blocks held as
// 16-byte addresses, IPv4 as IPv4-mapped IPv6, the form client addresses are compared in.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace waygate::routing {

struct AddressRange {
  std::array<uint8_t, 16> bytes{};  // the network, bits past prefix_bits zero
  uint8_t prefix_bits = 128;

  // "10.0.0.0/8", "2001:db8::/32", or an address alone (a /32 or /128); nullopt for anything else,
  // including host bits set past the prefix ("10.0.0.1/8" is a mistake more often than meant).
  static std::optional<AddressRange> parse(std::string_view text);
  bool contains(const std::array<uint8_t, 16>& address) const;
};

}  // namespace waygate::routing
