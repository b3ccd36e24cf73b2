// Reason phrases for the statuses waygate produces itself.
#pragma once

#include <cstdint>
#include <string_view>

namespace waygate::http {

std::string_view reason_phrase(uint16_t status);

}  // namespace waygate::http
