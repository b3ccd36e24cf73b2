// The client side of an HTTP/2 connection as nghttp2 drives it, apart from what the connection is
// for: the session's settings and callbacks, the bytes in, and the bytes out through a Transport
// with a bound on what waits to be written. Shared by the proxy's upstream connections and the
// health checks of `protocol: http2` clusters, so both speak the same HTTP/2.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/transport.h"

typedef struct ssl_st SSL;

namespace waygate::http {

// What the session hears from the peer, by stream. Calls come from inside receive() (and, for
// stream closes, send()); the session may not be deleted during them.
class Http2ClientEvents {
 public:
  virtual void on_h2_header(int32_t stream_id, std::string_view name, std::string_view value) = 0;
  // A HEADERS frame (a response head or trailers) ended; end_stream: the response ended with it.
  virtual void on_h2_headers_end(int32_t stream_id, bool end_stream) = 0;
  // Response body bytes. The connection's window is acknowledged already; the stream's is the
  // handler's to acknowledge (nghttp2_session_consume_stream) as it takes them.
  virtual void on_h2_data(int32_t stream_id, std::string_view bytes) = 0;
  // A DATA frame ended the response.
  virtual void on_h2_data_end(int32_t stream_id) = 0;
  virtual void on_h2_stream_close(int32_t stream_id, uint32_t error_code) = 0;
  virtual void on_h2_goaway(int32_t last_stream_id) { (void)last_stream_id; }

 protected:
  ~Http2ClientEvents() = default;
};

class Http2ClientSession {
 public:
  explicit Http2ClientSession(Http2ClientEvents& events) : events_(events) {}
  ~Http2ClientSession();
  Http2ClientSession(const Http2ClientSession&) = delete;
  Http2ClientSession& operator=(const Http2ClientSession&) = delete;

  // Starts the session once `transport` is up (TLS handshake done): queues the preface and
  // SETTINGS (no push, `stream_window` per stream, the largest connection window).
  void start(Transport& transport, uint32_t stream_window);
  bool started() const { return session_ != nullptr; }
  nghttp2_session* get() const { return session_; }

  // Feeds the peer's bytes. 0, or UV_EPROTO when they break HTTP/2 (error() says how).
  int receive(std::string_view bytes);
  // Writes what nghttp2 has to send while the transport takes it at once. 0, a negative libuv
  // error from the transport, or UV_EPROTO when nghttp2 failed (error() says how). Afterwards
  // wants_flush() tells whether more waits to go that the transport could take now.
  int send();
  bool wants_flush() const;
  // Neither side has anything more to say: the connection may close.
  bool finished() const;
  const char* error() const { return error_; }

 private:
  static ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t length, int, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t name_length, const uint8_t* value, size_t value_length, uint8_t,
                       void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                           size_t length, void* self);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* self);

  Http2ClientEvents& events_;
  Transport* transport_ = nullptr;
  nghttp2_session* session_ = nullptr;
  std::string output_;
  const char* error_ = "";
};

// A TLS client session that offers ALPN `h2` alone; the endpoint must choose it.
void offer_alpn_h2(SSL* ssl);

}  // namespace waygate::http
