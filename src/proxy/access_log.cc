#include "proxy/access_log.h"

#include <unistd.h>

#include <cstdio>

#include "core/clock.h"

namespace waygate::proxy {
namespace {

constexpr size_t kFlushThreshold = 32 * 1024;
constexpr uint64_t kFlushIntervalMs = 200;
// Writes of at most PIPE_BUF bytes are atomic on a pipe, so lines from workers never interleave.
constexpr size_t kWriteBlock = 4096;

}  // namespace

void AccessLog::init(uv_loop_t* loop, int fd) {
  fd_ = fd;
  if (fd_ < 0) return;
  uv_timer_init(loop, &timer_);
  timer_.data = this;
  uv_timer_start(&timer_, &AccessLog::on_flush_timer, kFlushIntervalMs, kFlushIntervalMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));  // logging alone keeps no loop alive
  timer_open_ = true;
}

void AccessLog::write(const AccessLogEntry& e) {
  if (fd_ < 0) return;
  char time[32];
  format_utc_timestamp(time, sizeof(time));
  char line[512];
  int n = std::snprintf(
      line, sizeof(line),
      "%s %.*s \"%.*s %.*s HTTP/1.%u\" %u %llu %.3fms host=%.*s cluster=%.*s "
      "upstream=%.*s id=%.*s error=%.*s\n",
      time, static_cast<int>(e.client.size()), e.client.data(), static_cast<int>(e.method.size()),
      e.method.data(), static_cast<int>(std::min<size_t>(e.target.size(), 200)), e.target.data(),
      static_cast<unsigned>(e.version_minor), static_cast<unsigned>(e.status),
      static_cast<unsigned long long>(e.bytes_sent), static_cast<double>(e.duration_ns) / 1e6,
      static_cast<int>(std::min<size_t>(e.host.size(), 100)), e.host.data(),
      static_cast<int>(e.cluster.size()), e.cluster.data(), static_cast<int>(e.upstream.size()),
      e.upstream.data(), static_cast<int>(std::min<size_t>(e.request_id.size(), 64)),
      e.request_id.data(), static_cast<int>(e.error.size()), e.error.data());
  if (n <= 0) return;
  size_t length = std::min(static_cast<size_t>(n), sizeof(line) - 1);
  if (line[length - 1] != '\n') line[length - 1] = '\n';  // truncated: still one line
  buffer_.append(line, length);
  if (buffer_.size() >= kFlushThreshold) flush();
}

void AccessLog::flush() {
  size_t start = 0;
  while (start < buffer_.size()) {
    size_t end = std::min(buffer_.size(), start + kWriteBlock);
    if (end < buffer_.size()) {
      size_t newline = buffer_.rfind('\n', end - 1);
      if (newline != std::string::npos && newline >= start) end = newline + 1;
    }
    ssize_t written = ::write(fd_, buffer_.data() + start, end - start);
    if (written <= 0) break;  // a log that cannot be written must not stop the proxy
    start += static_cast<size_t>(written);
  }
  buffer_.clear();
}

void AccessLog::close() {
  if (!timer_open_) return;
  flush();
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  timer_open_ = false;
}

void AccessLog::on_flush_timer(uv_timer_t* timer) {
  auto* self = static_cast<AccessLog*>(timer->data);
  if (!self->buffer_.empty()) self->flush();
}

}  // namespace waygate::proxy
