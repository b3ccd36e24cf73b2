// The per-worker access log: lines are formatted into a buffer per file and written in blocks
// (when one fills, and a few times a second), so logging costs no system call per request. The
// files and what each listener writes come from the control thread as an AccessLogSetup.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/uv_handle.h"
#include "proxy/access_log_line.h"
#include "proxy/access_log_setup.h"

namespace waygate::proxy {

class AccessLog {
 public:
  void init(uv_loop_t* loop);
  // Takes a new setup; what was buffered for the files of the old one is written to them first.
  void set_setup(std::shared_ptr<const AccessLogSetup> setup);
  // Whether requests on the listener with this metrics slot are logged.
  bool enabled(uint32_t listener_slot) const {
    return setup_ && listener_slot < setup_->listeners.size() &&
           setup_->listeners[listener_slot].file >= 0;
  }
  // Fills in the entry's time and listener. Only for an enabled listener.
  void write(uint32_t listener_slot, AccessLogEntry& entry);
  void flush();
  // Flushes and closes the flush timer (worker shutdown).
  void close();

 private:
  static void on_flush_timer(uv_timer_t* timer);
  void flush(size_t file);

  // A file's lines not yet written. The string is kept at its full size and `used` counts the
  // bytes of lines, so a line is written straight into the room after them: resizing a string
  // would first fill that room with zeros.
  struct PendingLines {
    std::string bytes;
    size_t used = 0;
  };

  UvHandle<uv_timer_t> timer_;
  TimestampCache timestamp_;
  std::shared_ptr<const AccessLogSetup> setup_;
  std::vector<PendingLines> pending_;  // by file index in the setup
};

}  // namespace waygate::proxy
