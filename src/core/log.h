// Process-wide diagnostic logging to stderr: one write(2) per line so lines from threads never mix.
#pragma once

namespace waygate {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

void log_set_level(LogLevel level);
// "debug", "info", "warn", "error": as the config and each log line name the level.
const char* log_level_name(LogLevel level);
void log_message(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace waygate

#define WG_LOG_INFO(...) ::waygate::log_message(::waygate::LogLevel::kInfo, __VA_ARGS__)
#define WG_LOG_WARN(...) ::waygate::log_message(::waygate::LogLevel::kWarn, __VA_ARGS__)
#define WG_LOG_ERROR(...) ::waygate::log_message(::waygate::LogLevel::kError, __VA_ARGS__)
#define WG_LOG_DEBUG(...) ::waygate::log_message(::waygate::LogLevel::kDebug, __VA_ARGS__)
