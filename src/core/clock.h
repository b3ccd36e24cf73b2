// Wall-clock formatting for log lines.
#pragma once

#include <cstddef>

namespace waygate {

// Writes "2026-11-25T12:00:00.123Z" (24 chars) into buf; returns the length written.
size_t format_utc_timestamp(char* buf, size_t size);

}  // namespace waygate
