#include "proxy/access_log.h"

#include <unistd.h>

#include <charconv>

#include "core/clock.h"

namespace waygate::proxy {
namespace {

constexpr size_t kFlushThreshold = 32 * 1024;
constexpr uint64_t kFlushIntervalMs = 200;
// Writes of at most PIPE_BUF bytes are atomic on a pipe, so lines from workers never interleave.
constexpr size_t kWriteBlock = 4096;

void append_number(std::string& out, uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

}  // namespace

void AccessLog::init(uv_loop_t* loop, int fd) {
  fd_ = fd;
  if (fd_ < 0) return;
  timer_.init(uv_timer_init, loop, this);
  uv_timer_start(timer_.get(), &AccessLog::on_flush_timer, kFlushIntervalMs, kFlushIntervalMs);
  uv_unref(timer_.handle());  // logging alone keeps no loop alive
}

void AccessLog::write(const AccessLogEntry& e) {
  if (fd_ < 0) return;
  // Appended piece by piece (no printf): a line costs well under a microsecond. Every field is
  // wire input the parser has already held to visible text, so none can break the line.
  std::string& out = buffer_;
  out.append(timestamp_.now()).push_back(' ');
  out.append(e.client).append(" \"").append(e.method).push_back(' ');
  out.append(e.target.substr(0, 200)).append(" HTTP/1.");
  append_number(out, e.version_minor);
  out.append("\" ");
  append_number(out, e.status);
  out.push_back(' ');
  append_number(out, e.bytes_sent);
  out.push_back(' ');
  uint64_t micros = e.duration_ns / 1000;
  append_number(out, micros / 1000);
  char fraction[4] = {'.', static_cast<char>('0' + micros / 100 % 10),
                      static_cast<char>('0' + micros / 10 % 10),
                      static_cast<char>('0' + micros % 10)};
  out.append(fraction, 4).append("ms host=").append(e.host.substr(0, 100));
  out.append(" cluster=").append(e.cluster).append(" upstream=").append(e.upstream);
  out.append(" id=").append(e.request_id.substr(0, 64)).append(" error=").append(e.error);
  out.push_back('\n');
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
  if (!timer_) return;
  flush();
  timer_.reset();
}

void AccessLog::on_flush_timer(uv_timer_t* timer) {
  auto* self = static_cast<AccessLog*>(timer->data);
  if (!self->buffer_.empty()) self->flush();
}

}  // namespace waygate::proxy
