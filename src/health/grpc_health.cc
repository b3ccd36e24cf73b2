#include "health/grpc_health.h"

#include <cstdint>
#include <optional>

namespace waygate::health {
namespace {

constexpr uint8_t kWireVarint = 0;
constexpr uint8_t kWireFixed64 = 1;
constexpr uint8_t kWireLengthDelimited = 2;
constexpr uint8_t kWireFixed32 = 5;
constexpr uint64_t kServing = 1;           // HealthCheckResponse.ServingStatus.SERVING
constexpr size_t kMessagePrefixBytes = 5;  // compressed flag, 4-byte big-endian length

void append_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

std::optional<uint64_t> read_varint(std::string_view& in) {
  uint64_t value = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    auto byte = static_cast<uint8_t>(in.front());
    in.remove_prefix(1);
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  return std::nullopt;
}

// HealthCheckResponse.status (field 1, a varint); UNKNOWN (0) when absent, as protobuf reads it.
std::optional<uint64_t> read_status(std::string_view message) {
  uint64_t status = 0;
  while (!message.empty()) {
    auto tag = read_varint(message);
    if (!tag) return std::nullopt;
    uint64_t skip = 0;
    switch (*tag & 7) {
      case kWireVarint: {
        auto value = read_varint(message);
        if (!value) return std::nullopt;
        if (*tag >> 3 == 1) status = *value;
        continue;
      }
      case kWireFixed64:
        skip = 8;
        break;
      case kWireLengthDelimited: {
        auto length = read_varint(message);
        if (!length) return std::nullopt;
        skip = *length;
        break;
      }
      case kWireFixed32:
        skip = 4;
        break;
      default:
        return std::nullopt;
    }
    if (skip > message.size()) return std::nullopt;
    message.remove_prefix(skip);
  }
  return status;
}

}  // namespace

std::string grpc_health_request(std::string_view service) {
  std::string message;
  if (!service.empty()) {
    message.push_back(static_cast<char>(1 << 3 | kWireLengthDelimited));  // field 1: service
    append_varint(message, service.size());
    message.append(service);
  }
  std::string framed(1, '\0');  // not compressed
  for (int shift = 24; shift >= 0; shift -= 8)
    framed.push_back(static_cast<char>((message.size() >> shift) & 0xff));
  return framed + message;
}

const char* grpc_health_failure(int http_status, std::string_view grpc_status,
                                std::string_view messages) {
  if (http_status != 200) return "unexpected-status";
  if (grpc_status != "0") return grpc_status.empty() ? "malformed" : "grpc-error";
  if (messages.size() < kMessagePrefixBytes || messages[0] != '\0') return "malformed";
  size_t length = 0;
  for (size_t i = 1; i < kMessagePrefixBytes; ++i)
    length = length << 8 | static_cast<uint8_t>(messages[i]);
  if (messages.size() - kMessagePrefixBytes < length) return "malformed";
  auto status = read_status(messages.substr(kMessagePrefixBytes, length));
  if (!status) return "malformed";
  return *status == kServing ? nullptr : "not-serving";
}

}  // namespace waygate::health
