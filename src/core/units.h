// Parsing of the human units the config uses: durations ("500ms", "2s", "1m") and sizes ("64KiB").
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace waygate {

// Milliseconds, or nullopt when the text is not "<digits><ms|s|m|h>".
std::optional<uint64_t> parse_duration_ms(std::string_view text);

// Bytes, or nullopt when the text is not "<digits>[B|KiB|MiB|GiB]".
std::optional<uint64_t> parse_size_bytes(std::string_view text);

}  // namespace waygate
