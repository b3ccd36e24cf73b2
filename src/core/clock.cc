#include "core/clock.h"

#include <time.h>

#include <cstdio>

namespace waygate {

size_t format_utc_timestamp(char* buf, size_t size) {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  int n = std::snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", utc.tm_year + 1900,
                        utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                        now.tv_nsec / 1000000);
  return n < 0 ? 0 : static_cast<size_t>(n) < size ? static_cast<size_t>(n) : size - 1;
}

}  // namespace waygate

namespace waygate {

std::string_view TimestampCache::now() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  if (now.tv_sec != second_) {
    second_ = now.tv_sec;
    format_utc_timestamp(text_, sizeof(text_));
  }
  long millis = now.tv_nsec / 1000000;
  text_[20] = static_cast<char>('0' + millis / 100);
  text_[21] = static_cast<char>('0' + millis / 10 % 10);
  text_[22] = static_cast<char>('0' + millis % 10);
  return std::string_view(text_, 24);
}

}  // namespace waygate
