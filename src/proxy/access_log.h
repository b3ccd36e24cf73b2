// The per-worker access log: lines are formatted into a buffer and written in blocks (when it
// fills, and a few times a second), so logging costs no system call per request.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/uv_handle.h"

namespace waygate::proxy {

struct AccessLogEntry {
  std::string_view client;
  std::string_view method;  // "-" when the request line could not be parsed
  std::string_view target;
  uint8_t version_minor;
  uint16_t status;
  uint64_t bytes_sent;
  uint64_t duration_ns;
  std::string_view host;
  std::string_view cluster;
  std::string_view upstream;
  std::string_view request_id;
  std::string_view error;
};

class AccessLog {
 public:
  // fd < 0 turns logging off. The fd is shared by all workers and not owned.
  void init(uv_loop_t* loop, int fd);
  void write(const AccessLogEntry& entry);
  void flush();
  // Flushes and closes the flush timer (worker shutdown).
  void close();

 private:
  static void on_flush_timer(uv_timer_t* timer);

  UvHandle<uv_timer_t> timer_;
  TimestampCache timestamp_;
  std::string buffer_;
  int fd_ = -1;
};

}  // namespace waygate::proxy
