// parse_dns_response on hand-built messages: the records it returns, and the malformed messages
// it refuses. Each message is parsed from a heap copy of exactly its size, so that AddressSanitizer
// reports any read past the end.
#include "discovery/dns_message.h"

#include <gtest/gtest.h>

#include <string>

#include "dns_test_messages.h"

namespace waygate::discovery {
namespace {

using namespace test;

DnsParseResult parse(const Bytes& message) {
  Bytes exact(message.begin(), message.end());
  exact.shrink_to_fit();
  return parse_dns_response(exact);
}

// web.test A: two addresses, the owners compressed to the question name.
Bytes two_a_records() {
  Bytes m = header(0x1234, kResponseFlags, 1, 2);
  put_question(m, "web.test", kDnsTypeA);
  put_pointer(m, kQuestionOffset);
  put_a(m, 30, "10.0.0.1");
  put_pointer(m, kQuestionOffset);
  put_a(m, 20, "10.0.0.2");
  return m;
}

// _http._tcp.svc.test SRV with two records, and the targets' addresses in the additional section.
Bytes srv_with_additional() {
  Bytes m = header(7, kResponseFlags, 1, 2, 0, 3);
  put_question(m, "_http._tcp.svc.test", kDnsTypeSrv);
  put_pointer(m, kQuestionOffset);
  put_srv(m, 60, 10, 5, 8080, "web1.svc.test");
  put_pointer(m, kQuestionOffset);
  put_srv(m, 50, 20, 0, 8081, "web2.svc.test");
  put_name(m, "web1.svc.test");
  put_a(m, 40, "10.0.0.1");
  put_name(m, "web1.svc.test");
  put_aaaa(m, 40, "2001:db8::1");
  put_name(m, "web2.svc.test");
  put_a(m, 40, "10.0.0.2");
  return m;
}

TEST(DnsMessage, ReadsARecordsWithTheirTtls) {
  DnsParseResult result = parse(two_a_records());
  ASSERT_TRUE(result.ok()) << result.error;
  const DnsResponse& response = result.response;
  EXPECT_EQ(response.id, 0x1234);
  EXPECT_EQ(response.rcode, kDnsRcodeNoError);
  EXPECT_EQ(response.question_name, "web.test");
  EXPECT_EQ(response.question_type, kDnsTypeA);
  EXPECT_EQ(response.canonical_name, "web.test");
  ASSERT_EQ(response.addresses.size(), 2u);
  EXPECT_EQ(response.addresses[0].address, "10.0.0.1");
  EXPECT_EQ(response.addresses[0].ttl, 30u);
  EXPECT_EQ(response.addresses[0].type, kDnsTypeA);
  EXPECT_EQ(response.addresses[1].address, "10.0.0.2");
  EXPECT_EQ(response.addresses[1].ttl, 20u);
}

TEST(DnsMessage, ReadsAaaaRecordsAsIpv6Text) {
  Bytes m = header(1, kResponseFlags, 1, 1);
  put_question(m, "web.test", kDnsTypeAaaa);
  put_pointer(m, kQuestionOffset);
  put_aaaa(m, 300, "2001:db8::7");
  DnsParseResult result = parse(m);
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.response.addresses.size(), 1u);
  EXPECT_EQ(result.response.addresses[0].address, "2001:db8::7");
  EXPECT_EQ(result.response.addresses[0].type, kDnsTypeAaaa);
  EXPECT_EQ(result.response.addresses[0].ttl, 300u);
}

TEST(DnsMessage, ReadsSrvRecordsAndTheAdditionalAddresses) {
  DnsParseResult result = parse(srv_with_additional());
  ASSERT_TRUE(result.ok()) << result.error;
  const DnsResponse& response = result.response;
  ASSERT_EQ(response.services.size(), 2u);
  EXPECT_EQ(response.services[0].target, "web1.svc.test");
  EXPECT_EQ(response.services[0].priority, 10);
  EXPECT_EQ(response.services[0].weight, 5);
  EXPECT_EQ(response.services[0].port, 8080);
  EXPECT_EQ(response.services[0].ttl, 60u);
  EXPECT_EQ(response.services[1].target, "web2.svc.test");
  EXPECT_EQ(response.services[1].priority, 20);
  EXPECT_EQ(response.services[1].weight, 0);
  EXPECT_EQ(response.services[1].port, 8081);
  EXPECT_EQ(response.services[1].ttl, 50u);
  ASSERT_EQ(response.additional.size(), 3u);
  EXPECT_EQ(response.additional[0].name, "web1.svc.test");
  EXPECT_EQ(response.additional[0].address, "10.0.0.1");
  EXPECT_EQ(response.additional[1].name, "web1.svc.test");
  EXPECT_EQ(response.additional[1].address, "2001:db8::1");
  EXPECT_EQ(response.additional[2].name, "web2.svc.test");
  EXPECT_EQ(response.additional[2].address, "10.0.0.2");
}

TEST(DnsMessage, SrvTargetMayBeCompressed) {
  Bytes m = header(1, kResponseFlags, 1, 1);
  put_question(m, "_http._tcp.svc.test", kDnsTypeSrv);
  put_pointer(m, kQuestionOffset);
  put_fields(m, kDnsTypeSrv, 5, 6 + 5 + 2);
  put16(m, 1);
  put16(m, 2);
  put16(m, 3);
  put_labels(m, "web1");
  put_pointer(m, kQuestionOffset + 11);  // "svc.test" inside the question name
  DnsParseResult result = parse(m);
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.response.services.size(), 1u);
  EXPECT_EQ(result.response.services[0].target, "web1.svc.test");
}

TEST(DnsMessage, SrvTargetRootReadsAsEmpty) {
  Bytes m = header(1, kResponseFlags, 1, 1);
  put_question(m, "_http._tcp.svc.test", kDnsTypeSrv);
  put_pointer(m, kQuestionOffset);
  put_srv(m, 5, 0, 0, 0, "");
  DnsParseResult result = parse(m);
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.response.services.size(), 1u);
  EXPECT_EQ(result.response.services[0].target, "");
}

TEST(DnsMessage, FollowsTheCnameChainInTheAnswer) {
  Bytes m = header(1, kResponseFlags, 1, 4);
  put_question(m, "www.test", kDnsTypeA);
  put_pointer(m, kQuestionOffset);
  put_cname(m, 40, "edge.test");
  put_name(m, "other.test");  // not on the chain
  put_a(m, 5, "10.9.9.9");
  put_name(m, "edge.test");
  put_cname(m, 25, "web.test");
  put_name(m, "WEB.Test");  // names compare without regard to case
  put_a(m, 60, "10.0.0.1");
  DnsParseResult result = parse(m);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.response.canonical_name, "web.test");
  EXPECT_EQ(result.response.cname_ttl, 25u);
  ASSERT_EQ(result.response.addresses.size(), 1u);
  EXPECT_EQ(result.response.addresses[0].address, "10.0.0.1");
}

TEST(DnsMessage, CnameChainEndingWithoutRecordsLeavesNoAddresses) {
  Bytes m = header(1, kResponseFlags, 1, 2);
  put_question(m, "www.test", kDnsTypeA);
  put_pointer(m, kQuestionOffset);
  put_cname(m, 40, "elsewhere.example");
  put_pointer(m, kQuestionOffset);
  put_a(m, 60, "10.0.0.1");  // the alias itself may not hold records (RFC 1034 3.6.2)
  DnsParseResult result = parse(m);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.response.canonical_name, "elsewhere.example");
  EXPECT_TRUE(result.response.addresses.empty());
}

TEST(DnsMessage, RefusesACnameLoop) {
  Bytes m = header(1, kResponseFlags, 1, 2);
  put_question(m, "a.test", kDnsTypeA);
  put_pointer(m, kQuestionOffset);
  put_cname(m, 40, "b.test");
  put_name(m, "b.test");
  put_cname(m, 40, "a.test");
  DnsParseResult result = parse(m);
  EXPECT_FALSE(result.ok());
  EXPECT_NE(result.error.find("CNAME chain"), std::string::npos) << result.error;
}

TEST(DnsMessage, SkipsOtherTypesClassesAndSections) {
  Bytes m = header(1, kResponseFlags, 1, 3, 1, 1);
  put_question(m, "web.test", kDnsTypeA);
  put_pointer(m, kQuestionOffset);
  put_fields(m, 16, 10, 4);  // TXT
  m.insert(m.end(), {3, 'a', 'b', 'c'});
  put_pointer(m, kQuestionOffset);
  put_fields(m, kDnsTypeA, 10, 4, 3);  // class CHAOS
  m.insert(m.end(), {1, 2, 3, 4});
  put_pointer(m, kQuestionOffset);
  put_a(m, 10, "10.0.0.1");
  put_name(m, "test");  // authority: SOA-like record of another type
  put_fields(m, 6, 10, 2);
  m.insert(m.end(), {0, 0});
  put_name(m, "");  // additional: an EDNS OPT record
  put_fields(m, 41, 0, 0, 1232);
  DnsParseResult result = parse(m);
  ASSERT_TRUE(result.ok()) << result.error;
  ASSERT_EQ(result.response.addresses.size(), 1u);
  EXPECT_EQ(result.response.addresses[0].address, "10.0.0.1");
  EXPECT_TRUE(result.response.additional.empty());
}

TEST(DnsMessage, TtlWithTheTopBitSetReadsAsZero) {
  Bytes m = header(1, kResponseFlags, 1, 1);
  put_question(m, "web.test", kDnsTypeA);
  put_pointer(m, kQuestionOffset);
  put_a(m, 0x80000001u, "10.0.0.1");
  DnsParseResult result = parse(m);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.response.addresses[0].ttl, 0u);
}

TEST(DnsMessage, ReportsRcodeAndTruncation) {
  Bytes m = header(1, kResponseFlags | 0x0200 | kDnsRcodeNxDomain, 1, 0);
  put_question(m, "nope.test", kDnsTypeA);
  DnsParseResult result = parse(m);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.response.rcode, kDnsRcodeNxDomain);
  EXPECT_TRUE(result.response.truncated);
  EXPECT_TRUE(result.response.addresses.empty());
}

// Every strict prefix of a valid message is refused, and none is read past its end.
TEST(DnsMessage, RefusesEveryTruncation) {
  for (const Bytes& whole : {two_a_records(), srv_with_additional()}) {
    ASSERT_TRUE(parse(whole).ok());
    for (size_t size = 0; size < whole.size(); ++size) {
      Bytes prefix(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(size));
      EXPECT_FALSE(parse(prefix).ok()) << "prefix of " << size << " bytes";
    }
  }
}

TEST(DnsMessage, RefusesBytesAfterTheLastRecord) {
  Bytes m = two_a_records();
  m.push_back(0);
  EXPECT_EQ(parse(m).error, "bytes after the last record");
}

TEST(DnsMessage, RefusesAQuery) {
  Bytes m = header(1, 0x0100, 1, 0);
  put_question(m, "web.test", kDnsTypeA);
  EXPECT_EQ(parse(m).error, "not a response (QR bit clear)");
}

TEST(DnsMessage, RefusesAMessageWithoutOneQuestion) {
  Bytes m = header(1, kResponseFlags, 0, 0);
  EXPECT_FALSE(parse(m).ok());
  m = header(1, kResponseFlags, 2, 0);
  put_question(m, "a.test", kDnsTypeA);
  put_question(m, "b.test", kDnsTypeA);
  EXPECT_FALSE(parse(m).ok());
}

TEST(DnsMessage, RefusesAPointerToItself) {
  Bytes m = header(1, kResponseFlags, 1, 1);
  put_question(m, "web.test", kDnsTypeA);
  size_t owner = m.size();
  put_pointer(m, static_cast<uint16_t>(owner));
  put_a(m, 1, "10.0.0.1");
  DnsParseResult result = parse(m);
  EXPECT_NE(result.error.find("does not point backwards"), std::string::npos) << result.error;
}

TEST(DnsMessage, RefusesAPointerLoop) {
  // The owner name is "x" then a pointer back to the question; the question's name ends in a
  // pointer forward to that "x": each pointer alone points somewhere valid, together they loop.
  Bytes m = header(1, kResponseFlags, 1, 1);
  put_labels(m, "web");
  size_t loop_pointer = m.size();
  put_pointer(m, 0);  // patched below
  put16(m, kDnsTypeA);
  put16(m, kDnsClassIn);
  size_t owner = m.size();
  put_labels(m, "x");
  put_pointer(m, kQuestionOffset);
  put_a(m, 1, "10.0.0.1");
  m[loop_pointer] = static_cast<uint8_t>(0xC0 | (owner >> 8));
  m[loop_pointer + 1] = static_cast<uint8_t>(owner);
  DnsParseResult result = parse(m);
  EXPECT_NE(result.error.find("does not point backwards"), std::string::npos) << result.error;
}

TEST(DnsMessage, RefusesAPointerBackIntoTheNameItEnds) {
  // "a" "b" then a pointer to "b": backwards, but inside the stretch it ends, so it loops.
  Bytes m = header(1, kResponseFlags, 1, 0);
  m.insert(m.end(), {1, 'a', 1, 'b'});
  put_pointer(m, kQuestionOffset + 2);
  put16(m, kDnsTypeA);
  put16(m, kDnsClassIn);
  EXPECT_FALSE(parse(m).ok());
}

TEST(DnsMessage, RefusesAPointerPastTheEnd) {
  Bytes m = header(1, kResponseFlags, 1, 1);
  put_question(m, "web.test", kDnsTypeA);
  put_pointer(m, 0x3FFF);
  put_a(m, 1, "10.0.0.1");
  EXPECT_FALSE(parse(m).ok());
}

TEST(DnsMessage, RefusesReservedLabelTypes) {
  for (uint8_t kind : {0x40, 0x80}) {
    Bytes m = header(1, kResponseFlags, 1, 0);
    m.insert(m.end(), {kind, 'a', 0});
    put16(m, kDnsTypeA);
    put16(m, kDnsClassIn);
    EXPECT_NE(parse(m).error.find("reserved"), std::string::npos);
  }
}

TEST(DnsMessage, RefusesANameLongerThan255Octets) {
  // Labels of 63, 63, 63 and 62 characters: 4 length octets, 251 characters and the root label
  // make 256 octets on the wire.
  std::string name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                     std::string(63, 'c') + "." + std::string(62, 'd');
  Bytes m = header(1, kResponseFlags, 1, 0);
  put_question(m, name, kDnsTypeA);
  EXPECT_NE(parse(m).error.find("longer than 255"), std::string::npos);

  name.resize(name.size() - 1);  // 255 octets: the longest allowed
  m = header(1, kResponseFlags, 1, 0);
  put_question(m, name, kDnsTypeA);
  DnsParseResult result = parse(m);
  ASSERT_TRUE(result.ok()) << result.error;
  EXPECT_EQ(result.response.question_name, name);
}

TEST(DnsMessage, RefusesLabelsThatCannotBeWrittenAsText) {
  for (char bad : {'.', ' ', '\x7f', '\0'}) {
    Bytes m = header(1, kResponseFlags, 1, 0);
    m.insert(m.end(), {3, 'a', static_cast<uint8_t>(bad), 'b', 0});
    put16(m, kDnsTypeA);
    put16(m, kDnsClassIn);
    EXPECT_FALSE(parse(m).ok()) << int{bad};
  }
}

TEST(DnsMessage, RefusesRdlengthPastTheEnd) {
  Bytes m = header(1, kResponseFlags, 1, 1);
  put_question(m, "web.test", kDnsTypeA);
  put_pointer(m, kQuestionOffset);
  put_fields(m, 16, 1, 200);
  m.insert(m.end(), 10, 'x');
  EXPECT_NE(parse(m).error.find("rdata runs past the end"), std::string::npos);
}

TEST(DnsMessage, RefusesAddressRecordsOfTheWrongSize) {
  Bytes m = header(1, kResponseFlags, 1, 1);
  put_question(m, "web.test", kDnsTypeA);
  put_pointer(m, kQuestionOffset);
  put_fields(m, kDnsTypeA, 1, 5);
  m.insert(m.end(), {10, 0, 0, 1, 9});
  EXPECT_NE(parse(m).error.find("not 4 octets"), std::string::npos);

  m = header(1, kResponseFlags, 1, 1);
  put_question(m, "web.test", kDnsTypeAaaa);
  put_pointer(m, kQuestionOffset);
  put_fields(m, kDnsTypeAaaa, 1, 4);
  m.insert(m.end(), {10, 0, 0, 1});
  EXPECT_NE(parse(m).error.find("not 16 octets"), std::string::npos);
}

TEST(DnsMessage, RefusesRdataNamesThatDoNotFillTheRdata) {
  // The SRV target ends before the rdata does.
  Bytes m = header(1, kResponseFlags, 1, 1);
  put_question(m, "_x._tcp.test", kDnsTypeSrv);
  put_pointer(m, kQuestionOffset);
  put_fields(m, kDnsTypeSrv, 1, 6 + 3 + 1);
  m.insert(m.end(), {0, 1, 0, 1, 0, 80, 1, 'a', 0, 'z'});
  EXPECT_NE(parse(m).error.find("rdata continues"), std::string::npos);

  // The CNAME target runs past the rdata (into the next record).
  m = header(1, kResponseFlags, 1, 2);
  put_question(m, "www.test", kDnsTypeA);
  put_pointer(m, kQuestionOffset);
  put_fields(m, kDnsTypeCname, 1, 2);
  m.insert(m.end(), {1, 'a'});
  m.push_back(0);  // the root label, outside the rdata
  put_a(m, 1, "10.0.0.1");
  EXPECT_FALSE(parse(m).ok());

  // An SRV rdata too short to hold a target.
  m = header(1, kResponseFlags, 1, 1);
  put_question(m, "_x._tcp.test", kDnsTypeSrv);
  put_pointer(m, kQuestionOffset);
  put_fields(m, kDnsTypeSrv, 1, 6);
  m.insert(m.end(), {0, 1, 0, 1, 0, 80});
  EXPECT_NE(parse(m).error.find("SRV record too short"), std::string::npos);
}

// Every single-byte change of valid messages parses or is refused, never read out of bounds
// (meaningful under AddressSanitizer; a quick stand-in until the fuzz target of issue 19).
TEST(DnsMessage, ChangedBytesNeverReadOutOfBounds) {
  for (const Bytes& whole : {two_a_records(), srv_with_additional()}) {
    for (size_t at = 0; at < whole.size(); ++at) {
      for (int value = 0; value < 256; ++value) {
        Bytes changed = whole;
        changed[at] = static_cast<uint8_t>(value);
        DnsParseResult result = parse(changed);
        if (!result.ok()) {
          EXPECT_TRUE(result.response.addresses.empty());
        }
      }
    }
  }
}

}  // namespace
}  // namespace waygate::discovery
