// DNS messages written byte by byte, for the parser's tests and the resolver's fake servers. Each
// helper appends one field (or one whole record after its owner name) to a message.
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "discovery/dns_message.h"

namespace waygate::discovery::test {

using Bytes = std::vector<uint8_t>;

inline constexpr uint16_t kResponseFlags = 0x8180;  // QR, RD, RA; NOERROR
inline constexpr uint16_t kQuestionOffset = 12;     // where the (first) question name starts

inline void put16(Bytes& m, uint16_t value) {
  m.push_back(static_cast<uint8_t>(value >> 8));
  m.push_back(static_cast<uint8_t>(value));
}

inline void put32(Bytes& m, uint32_t value) {
  put16(m, static_cast<uint16_t>(value >> 16));
  put16(m, static_cast<uint16_t>(value));
}

inline Bytes header(uint16_t id, uint16_t flags, uint16_t questions, uint16_t answers,
                    uint16_t authority = 0, uint16_t additional = 0) {
  Bytes m;
  for (uint16_t field : {id, flags, questions, answers, authority, additional})
    put16(m, field);
  return m;
}

// "web.test" as labels, without the root label, so a pointer may follow.
inline void put_labels(Bytes& m, std::string_view dotted) {
  while (!dotted.empty()) {
    size_t dot = dotted.find('.');
    std::string_view label = dotted.substr(0, dot);
    m.push_back(static_cast<uint8_t>(label.size()));
    m.insert(m.end(), label.begin(), label.end());
    dotted = dot == std::string_view::npos ? std::string_view() : dotted.substr(dot + 1);
  }
}

// A whole name: its labels and the root label ("" is the root alone).
inline void put_name(Bytes& m, std::string_view dotted) {
  put_labels(m, dotted);
  m.push_back(0);
}

inline void put_pointer(Bytes& m, uint16_t offset) {
  put16(m, static_cast<uint16_t>(0xC000 | offset));
}

inline void put_question(Bytes& m, std::string_view name, uint16_t type) {
  put_name(m, name);
  put16(m, type);
  put16(m, kDnsClassIn);
}

// Type, class, TTL and rdlength: what follows a record's owner name.
inline void put_fields(Bytes& m, uint16_t type, uint32_t ttl, uint16_t rdlength,
                       uint16_t klass = kDnsClassIn) {
  put16(m, type);
  put16(m, klass);
  put32(m, ttl);
  put16(m, rdlength);
}

inline void put_a(Bytes& m, uint32_t ttl, const char* address) {
  put_fields(m, kDnsTypeA, ttl, 4);
  uint8_t bytes[4];
  inet_pton(AF_INET, address, bytes);
  m.insert(m.end(), bytes, bytes + 4);
}

inline void put_aaaa(Bytes& m, uint32_t ttl, const char* address) {
  put_fields(m, kDnsTypeAaaa, ttl, 16);
  uint8_t bytes[16];
  inet_pton(AF_INET6, address, bytes);
  m.insert(m.end(), bytes, bytes + 16);
}

inline void put_cname(Bytes& m, uint32_t ttl, std::string_view target) {
  Bytes name;
  put_name(name, target);
  put_fields(m, kDnsTypeCname, ttl, static_cast<uint16_t>(name.size()));
  m.insert(m.end(), name.begin(), name.end());
}

inline void put_srv(Bytes& m, uint32_t ttl, uint16_t priority, uint16_t weight, uint16_t port,
                    std::string_view target) {
  Bytes name;
  put_name(name, target);
  put_fields(m, kDnsTypeSrv, ttl, static_cast<uint16_t>(6 + name.size()));
  put16(m, priority);
  put16(m, weight);
  put16(m, port);
  m.insert(m.end(), name.begin(), name.end());
}

}  // namespace waygate::discovery::test
