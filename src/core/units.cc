#include "core/units.h"

#include <charconv>

namespace waygate {
namespace {

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

// Splits "<digits><suffix>" and scales by the suffix's factor, refusing overflow.
std::optional<uint64_t> parse_scaled(std::string_view text, std::initializer_list<Unit> units) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  std::string_view suffix(end, static_cast<size_t>(text.data() + text.size() - end));
  for (const Unit& unit : units) {
    if (suffix != unit.suffix) continue;
    if (unit.factor != 0 && value > UINT64_MAX / unit.factor) return std::nullopt;
    return value * unit.factor;
  }
  return std::nullopt;
}

}  // namespace

std::optional<uint64_t> parse_duration_ms(std::string_view text) {
  return parse_scaled(text,
                      {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}});
}

std::optional<uint64_t> parse_size_bytes(std::string_view text) {
  return parse_scaled(
      text, {{"", 1}, {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}});
}

}  // namespace waygate
