// Wall-clock formatting for log lines.
#pragma once

#include <cstddef>
#include <ctime>
#include <string_view>

namespace waygate {

// Writes "2026-11-25T12:00:00.123Z" (24 chars) into buf; returns the length written.
size_t format_utc_timestamp(char* buf, size_t size);

// The same timestamp for a writer that logs often (one per thread): the date and time are formatted
// again only when the second changes, so a line costs a clock read and three digits.
class TimestampCache {
 public:
  std::string_view now();

 private:
  time_t second_ = -1;
  char text_[32] = {};
};

}  // namespace waygate
