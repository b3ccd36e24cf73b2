#include "routing/address_range.h"

#include <arpa/inet.h>

#include <charconv>
#include <string>

namespace waygate::routing {

std::optional<AddressRange> AddressRange::parse(std::string_view text) {
  size_t slash = text.find('/');
  std::string address(text.substr(0, slash));
  AddressRange range;
  unsigned max_bits = 128;
  unsigned offset = 0;  // an IPv4 prefix counts from the 96 bits of the mapped form
  if (inet_pton(AF_INET6, address.c_str(), range.bytes.data()) != 1) {
    if (inet_pton(AF_INET, address.c_str(), range.bytes.data() + 12) != 1) return std::nullopt;
    range.bytes[10] = range.bytes[11] = 0xff;
    max_bits = 32;
    offset = 96;
  }
  unsigned bits = max_bits;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
        bits > max_bits) {
      return std::nullopt;
    }
  }
  range.prefix_bits = static_cast<uint8_t>(bits + offset);
  AddressRange network = range;
  for (unsigned bit = range.prefix_bits; bit < 128; ++bit)
    network.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  if (network.bytes != range.bytes) return std::nullopt;
  return range;
}

bool AddressRange::contains(const std::array<uint8_t, 16>& address) const {
  unsigned whole = prefix_bits / 8;
  for (unsigned i = 0; i < whole; ++i) {
    if (address[i] != bytes[i]) return false;
  }
  unsigned rest = prefix_bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff00u >> rest);
  return (address[whole] & mask) == bytes[whole];
}

}  // namespace waygate::routing
