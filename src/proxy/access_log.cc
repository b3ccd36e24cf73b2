#include "proxy/access_log.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace waygate::proxy {
namespace {

constexpr size_t kFlushThreshold = 32 * 1024;
// Room for the threshold and the line that crosses it: a buffer never grows once reserved.
constexpr size_t kBufferCapacity = kFlushThreshold + 16 * 1024;
constexpr uint64_t kFlushIntervalMs = 200;
// Writes of at most PIPE_BUF bytes are atomic on a pipe, so lines from workers never interleave.
constexpr size_t kWriteBlock = 4096;

}  // namespace

void AccessLog::init(uv_loop_t* loop) {
  timer_.init(uv_timer_init, loop, this);
  uv_timer_start(timer_.get(), &AccessLog::on_flush_timer, kFlushIntervalMs, kFlushIntervalMs);
  uv_unref(timer_.handle());  // logging alone keeps no loop alive
}

void AccessLog::set_setup(std::shared_ptr<const AccessLogSetup> setup) {
  flush();
  setup_ = std::move(setup);
  buffers_.resize(setup_ ? setup_->files.size() : 0);
  for (std::string& buffer : buffers_)
    buffer.reserve(kBufferCapacity);
}

void AccessLog::write(uint32_t listener_slot, AccessLogEntry& entry) {
  const AccessLogSetup::Listener& listener = setup_->listeners[listener_slot];
  auto file = static_cast<size_t>(listener.file);
  std::string& out = buffers_[file];
  entry.time = timestamp_.now();
  entry.listener = listener.name;
  if (listener.json) {
    append_json_line(out, entry);
  } else {
    append_text_line(out, listener.pieces, entry);
  }
  if (out.size() >= kFlushThreshold) flush(file);
}

void AccessLog::flush() {
  for (size_t file = 0; file < buffers_.size(); ++file) {
    if (!buffers_[file].empty()) flush(file);
  }
}

void AccessLog::flush(size_t file) {
  std::string& buffer = buffers_[file];
  int fd = setup_->files[file]->fd();
  size_t start = 0;
  while (start < buffer.size()) {
    size_t end = std::min(buffer.size(), start + kWriteBlock);
    if (end < buffer.size()) {
      size_t newline = buffer.rfind('\n', end - 1);
      if (newline != std::string::npos && newline >= start) end = newline + 1;
    }
    ssize_t written = ::write(fd, buffer.data() + start, end - start);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) break;  // a log that cannot be written must not stop the proxy
    start += static_cast<size_t>(written);
  }
  buffer.clear();
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
