// Standard base64 (RFC 4648, with padding), as etcd's JSON gateway writes keys and values.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace waygate::discovery {

std::string base64_encode(std::string_view bytes);
// The decoded bytes, or nullopt for anything but canonical padded base64: a byte outside the
// alphabet, a length that is not a multiple of 4, padding anywhere but at the end, or bits set
// past the last byte.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace waygate::discovery
