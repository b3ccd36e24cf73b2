// OpenSSL reports errors on a per-thread queue; waygate turns the oldest into a short reason for
// its logs ("no shared cipher") and leaves the queue empty for the next operation.
#pragma once

#include <openssl/err.h>

#include <string>

namespace waygate {

// The reason of the oldest error on the queue, which is then cleared; `fallback` when empty.
inline std::string take_openssl_error(const char* fallback) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return fallback;
  if (const char* reason = ERR_reason_error_string(code)) return reason;
  char buffer[256];
  ERR_error_string_n(code, buffer, sizeof(buffer));
  return buffer;
}

}  // namespace waygate
