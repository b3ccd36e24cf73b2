// The byte stream beneath a codec: plain TCP today, TLS beside it later. A codec (the HTTP/1
// server connection, the upstream client) reads and writes through a Transport and hears back
// through a TransportSink, so it never knows whether the bytes are encrypted on the wire.
#pragma once

#include <uv.h>

#include <cstddef>
#include <span>
#include <string_view>

namespace waygate {

class TransportSink {
 public:
  // Bytes arrived. The view is valid during the call only (it points into the loop's read
  // buffer); keep what you need by copying it.
  virtual void on_transport_read(std::string_view bytes) = 0;
  // The peer closed (UV_EOF) or the connection failed (another negative libuv error).
  virtual void on_transport_eof(int status) = 0;
  // Every queued byte has been written (status 0), or writing failed (status < 0).
  virtual void on_transport_drained(int status) = 0;
  // A connect started by the codec finished (status 0) or failed.
  virtual void on_transport_connected(int status) { (void)status; }

 protected:
  ~TransportSink() = default;
};

class Transport {
 public:
  // Takes the bytes, copying only what cannot be written at once. Returns a negative libuv error
  // once the transport has failed, else 0.
  virtual int write(std::span<const uv_buf_t> bufs) = 0;
  int write(std::string_view bytes) {
    uv_buf_t buf =
        uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
    return write(std::span<const uv_buf_t>(&buf, 1));
  }
  // Bytes taken but not yet handed to the kernel: the codec's backpressure signal.
  virtual size_t pending_bytes() const = 0;
  // Reading on or off; a transport starts with reading off.
  virtual void set_reading(bool on) = 0;
  // Sends the end of the stream (FIN) once every queued byte is written; reading goes on.
  virtual void shutdown() = 0;
  // Whether the bytes are encrypted on the wire (X-Forwarded-Proto: https).
  virtual bool secure() const = 0;

 protected:
  ~Transport() = default;
};

}  // namespace waygate
