// The client address as access logs print it: "ip:port", an IPv6 address in brackets, formatted
// from the IP text and port a connection keeps.
#include "core/socket_address.h"

#include <gtest/gtest.h>

#include <string>

namespace waygate {
namespace {

TEST(FormatAddress, PutsThePortAfterAnIpv4Address) {
  EXPECT_EQ(format_address("10.0.0.7", 51234).view(), "10.0.0.7:51234");
  EXPECT_EQ(format_address("127.0.0.1", 0).view(), "127.0.0.1:0");
}

TEST(FormatAddress, BracketsAnIpv6Address) {
  EXPECT_EQ(format_address("::1", 65535).view(), "[::1]:65535");
  EXPECT_EQ(format_address("fe80::1", 8080).view(), "[fe80::1]:8080");
}

TEST(FormatAddress, TheLongestIpv6TextFitsWhole) {
  std::string longest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";  // 45 characters
  EXPECT_EQ(format_address(longest, 65535).view(), "[" + longest + "]:65535");
}

TEST(FormatAddress, AnAddressThatIsNoneIsADash) {
  // A connection whose peer could not be read keeps "-" (ServerConnection::client_ip).
  EXPECT_EQ(format_address("-", 0).view(), "-:0");
}

}  // namespace
}  // namespace waygate
