// A strict parser of DNS response messages (RFC 1035 4.1, SRV from RFC 2782, AAAA from RFC 3596):
// the records a resolver needs, with their TTLs. Every length and pointer is checked against the
// message before it is read, so any byte string is safe input; a message with one bad part is
// refused whole, with the reason.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace waygate::discovery {

inline constexpr uint16_t kDnsTypeA = 1;
inline constexpr uint16_t kDnsTypeCname = 5;
inline constexpr uint16_t kDnsTypeAaaa = 28;
inline constexpr uint16_t kDnsTypeSrv = 33;
inline constexpr uint16_t kDnsClassIn = 1;

inline constexpr uint8_t kDnsRcodeNoError = 0;
inline constexpr uint8_t kDnsRcodeServFail = 2;
inline constexpr uint8_t kDnsRcodeNxDomain = 3;
inline constexpr uint8_t kDnsRcodeRefused = 5;

// Names are text without the trailing dot ("web.internal"; the root is ""), in the case the
// message spells them. Labels holding a dot, a space or a byte outside printable ASCII make the
// message invalid: such a name could not be asked for again or told apart from another.
struct DnsAddressRecord {
  std::string name;     // the record's owner
  std::string address;  // "10.0.0.7", "2001:db8::7"
  uint16_t type = 0;    // kDnsTypeA or kDnsTypeAaaa
  uint32_t ttl = 0;     // seconds; a TTL with the top bit set reads as 0 (RFC 2181 8)
};

struct DnsSrvRecord {
  std::string target;  // "" when the target is the root: the service is not available there
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  uint32_t ttl = 0;
};

struct DnsResponse {
  uint16_t id = 0;
  uint8_t rcode = 0;
  bool truncated = false;  // TC: the answer did not fit (c-ares asks again over TCP)
  std::string question_name;
  uint16_t question_type = 0;
  // Where the answer section's CNAME chain from question_name ends (question_name when it has
  // none), and the smallest TTL among the CNAMEs followed (UINT32_MAX when there were none).
  // Only the chain the answer section carries is followed; nothing is looked up.
  std::string canonical_name;
  uint32_t cname_ttl = UINT32_MAX;
  // Class IN records of canonical_name in the answer section, in message order.
  std::vector<DnsAddressRecord> addresses;  // A and AAAA
  std::vector<DnsSrvRecord> services;
  // Class IN A and AAAA records of the additional section, whatever their owner: servers put
  // the addresses of SRV targets there.
  std::vector<DnsAddressRecord> additional;
};

struct DnsParseResult {
  DnsResponse response;
  std::string
      error;  // why the message was refused ("answer record 2: rdata runs past ..."); empty: ok
  bool ok() const { return error.empty(); }
};

// Parses one whole message (no trailing bytes), as a UDP datagram or a TCP message without its
// length prefix. Allocates only for the results.
DnsParseResult parse_dns_response(std::span<const uint8_t> message);

}  // namespace waygate::discovery
