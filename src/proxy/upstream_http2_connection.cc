#include "proxy/upstream_http2_connection.h"

#include <algorithm>

#include "core/log.h"
#include "proxy/upstream_http2_stream.h"
#include "proxy/upstream_pool.h"

namespace waygate::proxy {
namespace {

// Streams taken on a connection whose peer has not sent its SETTINGS yet (RFC 9113 6.5.2 advises
// a limit of at least 100).
constexpr uint32_t kAssumedMaxStreams = 100;

}  // namespace

UpstreamHttp2Connection::UpstreamHttp2Connection(UpstreamPool& pool, uv_loop_t* loop)
    : pool_(pool), tcp_(loop, *this) {
  timer_.init(loop, &UpstreamHttp2Connection::on_timeout, this);
  uv_idle_init(loop, &idle_);
  idle_.data = this;
}

UpstreamHttp2Connection::~UpstreamHttp2Connection() = default;

bool UpstreamHttp2Connection::connect(uint64_t connect_timeout_ms) {
  timer_.set(connect_timeout_ms);
  if (tcp_.connect(pool_.address().get()) < 0) {
    close();
    return false;
  }
  return true;
}

void UpstreamHttp2Connection::on_transport_connected(int status) {
  if (state_ != State::kConnecting) return;
  if (status < 0) {
    if (tls_) {
      WG_LOG_WARN("upstream %s: TLS handshake failed: %s", pool_.address_text().c_str(),
                  tls_->failure_reason().c_str());
    }
    fail(status, tls_ != nullptr);
    return;
  }
  if (!tls_) {
    if (SSL* ssl = pool_.new_tls_session()) {
      http::offer_alpn_h2(ssl);
      tls_ = std::make_unique<TlsTransport>(tcp_, static_cast<TransportSink&>(*this), ssl);
      transport_ = tls_.get();
      tls_->start_client_handshake();
      return;
    }
  } else if (tls_->alpn() != "h2") {
    WG_LOG_WARN("upstream %s: TLS: the endpoint did not choose ALPN h2 (protocol: http2)",
                pool_.address_text().c_str());
    fail(UV_EPROTO, true);
    return;
  }
  state_ = State::kReady;
  timer_.clear();
  session_.start(*transport_, static_cast<uint32_t>(pool_.stream_window_bytes()));
  transport_->set_reading(true);
  for (UpstreamHttp2Stream* stream : std::vector<UpstreamHttp2Stream*>(streams_))
    stream->on_connection_ready();
  flush();
  update_idle();
}

size_t UpstreamHttp2Connection::room() const {
  uint32_t limit = kAssumedMaxStreams;
  if (session_.started()) {
    limit = std::min(limit, nghttp2_session_get_remote_settings(
                                session(), NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
  }
  return limit > streams_.size() ? limit - streams_.size() : 0;
}

void UpstreamHttp2Connection::add(UpstreamHttp2Stream& stream) {
  streams_.push_back(&stream);
  stream.attach(*this, state_ == State::kReady);
  update_idle();
}

void UpstreamHttp2Connection::remove(UpstreamHttp2Stream& stream) {
  std::erase(streams_, &stream);
  std::erase(ready_, &stream);
  std::erase(pumping_, &stream);
  if (state_ == State::kClosed) return;
  schedule_flush();  // a reset to send, window updates
  update_idle();
}

bool UpstreamHttp2Connection::replay(UpstreamHttp2Stream& stream) {
  stream.detach_for_replay();
  return pool_.place_stream(stream, this) != nullptr;
}

UpstreamHttp2Stream* UpstreamHttp2Connection::find(int32_t id) {
  auto it = std::find_if(streams_.begin(), streams_.end(),
                         [&](const UpstreamHttp2Stream* stream) { return stream->id() == id; });
  return it == streams_.end() ? nullptr : *it;
}

// ---- Input ----------------------------------------------------------------------------------

void UpstreamHttp2Connection::on_transport_read(std::string_view bytes) {
  if (!session_.started() || state_ == State::kClosed) return;
  if (int rc = session_.receive(bytes); rc < 0) {
    WG_LOG_INFO("upstream %s: http2: %s", pool_.address_text().c_str(), session_.error());
    fail(rc, false);
    return;
  }
  flush();
}

void UpstreamHttp2Connection::on_h2_header(int32_t stream_id, std::string_view name,
                                           std::string_view value) {
  if (UpstreamHttp2Stream* stream = find(stream_id)) stream->add_response_header(name, value);
}

void UpstreamHttp2Connection::on_h2_headers_end(int32_t stream_id, bool end_stream) {
  if (UpstreamHttp2Stream* stream = find(stream_id)) stream->end_response_headers(end_stream);
}

void UpstreamHttp2Connection::on_h2_data(int32_t stream_id, std::string_view bytes) {
  if (UpstreamHttp2Stream* stream = find(stream_id)) {
    stream->add_response_data(bytes);
  } else {
    nghttp2_session_consume_stream(session(), stream_id, bytes.size());
  }
}

void UpstreamHttp2Connection::on_h2_data_end(int32_t stream_id) {
  if (UpstreamHttp2Stream* stream = find(stream_id)) stream->end_response();
}

void UpstreamHttp2Connection::on_h2_stream_close(int32_t stream_id, uint32_t error_code) {
  UpstreamHttp2Stream* stream = find(stream_id);
  if (!stream) return;
  // Not processed by the upstream (refused, or above a GOAWAY's last stream id): it goes again on
  // another connection, and the client never knows.
  bool unprocessed =
      error_code == NGHTTP2_REFUSED_STREAM || (goaway_last_id_ >= 0 && stream_id > goaway_last_id_);
  if (unprocessed && stream->can_replay()) {
    if (!replay(*stream)) stream->on_connection_lost(UV_ECONNRESET, false);
    return;
  }
  stream->on_closed(error_code);
}

ssize_t UpstreamHttp2Connection::read_request_body(nghttp2_session*, int32_t stream_id,
                                                   uint8_t* buf, size_t length,
                                                   uint32_t* data_flags,
                                                   nghttp2_data_source* source, void*) {
  auto* connection = static_cast<UpstreamHttp2Connection*>(source->ptr);
  UpstreamHttp2Stream* stream = connection->find(stream_id);
  if (!stream) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  // resets it: nobody sends its body
  return stream->read_request_body(buf, length, data_flags);
}

void UpstreamHttp2Connection::on_h2_goaway(int32_t last_stream_id) {
  goaway_last_id_ = last_stream_id;
  if (state_ == State::kReady) state_ = State::kGoingAway;
  // Streams not yet sent go elsewhere now; those above last_stream_id are closed by nghttp2 as
  // refused (on_stream_close) and go elsewhere too.
  for (UpstreamHttp2Stream* stream : std::vector<UpstreamHttp2Stream*>(streams_)) {
    if (stream->id() == 0 && stream->can_replay() && !replay(*stream)) {
      stream->on_connection_lost(UV_ECONNRESET, false);
    }
  }
}

// ---- Output ---------------------------------------------------------------------------------

void UpstreamHttp2Connection::schedule(UpstreamHttp2Stream& stream) {
  ready_.push_back(&stream);
  schedule_flush();
}

void UpstreamHttp2Connection::schedule_flush() {
  if (flush_scheduled_ || state_ == State::kClosed) return;
  flush_scheduled_ = true;
  uv_idle_start(&idle_, &UpstreamHttp2Connection::on_idle);
}

void UpstreamHttp2Connection::on_idle(uv_idle_t* idle) {
  auto* connection = static_cast<UpstreamHttp2Connection*>(idle->data);
  uv_idle_stop(idle);
  connection->flush();
}

// Hands the streams what waits for them, then writes what nghttp2 has to send. Runs from the
// loop, never inside a session's own call.
void UpstreamHttp2Connection::flush() {
  flush_scheduled_ = false;
  if (state_ == State::kClosed) return;
  pumping_.swap(ready_);
  while (!pumping_.empty()) {
    UpstreamHttp2Stream* stream = pumping_.back();
    pumping_.pop_back();
    stream->pump();
    if (state_ == State::kClosed) return;
  }
  if (!session_.started()) return;
  if (int rc = session_.send(); rc < 0) {
    if (rc == UV_EPROTO) {
      WG_LOG_INFO("upstream %s: http2: %s", pool_.address_text().c_str(), session_.error());
    }
    fail(rc, false);
    return;
  }
  if (session_.wants_flush()) schedule_flush();
  if (session_.finished()) close();
}

void UpstreamHttp2Connection::on_transport_drained(int status) {
  if (state_ == State::kClosed) return;
  if (status < 0) {
    fail(status, false);
    return;
  }
  flush();
}

// ---- Ending ---------------------------------------------------------------------------------

void UpstreamHttp2Connection::on_transport_eof(int status) {
  (void)status;
  fail(UV_ECONNRESET, false);
}

void UpstreamHttp2Connection::update_idle() {
  if (state_ == State::kConnecting || state_ == State::kClosed) return;
  if (!streams_.empty()) {
    timer_.clear();
  } else if (state_ == State::kGoingAway || !pool_.accepts_idle()) {
    close();
  } else {
    timer_.set(pool_.idle_timeout_ms());
  }
}

void UpstreamHttp2Connection::on_timeout(void* self_ptr) {
  auto* self = static_cast<UpstreamHttp2Connection*>(self_ptr);
  if (self->state_ == State::kConnecting) {
    self->fail(UV_ETIMEDOUT, false);
  } else if (self->streams_.empty()) {
    self->close();  // unused for upstream_idle
  }
}

void UpstreamHttp2Connection::close() {
  fail(UV_ECONNRESET, false);
}

void UpstreamHttp2Connection::fail(int status, bool tls_failed) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  ready_.clear();
  pumping_.clear();
  uv_idle_stop(&idle_);
  close_handles({tcp_.handle(), timer_.handle(), reinterpret_cast<uv_handle_t*>(&idle_)});
  std::vector<UpstreamHttp2Stream*> lost;
  lost.swap(streams_);
  for (UpstreamHttp2Stream* stream : lost)
    stream->on_connection_lost(status, tls_failed);
}

void UpstreamHttp2Connection::on_handles_closed() {
  pool_.destroy(*this);
}

}  // namespace waygate::proxy
