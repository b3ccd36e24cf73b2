#include "proxy/upstream_connection.h"

#include "proxy/downstream_session.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"

namespace waygate::proxy {

UpstreamConnection::UpstreamConnection(UpstreamPool& pool, Worker& worker)
    : pool_(pool),
      worker_(worker),
      writer_(&UpstreamConnection::on_written, this),
      parser_(HTTP_RESPONSE, *this) {
  uv_tcp_init(worker.loop(), &tcp_);
  tcp_.data = this;
  timer_.init(worker.loop(), &UpstreamConnection::on_timeout, this);
  writer_.attach(reinterpret_cast<uv_stream_t*>(&tcp_));
  open_handles_ = 2;
}

UpstreamConnection::~UpstreamConnection() = default;

bool UpstreamConnection::connect(DownstreamSession& session) {
  session_ = &session;
  state_ = State::kConnecting;
  timer_.set(worker_.snapshot().timeouts.upstream_connect_ms);
  connect_request_.data = this;
  int rc = uv_tcp_connect(&connect_request_, &tcp_, pool_.address().get(),
                          &UpstreamConnection::on_connect);
  if (rc < 0) {
    session_ = nullptr;
    close();
    return false;
  }
  return true;
}

void UpstreamConnection::on_connect(uv_connect_t* request, int status) {
  auto* self = static_cast<UpstreamConnection*>(request->data);
  if (self->state_ == State::kClosed) return;  // cancelled by close()
  if (status < 0) {
    self->fail(status == UV_ETIMEDOUT ? UpstreamError::kTimeout : UpstreamError::kRefused);
    return;
  }
  uv_tcp_nodelay(&self->tcp_, 1);
  self->state_ = State::kActive;
  self->timer_.set(self->response_timeout_ms_);
  self->resume_reading();
  self->session_->on_upstream_connected();
}

void UpstreamConnection::attach(DownstreamSession& session) {
  session_ = &session;
  state_ = State::kActive;
  reused_ = true;
  response_started_ = false;
  response_complete_ = false;
  message_done_ = false;
  interim_ = false;
  response_to_head_ = false;
}

void UpstreamConnection::set_response_timeout(uint64_t ms) {
  response_timeout_ms_ = ms;
  if (state_ == State::kActive) timer_.set(ms);
}

int UpstreamConnection::write(std::span<const uv_buf_t> bufs) {
  if (state_ == State::kActive) timer_.set(response_timeout_ms_);
  return writer_.write(bufs);
}

int UpstreamConnection::write(std::string_view bytes) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  return write(std::span<const uv_buf_t>(&buf, 1));
}

void UpstreamConnection::release(bool reusable) {
  session_ = nullptr;
  if (!reusable || state_ != State::kActive || !response_complete_ || !writer_.idle() ||
      worker_.draining()) {
    close();
    return;
  }
  state_ = State::kIdle;
  parser_.resume();
  timer_.set(worker_.snapshot().timeouts.upstream_idle_ms);
  resume_reading();  // an idle connection still reads, to notice the upstream closing it
  pool_.add_idle(*this);
}

void UpstreamConnection::close() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kIdle) pool_.remove_idle(*this);
  state_ = State::kClosed;
  session_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &UpstreamConnection::on_closed);
  uv_close(timer_.handle(), &UpstreamConnection::on_closed);
}

void UpstreamConnection::on_closed(uv_handle_t* handle) {
  // Both handles point back here through `data`; the timer's owner is the DeadlineTimer.
  auto* self =
      handle->type == UV_TCP
          ? static_cast<UpstreamConnection*>(handle->data)
          : static_cast<UpstreamConnection*>(static_cast<DeadlineTimer*>(handle->data)->owner());
  if (--self->open_handles_ == 0) self->pool_.destroy(*self);
}

void UpstreamConnection::start_tunnel() {
  state_ = State::kTunnel;
  timer_.clear();
}

void UpstreamConnection::pause_reading() {
  if (!reading_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  reading_ = false;
}

void UpstreamConnection::resume_reading() {
  if (reading_ || state_ == State::kClosed) return;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), &Worker::allocate_read_buffer,
                &UpstreamConnection::on_read);
  reading_ = true;
}

void UpstreamConnection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<UpstreamConnection*>(stream->data);
  if (nread > 0) {
    self->handle_input(std::string_view(buf->base, static_cast<size_t>(nread)));
  } else if (nread < 0) {
    self->handle_eof(static_cast<int>(nread));
  }
}

void UpstreamConnection::handle_input(std::string_view bytes) {
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
      // The response ended. Anything after it means the upstream broke the protocol.
      bool clean = consumed == bytes.size();
      response_complete_ = true;
      timer_.clear();
      DownstreamSession* session = session_;
      if (!clean) {
        session_ = nullptr;
        close();
      }
      session->on_upstream_complete(this, clean);
      return;
    }
    case http::Parser::Result::kUpgrade: {
      start_tunnel();
      session_->on_upstream_upgrade(bytes.substr(consumed));
      return;
    }
    case http::Parser::Result::kError:
      fail(UpstreamError::kMalformed);
      return;
  }
}

void UpstreamConnection::handle_eof(int status) {
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

void UpstreamConnection::on_written(void* self_ptr, int status) {
  auto* self = static_cast<UpstreamConnection*>(self_ptr);
  if (self->state_ == State::kClosed) return;
  if (status < 0) {
    self->fail(UpstreamError::kReset);
    return;
  }
  if (self->session_) self->session_->on_upstream_drained();
}

void UpstreamConnection::on_timeout(void* self_ptr) {
  auto* self = static_cast<UpstreamConnection*>(self_ptr);
  if (self->state_ == State::kConnecting || self->state_ == State::kActive) {
    self->fail(UpstreamError::kTimeout);
  } else if (self->state_ == State::kIdle) {
    self->close();
  }
}

int UpstreamConnection::on_headers_complete(http::MessageHead& head) {
  if (head.status >= 100 && head.status < 200 && head.status != 101) {
    interim_ = true;  // 100 Continue, 103 Early Hints: not forwarded; the final response follows
    return http::kHeadContinue;
  }
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
  return response_.upgrade ? 0 : HPE_PAUSED;
}

}  // namespace waygate::proxy
