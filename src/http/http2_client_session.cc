#include "http/http2_client_session.h"

#include <openssl/ssl.h>
#include <uv.h>

#include <iterator>

namespace waygate::http {
namespace {

// How much output nghttp2 may queue toward the peer before it waits for the socket.
constexpr size_t kMaxQueuedOutput = 256 * 1024;
// The connection's receive window, acknowledged on receipt: each stream's window bounds what it
// holds, so one slow reader stalls no other stream.
constexpr int32_t kConnectionWindow = 0x7fffffff;
// Rounds of nghttp2_session_send per send(): enough to empty a small queue, bounded so that a
// peer's window updates cannot keep one call going.
constexpr int kSendRounds = 8;
constexpr uint8_t kAlpnH2[] = {2, 'h', '2'};

std::string_view view(const uint8_t* data, size_t length) {
  return {reinterpret_cast<const char*>(data), length};
}

}  // namespace

Http2ClientSession::~Http2ClientSession() {
  nghttp2_session_del(session_);
}

void Http2ClientSession::start(Transport& transport, uint32_t stream_window) {
  transport_ = &transport;
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_send_callback(callbacks, &Http2ClientSession::on_send);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &Http2ClientSession::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks,
                                                       &Http2ClientSession::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                            &Http2ClientSession::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
                                                         &Http2ClientSession::on_stream_close);
  nghttp2_option* options = nullptr;
  nghttp2_option_new(&options);
  // A stream's bytes are acknowledged as its reader takes them (Http2ClientEvents::on_h2_data).
  nghttp2_option_set_no_auto_window_update(options, 1);
  nghttp2_session_client_new2(&session_, callbacks, this, options);
  nghttp2_option_del(options);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, stream_window},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
}

int Http2ClientSession::receive(std::string_view bytes) {
  ssize_t rc = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(bytes.data()),
                                        bytes.size());
  if (rc >= 0) return 0;
  error_ = nghttp2_strerror(static_cast<int>(rc));
  return UV_EPROTO;
}

int Http2ClientSession::send() {
  for (int round = 0; round < kSendRounds; ++round) {
    int rc = nghttp2_session_send(session_);
    if (rc != 0) {
      error_ = nghttp2_strerror(rc);
      return UV_EPROTO;
    }
    if (output_.empty()) break;
    int written = transport_->write(output_);
    output_.clear();
    if (written < 0) return written;
    if (transport_->pending_bytes() > 0) break;  // the transport's drain goes on
  }
  return 0;
}

bool Http2ClientSession::wants_flush() const {
  return transport_->pending_bytes() == 0 && nghttp2_session_want_write(session_);
}

bool Http2ClientSession::finished() const {
  return !nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_);
}

ssize_t Http2ClientSession::on_send(nghttp2_session*, const uint8_t* data, size_t length, int,
                                    void* self) {
  auto* session = static_cast<Http2ClientSession*>(self);
  if (session->output_.size() + session->transport_->pending_bytes() > kMaxQueuedOutput) {
    return NGHTTP2_ERR_WOULDBLOCK;
  }
  session->output_.append(reinterpret_cast<const char*>(data), length);
  return static_cast<ssize_t>(length);
}

int Http2ClientSession::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                                  size_t name_length, const uint8_t* value, size_t value_length,
                                  uint8_t, void* self) {
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  static_cast<Http2ClientSession*>(self)->events_.on_h2_header(
      frame->hd.stream_id, view(name, name_length), view(value, value_length));
  return 0;
}

int Http2ClientSession::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  Http2ClientEvents& events = static_cast<Http2ClientSession*>(self)->events_;
  bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    events.on_h2_goaway(frame->goaway.last_stream_id);
  } else if (frame->hd.type == NGHTTP2_HEADERS) {
    events.on_h2_headers_end(frame->hd.stream_id, end_stream);
  } else if (frame->hd.type == NGHTTP2_DATA && end_stream) {
    events.on_h2_data_end(frame->hd.stream_id);
  }
  return 0;
}

int Http2ClientSession::on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id,
                                      const uint8_t* data, size_t length, void* self) {
  auto* session = static_cast<Http2ClientSession*>(self);
  nghttp2_session_consume_connection(session->session_, length);
  session->events_.on_h2_data(stream_id, view(data, length));
  return 0;
}

int Http2ClientSession::on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                                        void* self) {
  static_cast<Http2ClientSession*>(self)->events_.on_h2_stream_close(stream_id, error_code);
  return 0;
}

void offer_alpn_h2(SSL* ssl) {
  SSL_set_alpn_protos(ssl, kAlpnH2, sizeof(kAlpnH2));
}

}  // namespace waygate::http
