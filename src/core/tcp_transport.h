// A Transport over a libuv TCP handle. The handle is embedded here; its owner closes it through
// handle() (with HandleOwner) and stays alive until the close callback, so pending writes,
// connects and shutdowns always find this object.
#pragma once

#include <uv.h>

#include <memory>

#include "core/stream_writer.h"
#include "core/transport.h"

namespace waygate {

class TcpTransport final : public Transport {
 public:
  TcpTransport(uv_loop_t* loop, TransportSink& sink);

  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&tcp_); }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  uv_tcp_t* tcp() { return &tcp_; }

  // Client side: connects, then calls sink.on_transport_connected. Returns a libuv error when the
  // connect cannot even start (no callback follows then).
  int connect(const sockaddr* address);
  // Server side, after uv_accept: TCP_NODELAY, and the peer's address for the logs.
  void accepted();

  int write(std::span<const uv_buf_t> bufs) override { return writer_.write(bufs); }
  using Transport::write;
  size_t pending_bytes() const override { return writer_.pending_bytes(); }
  void set_reading(bool on) override;
  void shutdown() override;
  bool secure() const override { return false; }

  bool reading() const { return reading_; }
  // Hands the connection's events to another sink: a TLS layer takes the TCP bytes this way.
  void set_sink(TransportSink& sink) { sink_ = &sink; }

 private:
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_written(void* self, int status);
  static void on_connect(uv_connect_t* request, int status);
  static void on_shutdown(uv_shutdown_t* request, int status);

  uv_tcp_t tcp_;
  TransportSink* sink_;
  StreamWriter writer_;
  // Allocated only while in use, so an idle connection does not carry them.
  std::unique_ptr<uv_connect_t> connect_request_;
  std::unique_ptr<uv_shutdown_t> shutdown_request_;
  bool reading_ = false;
};

// uv_alloc_cb for every stream: reads land in one buffer per thread (a loop runs on one thread)
// and are handled before the next read, so an idle connection holds no read buffer.
void allocate_thread_read_buffer(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);

}  // namespace waygate
