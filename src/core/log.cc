// Diagnostic log lines: "<utc time> <level> <message>\n" on stderr.
#include "core/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>

#include "core/clock.h"

namespace waygate {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};

}  // namespace

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

void log_set_level(LogLevel level) {
  g_level.store(level, std::memory_order_relaxed);
}

void log_message(LogLevel level, const char* format, ...) {
  if (level < g_level.load(std::memory_order_relaxed)) return;
  char line[2048];
  size_t used = format_utc_timestamp(line, sizeof(line));
  int n = std::snprintf(line + used, sizeof(line) - used, " %s ", log_level_name(level));
  if (n > 0) used += static_cast<size_t>(n);
  va_list args;
  va_start(args, format);
  size_t message = used;
  n = std::vsnprintf(line + used, sizeof(line) - used, format, args);
  va_end(args);
  if (n > 0) used = std::min(used + static_cast<size_t>(n), sizeof(line) - 1);
  // One event, one line: a line break (or another control byte) in a message, from a config value
  // or a peer's error text, would start a line a reader cannot parse.
  for (size_t i = message; i < used; ++i) {
    if (static_cast<unsigned char>(line[i]) < 0x20) line[i] = ' ';
  }
  line[used++] = '\n';
  ssize_t ignored = ::write(STDERR_FILENO, line, used);
  (void)ignored;
}

}  // namespace waygate
