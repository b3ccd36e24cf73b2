// A client's IP address as a fixed 16-byte key (IPv4 as an IPv4-mapped IPv6 address), for the
// worker's tables by client: connections per client and per-client rate-limit buckets.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "core/hash.h"

namespace waygate::proxy {

struct ClientAddress {
  std::array<uint8_t, 16> bytes{};

  static ClientAddress from(const sockaddr_storage& peer) {
    ClientAddress address;
    if (peer.ss_family == AF_INET6) {
      std::memcpy(address.bytes.data(), &reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr, 16);
    } else if (peer.ss_family == AF_INET) {
      address.bytes[10] = address.bytes[11] = 0xff;
      std::memcpy(address.bytes.data() + 12, &reinterpret_cast<const sockaddr_in&>(peer).sin_addr,
                  4);
    }
    return address;
  }
  // The address as text ("10.0.0.7", "2001:db8::1"), for log lines.
  void format(char (&out)[INET6_ADDRSTRLEN]) const {
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    bool v4 = std::memcmp(bytes.data(), kMapped, sizeof(kMapped)) == 0;
    inet_ntop(v4 ? AF_INET : AF_INET6, bytes.data() + (v4 ? 12 : 0), out, INET6_ADDRSTRLEN);
  }
  uint64_t hash(uint64_t seed = 0) const {
    return hash64({reinterpret_cast<const char*>(bytes.data()), bytes.size()}, seed);
  }
  bool operator==(const ClientAddress&) const = default;
};

struct ClientAddressHash {
  size_t operator()(const ClientAddress& address) const { return address.hash(); }
};

}  // namespace waygate::proxy
