// The parser reads the message twice: one pass checks every name, length and record shape, the
// next ones pick the records out of the answer and additional sections, reading only what the
// first pass has proved sound. Names are decoded into fixed buffers on the stack.
#include "discovery/dns_message.h"

#include <arpa/inet.h>

#include <algorithm>
#include <string_view>

namespace waygate::discovery {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kRecordFixedSize = 10;  // type, class, TTL, rdlength
constexpr size_t kMaxNameOctets = 255;   // RFC 1035 2.3.4, counted as on the wire
constexpr size_t kSrvFixedSize = 6;      // priority, weight, port
constexpr int kMaxCnameHops = 16;

struct Name {
  char text[kMaxNameOctets];  // a name of 255 wire octets has at most 253 characters
  size_t size = 0;
  std::string_view view() const { return {text, size}; }
};

struct Record {
  Name owner;
  uint16_t type = 0;
  uint16_t klass = 0;
  uint32_t ttl = 0;
  size_t rdata = 0;  // offset in the message
  uint16_t rdlength = 0;
};

uint16_t read_u16(std::span<const uint8_t> message, size_t at) {
  return static_cast<uint16_t>((message[at] << 8) | message[at + 1]);
}

uint32_t read_u32(std::span<const uint8_t> message, size_t at) {
  return (uint32_t{message[at]} << 24) | (uint32_t{message[at + 1]} << 16) |
         (uint32_t{message[at + 2]} << 8) | uint32_t{message[at + 3]};
}

bool names_equal(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    auto lower = [](char c) {
      return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    };
    return lower(x) == lower(y);
  });
}

// Decodes the name at `pos` and moves `pos` past its in-line part (up to and including the first
// compression pointer). Each pointer must point before the stretch of labels it ends, so every
// jump goes further back and a loop is impossible: a pointer that would close one is refused.
// Returns the reason the name is invalid, or nullptr.
const char* read_name(std::span<const uint8_t> message, size_t& pos, Name& name) {
  name.size = 0;
  size_t at = pos;
  size_t stretch_start = pos;
  bool jumped = false;
  size_t octets = 0;
  for (;;) {
    if (at >= message.size()) return "name runs past the end of the message";
    uint8_t length = message[at];
    if ((length & 0xC0) == 0xC0) {
      if (at + 1 >= message.size()) return "compression pointer runs past the end of the message";
      size_t target = (size_t{length & 0x3Fu} << 8) | message[at + 1];
      if (target >= stretch_start) return "compression pointer does not point backwards (a loop)";
      if (!jumped) pos = at + 2;
      jumped = true;
      at = stretch_start = target;
      continue;
    }
    if ((length & 0xC0) != 0) return "label with a reserved type (bits 01 or 10)";
    octets += 1 + length;
    if (octets > kMaxNameOctets) return "name longer than 255 octets";
    if (length == 0) {
      if (!jumped) pos = at + 1;
      return nullptr;
    }
    if (message.size() - at - 1 < length) return "label runs past the end of the message";
    // octets <= 255 keeps the text (labels, dots between them) within the buffer.
    if (name.size != 0) name.text[name.size++] = '.';
    for (size_t i = 1; i <= length; ++i) {
      uint8_t c = message[at + i];
      if (c <= ' ' || c >= 0x7F || c == '.')
        return "label holds a dot, a space or a non-ASCII byte";
      name.text[name.size++] = static_cast<char>(c);
    }
    at += 1 + length;
  }
}

// Reads the name that makes up the rest of a record's rdata (CNAME, or SRV after its numbers):
// it must end exactly where the rdata ends.
const char* read_rdata_name(std::span<const uint8_t> message, size_t at, size_t end, Name& name) {
  if (const char* error = read_name(message.first(end), at, name)) return error;
  return at == end ? nullptr : "rdata continues after its name";
}

// Reads one resource record at `pos` and moves past it, checking the rdata of the types this
// parser interprets (class IN), so the later passes can read them without checks.
const char* read_record(std::span<const uint8_t> message, size_t& pos, Record& record) {
  if (const char* error = read_name(message, pos, record.owner)) return error;
  if (message.size() - pos < kRecordFixedSize) return "record runs past the end of the message";
  record.type = read_u16(message, pos);
  record.klass = read_u16(message, pos + 2);
  record.ttl = read_u32(message, pos + 4);
  if (record.ttl & 0x80000000u) record.ttl = 0;
  record.rdlength = read_u16(message, pos + 8);
  pos += kRecordFixedSize;
  if (message.size() - pos < record.rdlength) return "rdata runs past the end of the message";
  record.rdata = pos;
  pos += record.rdlength;
  if (record.klass != kDnsClassIn) return nullptr;
  Name name;
  switch (record.type) {
    case kDnsTypeA:
      return record.rdlength == 4 ? nullptr : "A record whose rdata is not 4 octets";
    case kDnsTypeAaaa:
      return record.rdlength == 16 ? nullptr : "AAAA record whose rdata is not 16 octets";
    case kDnsTypeCname:
      return read_rdata_name(message, record.rdata, pos, name);
    case kDnsTypeSrv:
      if (record.rdlength < kSrvFixedSize + 1) return "SRV record too short";
      return read_rdata_name(message, record.rdata + kSrvFixedSize, pos, name);
    default:
      return nullptr;
  }
}

// The record at `pos`, from a section the first pass has checked.
Record next_record(std::span<const uint8_t> message, size_t& pos) {
  Record record;
  read_record(message, pos, record);
  return record;
}

std::string rdata_name(std::span<const uint8_t> message, size_t at, size_t end) {
  Name name;
  read_rdata_name(message, at, end, name);
  return std::string(name.view());
}

std::string format_address(std::span<const uint8_t> message, const Record& record) {
  char text[INET6_ADDRSTRLEN];
  int family = record.type == kDnsTypeA ? AF_INET : AF_INET6;
  inet_ntop(family, message.data() + record.rdata, text, sizeof text);
  return text;
}

bool is_address(const Record& record) {
  return record.klass == kDnsClassIn && (record.type == kDnsTypeA || record.type == kDnsTypeAaaa);
}

}  // namespace

DnsParseResult parse_dns_response(std::span<const uint8_t> message) {
  DnsParseResult result;
  DnsResponse& response = result.response;
  if (message.size() < kHeaderSize) {
    result.error = "message shorter than a DNS header";
    return result;
  }
  uint16_t flags = read_u16(message, 2);
  if (!(flags & 0x8000)) {
    result.error = "not a response (QR bit clear)";
    return result;
  }
  if (((flags >> 11) & 0xF) != 0) {
    result.error = "opcode is not QUERY";
    return result;
  }
  response.id = read_u16(message, 0);
  response.rcode = static_cast<uint8_t>(flags & 0xF);
  response.truncated = (flags & 0x0200) != 0;
  uint16_t question_count = read_u16(message, 4);
  const uint16_t section_counts[3] = {read_u16(message, 6), read_u16(message, 8),
                                      read_u16(message, 10)};
  if (question_count != 1) {
    result.error = "expected one question, found " + std::to_string(question_count);
    return result;
  }

  size_t pos = kHeaderSize;
  Name question;
  if (const char* error = read_name(message, pos, question)) {
    result.error = std::string("question: ") + error;
    return result;
  }
  if (message.size() - pos < 4) {
    result.error = "question runs past the end of the message";
    return result;
  }
  response.question_name = std::string(question.view());
  response.question_type = read_u16(message, pos);
  pos += 4;

  // First pass: every record of every section must be sound.
  static constexpr const char* kSectionNames[3] = {"answer", "authority", "additional"};
  size_t section_starts[3];
  for (int section = 0; section < 3; ++section) {
    section_starts[section] = pos;
    for (uint16_t i = 0; i < section_counts[section]; ++i) {
      Record record;
      if (const char* error = read_record(message, pos, record)) {
        result.error =
            std::string(kSectionNames[section]) + " record " + std::to_string(i + 1) + ": " + error;
        return result;
      }
    }
  }
  if (pos != message.size()) {
    result.error = "bytes after the last record";
    return result;
  }

  // Follow the answer section's CNAME chain from the question name.
  const size_t answers = section_starts[0];
  const uint16_t answer_count = section_counts[0];
  Name canonical = question;
  if (response.question_type != kDnsTypeCname) {
    for (int hops = 0;; ++hops) {
      size_t at = answers;
      bool followed = false;
      for (uint16_t i = 0; i < answer_count && !followed; ++i) {
        Record record = next_record(message, at);
        if (record.klass != kDnsClassIn || record.type != kDnsTypeCname ||
            !names_equal(record.owner.view(), canonical.view())) {
          continue;
        }
        if (hops == kMaxCnameHops) {
          result.error = "CNAME chain longer than " + std::to_string(kMaxCnameHops) + " (a loop?)";
          return result;
        }
        read_rdata_name(message, record.rdata, record.rdata + record.rdlength, canonical);
        response.cname_ttl = std::min(response.cname_ttl, record.ttl);
        followed = true;
      }
      if (!followed) break;
    }
  }
  response.canonical_name = std::string(canonical.view());

  size_t at = answers;
  for (uint16_t i = 0; i < answer_count; ++i) {
    Record record = next_record(message, at);
    if (record.klass != kDnsClassIn || !names_equal(record.owner.view(), canonical.view())) {
      continue;
    }
    if (is_address(record)) {
      response.addresses.push_back({std::string(record.owner.view()),
                                    format_address(message, record), record.type, record.ttl});
    } else if (record.type == kDnsTypeSrv) {
      size_t end = record.rdata + record.rdlength;
      response.services.push_back(
          {rdata_name(message, record.rdata + kSrvFixedSize, end), read_u16(message, record.rdata),
           read_u16(message, record.rdata + 2), read_u16(message, record.rdata + 4), record.ttl});
    }
  }

  at = section_starts[2];
  for (uint16_t i = 0; i < section_counts[2]; ++i) {
    Record record = next_record(message, at);
    if (!is_address(record)) continue;
    response.additional.push_back({std::string(record.owner.view()),
                                   format_address(message, record), record.type, record.ttl});
  }
  return result;
}

}  // namespace waygate::discovery
