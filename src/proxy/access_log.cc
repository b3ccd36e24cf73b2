#include "proxy/access_log.h"

#include <unistd.h>

#include <cerrno>

namespace waygate::proxy {
namespace {

constexpr size_t kFlushThreshold = 32 * 1024;
// Room for the threshold and the line that crosses it: a buffer grows only for a line longer than
// the rest.
constexpr size_t kBufferCapacity = kFlushThreshold + 16 * 1024;
constexpr uint64_t kFlushIntervalMs = 200;

}  // namespace

void AccessLog::init(uv_loop_t* loop) {
  timer_.init(uv_timer_init, loop, this);
  uv_timer_start(timer_.get(), &AccessLog::on_flush_timer, kFlushIntervalMs, kFlushIntervalMs);
  uv_unref(timer_.handle());  // logging alone keeps no loop alive
}

void AccessLog::set_setup(std::shared_ptr<const AccessLogSetup> setup) {
  flush();
  setup_ = std::move(setup);
  pending_.resize(setup_ ? setup_->files.size() : 0);
  for (PendingLines& lines : pending_)
    lines.bytes.resize(kBufferCapacity);
}

void AccessLog::write(uint32_t listener_slot, AccessLogEntry& entry) {
  const AccessLogSetup::Listener& listener = setup_->listeners[listener_slot];
  auto file = static_cast<size_t>(listener.file);
  PendingLines& lines = pending_[file];
  entry.time = timestamp_.now();
  entry.listener = listener.name;
  size_t bound = listener.json ? json_line_bound(entry) : text_line_bound(listener.pieces, entry);
  // Only a line longer than the room past the threshold grows the string, once.
  if (lines.used + bound > lines.bytes.size()) lines.bytes.resize(lines.used + bound);
  char* at = lines.bytes.data() + lines.used;
  char* end =
      listener.json ? write_json_line(at, entry) : write_text_line(at, listener.pieces, entry);
  lines.used = static_cast<size_t>(end - lines.bytes.data());
  if (lines.used >= kFlushThreshold) flush(file);
}

void AccessLog::flush() {
  for (size_t file = 0; file < pending_.size(); ++file) {
    if (pending_[file].used != 0) flush(file);
  }
}

void AccessLog::flush(size_t file) {
  PendingLines& lines = pending_[file];
  std::string_view bytes(lines.bytes.data(), lines.used);
  const AccessLogFile& log_file = *setup_->files[file];
  size_t start = 0;
  while (start < bytes.size()) {
    size_t end = bytes.size() - start > log_file.write_block() ? start + log_file.write_block()
                                                               : bytes.size();
    if (end < bytes.size()) {
      size_t newline = bytes.rfind('\n', end - 1);
      if (newline != std::string_view::npos && newline >= start) end = newline + 1;
    }
    ssize_t written = ::write(log_file.fd(), bytes.data() + start, end - start);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) break;  // a log that cannot be written must not stop the proxy
    start += static_cast<size_t>(written);
  }
  lines.used = 0;
}

void AccessLog::close() {
  if (!timer_) return;
  flush();
  timer_.reset();
}

void AccessLog::on_flush_timer(uv_timer_t* timer) {
  static_cast<AccessLog*>(timer->data)->flush();
}

}  // namespace waygate::proxy
