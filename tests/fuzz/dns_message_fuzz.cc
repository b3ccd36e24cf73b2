// Fuzzes DNS answers as the resolver receives them (discovery/dns_message): any byte string is
// parsed or refused with a reason, and what is accepted is sound: names a resolver could ask for
// again, addresses that read back as themselves, owners on the CNAME chain's end.
//
// Input: a DNS message, as a UDP datagram carries it.
#include <arpa/inet.h>

#include <string>

#include "discovery/dns_message.h"
#include "fuzz_check.h"

namespace waygate::fuzz {
namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] + 32) : a[i];
    char y = (b[i] >= 'A' && b[i] <= 'Z') ? static_cast<char>(b[i] + 32) : b[i];
    if (x != y) return false;
  }
  return true;
}

// Labels of printable ASCII without dots or spaces, joined by single dots; the root is "".
void check_name(std::string_view name) {
  FUZZ_CHECK(name.size() <= 253);
  if (name.empty()) return;
  FUZZ_CHECK(name.front() != '.' && name.back() != '.');
  FUZZ_CHECK(name.find("..") == std::string_view::npos);
  for (char c : name) {
    FUZZ_CHECK(c > ' ' && c < 0x7f);
  }
}

void check_address(const discovery::DnsAddressRecord& record) {
  check_name(record.name);
  FUZZ_CHECK(record.ttl < 0x80000000u);
  FUZZ_CHECK(record.type == discovery::kDnsTypeA || record.type == discovery::kDnsTypeAaaa);
  unsigned char bytes[16];
  int family = record.type == discovery::kDnsTypeA ? AF_INET : AF_INET6;
  FUZZ_CHECK(inet_pton(family, record.address.c_str(), bytes) == 1);
  char text[INET6_ADDRSTRLEN];
  FUZZ_CHECK(inet_ntop(family, bytes, text, sizeof text) != nullptr);
  FUZZ_CHECK(record.address == text);
}

}  // namespace
}  // namespace waygate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace waygate;
  discovery::DnsParseResult result = discovery::parse_dns_response({data, size});
  if (!result.ok()) {
    FUZZ_CHECK(result.response.addresses.empty() && result.response.services.empty() &&
               result.response.additional.empty());
    return 0;
  }
  const discovery::DnsResponse& response = result.response;
  FUZZ_CHECK(size >= 12);
  fuzz::check_name(response.question_name);
  fuzz::check_name(response.canonical_name);
  // Without a CNAME followed, the chain ends where it started.
  if (response.cname_ttl == UINT32_MAX) {
    FUZZ_CHECK(response.canonical_name == response.question_name);
  } else {
    FUZZ_CHECK(response.cname_ttl < 0x80000000u);
  }
  for (const discovery::DnsAddressRecord& record : response.addresses) {
    fuzz::check_address(record);
    FUZZ_CHECK(fuzz::equal_ignoring_case(record.name, response.canonical_name));
  }
  for (const discovery::DnsAddressRecord& record : response.additional)
    fuzz::check_address(record);
  for (const discovery::DnsSrvRecord& service : response.services) {
    fuzz::check_name(service.target);
    FUZZ_CHECK(service.ttl < 0x80000000u);
  }

  // The same message parses the same way again, and a message cut short is never accepted with
  // more records than the whole one has.
  discovery::DnsParseResult again = discovery::parse_dns_response({data, size});
  FUZZ_CHECK(again.ok() && again.response.addresses.size() == response.addresses.size() &&
             again.response.canonical_name == response.canonical_name);
  discovery::DnsParseResult cut = discovery::parse_dns_response({data, size - 1});
  FUZZ_CHECK(cut.response.addresses.size() + cut.response.services.size() <=
                 response.addresses.size() + response.services.size() ||
             !cut.ok());
  return 0;
}
