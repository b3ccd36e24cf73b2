#include "proxy/upstream_connection.h"

#include "core/log.h"
#include "proxy/downstream_session.h"
#include "proxy/upstream_http2_stream.h"
#include "proxy/upstream_pool.h"

namespace waygate::proxy {
namespace {

// An upstream may send many Set-Cookie lines; its heads are trusted more than a client's.
constexpr http::ParserLimits kResponseLimits{64 * 1024, 8 * 1024, 1000};

}  // namespace

UpstreamConnection::UpstreamConnection(UpstreamPool& pool, uv_loop_t* loop)
    : pool_(pool), tcp_(loop, *this), parser_(HTTP_RESPONSE, *this, kResponseLimits) {
  timer_.init(loop, &UpstreamConnection::on_timeout, this);
}

UpstreamConnection::~UpstreamConnection() = default;

UpstreamHttp2Stream& UpstreamConnection::carry_http2_stream() {
  stream_ = std::make_unique<UpstreamHttp2Stream>(static_cast<TransportSink&>(*this));
  transport_ = stream_.get();
  return *stream_;
}

bool UpstreamConnection::connect(DownstreamSession& session, uint64_t connect_timeout_ms) {
  session_ = &session;
  state_ = State::kConnecting;
  timer_.set(connect_timeout_ms);
  if (stream_) return true;  // its HTTP/2 connection reports (on_transport_connected)
  if (tcp_.connect(pool_.address().get()) < 0) {
    session_ = nullptr;
    close();
    return false;
  }
  return true;
}

void UpstreamConnection::on_transport_connected(int status) {
  if (state_ == State::kClosed) return;  // cancelled by close()
  if (status < 0 && stream_ && stream_->tls_failed()) {
    fail(UpstreamError::kTls);  // logged by the HTTP/2 connection
    return;
  }
  if (status < 0 && tls_) {
    WG_LOG_WARN("upstream %s: TLS handshake failed: %s", pool_.address_text().c_str(),
                tls_->failure_reason().c_str());
    fail(UpstreamError::kTls);
    return;
  }
  if (status < 0) {
    fail(status == UV_ETIMEDOUT ? UpstreamError::kConnectTimeout : UpstreamError::kRefused);
    return;
  }
  if (!tls_ && !stream_) {
    if (SSL* ssl = pool_.new_tls_session()) {
      // TCP is up; the connect (and its timeout) goes on until the handshake is done.
      tls_ = std::make_unique<TlsTransport>(tcp_, static_cast<TransportSink&>(*this), ssl);
      transport_ = tls_.get();
      tls_->start_client_handshake();
      return;
    }
  }
  state_ = State::kActive;
  timer_.set(response_timeout_ms_);
  resume_reading();
  session_->on_upstream_connected();
}

void UpstreamConnection::attach(DownstreamSession& session) {
  session_ = &session;
  state_ = State::kActive;
  response_started_ = response_complete_ = message_done_ = interim_ = response_to_head_ = false;
  response_keep_alive_ = response_upgrade_ = request_body_pending_ = false;
  timer_.set(response_timeout_ms_);
}

int UpstreamConnection::write(std::span<const uv_buf_t> bufs) {
  int rc = transport_->write(bufs);
  if (state_ == State::kActive) {
    if (request_body_pending_ && !write_congested() && !response_started_) {
      timer_.clear();  // taken at once; the next bytes are the client's to send
    } else {
      timer_.set(response_timeout_ms_);
    }
  }
  return rc;
}

int UpstreamConnection::write(std::string_view bytes) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  return write(std::span<const uv_buf_t>(&buf, 1));
}

void UpstreamConnection::set_request_body_pending(bool pending) {
  request_body_pending_ = pending;
  if (state_ != State::kActive) return;
  if (!pending) {
    timer_.set(response_timeout_ms_);
  } else if (!write_congested() && !response_started_) {
    timer_.clear();
  }
}

void UpstreamConnection::release(bool reusable) {
  session_ = nullptr;
  if (!reusable || stream_ || state_ != State::kActive || !response_complete_ ||
      write_congested() || !pool_.accepts_idle()) {
    close();
    return;
  }
  state_ = State::kIdle;
  parser_.resume();
  resume_reading();  // an idle connection still reads, to notice the upstream closing it
  pool_.add_idle(*this);
}

void UpstreamConnection::close() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kIdle) pool_.remove_idle(*this);
  state_ = State::kClosed;
  session_ = nullptr;
  if (stream_) stream_->cancel();
  close_handles({tcp_.handle(), timer_.handle()});
}

void UpstreamConnection::on_handles_closed() {
  pool_.destroy(*this);
}

void UpstreamConnection::start_tunnel() {
  state_ = State::kTunnel;
  timer_.clear();
}

void UpstreamConnection::pause_reading() {
  transport_->set_reading(false);
  if (state_ == State::kActive) timer_.clear();
}

void UpstreamConnection::resume_reading() {
  if (state_ == State::kClosed) return;
  transport_->set_reading(true);
  if (state_ == State::kActive) timer_.set(response_timeout_ms_);
}

void UpstreamConnection::on_transport_read(std::string_view bytes) {
  switch (state_) {
    case State::kIdle:
    case State::kConnecting:
    case State::kClosed:
      close();  // nothing may arrive on a connection that has no request outstanding
      return;
    case State::kTunnel:
      session_->on_upstream_raw(bytes);
      return;
    case State::kActive:
      break;
  }
  if (response_complete_) {  // bytes after the response: the connection cannot be trusted
    close();
    return;
  }
  response_started_ = true;
  timer_.set(response_timeout_ms_);
  size_t consumed = 0;
  http::Parser::Result result = parser_.execute(bytes, &consumed);
  if (state_ != State::kActive || session_ == nullptr) return;  // the session gave up meanwhile
  switch (result) {
    case http::Parser::Result::kOk:
      session_->flush_response_head();
      return;
    case http::Parser::Result::kPaused: {
      // The response ended. Anything after it means the upstream broke the protocol; a response
      // that asked to close (Connection: close, HTTP/1.0) ends the connection too.
      bool clean = consumed == bytes.size();
      response_complete_ = true;
      timer_.clear();
      DownstreamSession* session = session_;
      if (!clean) {
        session_ = nullptr;
        close();
      }
      session->on_upstream_complete(this, clean && response_keep_alive_);
      return;
    }
    case http::Parser::Result::kUpgrade:
      start_tunnel();
      session_->on_upstream_upgrade(bytes.substr(consumed));
      return;
    case http::Parser::Result::kError:
      fail(UpstreamError::kMalformed);
      return;
  }
}

void UpstreamConnection::on_transport_eof(int status) {
  if (state_ == State::kActive && response_started_ && !response_complete_) {
    parser_.finish();  // completes a response framed by the connection closing, if it is one
  }
  if (state_ == State::kActive && message_done_ && !response_complete_) {
    response_complete_ = true;
    DownstreamSession* session = session_;
    session_ = nullptr;
    close();
    session->on_upstream_complete(this, false);
    return;
  }
  if (state_ == State::kTunnel) {
    DownstreamSession* session = session_;
    session_ = nullptr;
    close();
    if (session) session->on_upstream_tunnel_closed();
    return;
  }
  (void)status;
  fail(UpstreamError::kReset);
}

void UpstreamConnection::fail(UpstreamError error) {
  DownstreamSession* session = session_;
  session_ = nullptr;
  close();
  if (session) session->on_upstream_error(error);
}

void UpstreamConnection::on_transport_drained(int status) {
  if (state_ == State::kClosed) return;
  if (status < 0) {
    fail(UpstreamError::kReset);
    return;
  }
  // Everything sent was taken: if more body is to come, it is the client we wait for now.
  if (request_body_pending_ && !response_started_ && state_ == State::kActive) timer_.clear();
  if (session_) session_->on_upstream_drained();
}

void UpstreamConnection::on_timeout(void* self_ptr) {
  auto* self = static_cast<UpstreamConnection*>(self_ptr);
  if (self->state_ == State::kConnecting) {
    self->fail(UpstreamError::kConnectTimeout);
  } else if (self->state_ == State::kActive) {
    self->fail(UpstreamError::kTimeout);
  } else if (self->state_ == State::kIdle) {
    self->close();  // unused for upstream_idle: the pool shrinks back after a peak
  }
}

http::MessageHead& UpstreamConnection::on_message_begin() {
  // The head is parsed into the exchange's buffer: an idle connection holds none of its own.
  thread_local http::MessageHead orphan;  // a session that left mid-response
  return session_ ? session_->upstream_response_head() : orphan;
}

int UpstreamConnection::on_headers_complete(http::MessageHead& head) {
  if (head.status >= 100 && head.status < 200 && head.status != 101) {
    interim_ = true;  // 100 Continue, 103 Early Hints: not forwarded; the final response follows
    // A 1xx has no body whatever its headers say (RFC 9110 15.2): bytes a Content-Length claims
    // for it must not reach the client ahead of the final response's head.
    return http::kHeadSkipBody;
  }
  response_keep_alive_ = head.keep_alive;
  response_upgrade_ = head.upgrade;
  if (!session_) return http::kHeadContinue;
  session_->on_upstream_head(head);
  bool no_body = response_to_head_ || head.status == 204 || head.status == 304;
  return no_body ? http::kHeadSkipBody : http::kHeadContinue;
}

int UpstreamConnection::on_body(std::string_view bytes) {
  if (session_) session_->on_upstream_body(bytes);
  return 0;
}

int UpstreamConnection::on_message_complete() {
  if (interim_) {
    interim_ = false;
    return 0;
  }
  message_done_ = true;
  // A 101 goes on to llhttp's upgrade pause, which hands over the tunnel's first bytes.
  return response_upgrade_ ? 0 : HPE_PAUSED;
}

}  // namespace waygate::proxy
