// Reason phrases (RFC 9110 section 15) for the statuses waygate writes itself; "Unknown" else.
#pragma once

#include <cstdint>
#include <string_view>

namespace waygate::http {

std::string_view reason_phrase(uint16_t status);

}  // namespace waygate::http
