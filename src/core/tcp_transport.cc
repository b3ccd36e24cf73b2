#include "core/tcp_transport.h"

#include <array>
#include <memory>

namespace waygate {
namespace {

constexpr size_t kReadBufferBytes = 64 * 1024;

}  // namespace

void allocate_thread_read_buffer(uv_handle_t*, size_t, uv_buf_t* buf) {
  // Allocated on first use, so threads that never read (the process's helpers) cost nothing.
  thread_local std::unique_ptr<std::array<char, kReadBufferBytes>> buffer;
  if (!buffer) buffer = std::make_unique<std::array<char, kReadBufferBytes>>();
  *buf = uv_buf_init(buffer->data(), static_cast<unsigned>(buffer->size()));
}

TcpTransport::TcpTransport(uv_loop_t* loop, TransportSink& sink)
    : sink_(&sink), writer_(&TcpTransport::on_written, this) {
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
  writer_.attach(stream());
}

int TcpTransport::connect(const sockaddr* address) {
  connect_request_ = std::make_unique<uv_connect_t>();
  connect_request_->data = this;
  int rc = uv_tcp_connect(connect_request_.get(), &tcp_, address, &TcpTransport::on_connect);
  if (rc < 0) connect_request_.reset();
  return rc;
}

void TcpTransport::accepted() {
  uv_tcp_nodelay(&tcp_, 1);
}

void TcpTransport::on_connect(uv_connect_t* request, int status) {
  auto* self = static_cast<TcpTransport*>(request->data);
  self->connect_request_.reset();  // libuv is done with it
  if (status == 0) uv_tcp_nodelay(&self->tcp_, 1);
  self->sink_->on_transport_connected(status);
}

void TcpTransport::set_reading(bool on) {
  if (on == reading_ || uv_is_closing(handle())) return;
  if (on) {
    // Fails on a handle not yet accepted or connected; the flag stays off so a later call retries.
    if (uv_read_start(stream(), &allocate_thread_read_buffer, &TcpTransport::on_read) != 0) return;
  } else {
    uv_read_stop(stream());
  }
  reading_ = on;
}

void TcpTransport::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<TcpTransport*>(stream->data);
  if (nread > 0) {
    self->sink_->on_transport_read(std::string_view(buf->base, static_cast<size_t>(nread)));
  } else if (nread < 0) {
    // libuv stops reading by itself after EOF; keep our flag in step.
    uv_read_stop(stream);
    self->reading_ = false;
    self->sink_->on_transport_eof(static_cast<int>(nread));
  }
}

void TcpTransport::on_written(void* self_ptr, int status) {
  auto* self = static_cast<TcpTransport*>(self_ptr);
  self->sink_->on_transport_drained(status);
}

void TcpTransport::shutdown() {
  if (shutdown_request_ || uv_is_closing(handle())) return;
  shutdown_request_ = std::make_unique<uv_shutdown_t>();
  // libuv sends the FIN after the writes already queued; a failure shows up as a read error. The
  // request is kept until the transport goes: it is needed once per connection at most.
  uv_shutdown(shutdown_request_.get(), stream(), &TcpTransport::on_shutdown);
}

void TcpTransport::on_shutdown(uv_shutdown_t*, int) {}

}  // namespace waygate
