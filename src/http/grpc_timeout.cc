#include "http/grpc_timeout.h"

#include <charconv>

namespace waygate::http {

std::optional<uint64_t> parse_grpc_timeout_ms(std::string_view value) {
  constexpr size_t kMaxDigits = 8;
  if (value.size() < 2 || value.size() > kMaxDigits + 1) return std::nullopt;
  std::string_view digits = value.substr(0, value.size() - 1);
  uint64_t amount = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), amount);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  switch (value.back()) {
    case 'H':
      return amount * 3'600'000;
    case 'M':
      return amount * 60'000;
    case 'S':
      return amount * 1'000;
    case 'm':
      return amount;
    case 'u':
      return (amount + 999) / 1'000;
    case 'n':
      return (amount + 999'999) / 1'000'000;
    default:
      return std::nullopt;
  }
}

}  // namespace waygate::http
