#include "http/server_connection.h"

#include <algorithm>
#include <iterator>

#include "core/log.h"
#include "core/reused_buffer.h"
#include "core/socket_address.h"
#include "http/serialize.h"

namespace waygate::http {

ServerConnection::ServerConnection(uv_loop_t* loop)
    : tcp_(std::in_place, loop, static_cast<TransportSink&>(*this)), parser_(HTTP_REQUEST, *this) {
  transport_ = &*tcp_;
  timer_.init(loop, &ServerConnection::on_timeout, this);
}

ServerConnection::ServerConnection(ForStream) : parser_(HTTP_REQUEST, *this) {}

void ServerConnection::start(SSL* ssl) {
  tcp_->accepted();
  sockaddr_storage peer{};
  int length = sizeof(peer);
  if (uv_tcp_getpeername(tcp_->tcp(), reinterpret_cast<sockaddr*>(&peer), &length) == 0) {
    std::string ip = format_ip(peer);
    size_t n = std::min(ip.size(), sizeof(client_ip_) - 1);
    ip.copy(client_ip_, n);
    client_ip_[n] = '\0';
    client_port_ = socket_port(peer);
  }
  client_address_ = format_address(client_ip_, client_port_);
  if (ssl) {
    tls_ = std::make_unique<TlsTransport>(*tcp_, static_cast<TransportSink&>(*this), ssl);
    transport_ = tls_.get();
    handshaking_ = true;
    timer_.set(timeouts().handshake_ms);
  } else {
    // The first request gets the head timeout from the moment the connection is accepted.
    timer_.set(timeouts().header_read_ms);
  }
  update_reading();
}

TransportSink& ServerConnection::start_stream(Transport& transport, ServerConnection& parent) {
  std::copy(std::begin(parent.client_ip_), std::end(parent.client_ip_), client_ip_);
  client_port_ = parent.client_port_;
  client_address_ = parent.client_address_;
  transport_ = &transport;
  timer_.init_carried(parent.timer_, &ServerConnection::on_timeout, this);
  timer_.set(timeouts().header_read_ms);
  update_reading();
  return *this;
}

// ---- Input ---------------------------------------------------------------------------------

namespace {

// RFC 9113 3.4. Three bytes tell it from any HTTP/1 method a client uses ("PRI" is no method).
constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

bool starts_http2(std::string_view bytes) {
  size_t n = std::min(bytes.size(), kHttp2Preface.size());
  return n >= 3 && bytes.substr(0, n) == kHttp2Preface.substr(0, n);
}

}  // namespace

void ServerConnection::on_transport_read(std::string_view bytes) {
  if (handshaking_) {
    // The first plaintext: the handshake is done, and the first request's head timeout starts.
    handshaking_ = false;
    timer_.set(timeouts().header_read_ms);
  }
  if (http2_allowed_) {
    // Only a connection's first bytes may be the preface.
    http2_allowed_ = false;
    if (state_ == State::kWaiting && stash_.empty() && starts_http2(bytes)) {
      http2_ = true;
      state_ = State::kTunnel;
      touch();
      on_http2_start();
      on_tunnel_input(bytes);
      update_reading();
      return;
    }
  }
  switch (state_) {
    case State::kClosed:
    case State::kClosing:
      return;  // lingering: what the client still sends is dropped
    case State::kTunnel:
      touch();
      on_tunnel_input(bytes);
      return;
    default:
      break;
  }
  if (stash_offset_ == stash_.size()) {
    // Nothing waits: parse straight from the read buffer and keep only what is left over.
    direct_ = bytes;
    process();
    if (!direct_.empty() && state_ < State::kClosing) {
      stash_.assign(direct_);
      stash_offset_ = 0;
    }
    direct_ = {};
  } else {
    if (stash_offset_ > 0) {
      stash_.erase(0, stash_offset_);
      stash_offset_ = 0;
    }
    stash_.append(bytes);
    process();
  }
  arm_timer();
  update_reading();
}

std::string_view ServerConnection::unparsed() const {
  if (!direct_.empty()) return direct_;
  return std::string_view(stash_).substr(stash_offset_);
}

void ServerConnection::consume(size_t bytes) {
  if (!direct_.empty()) {
    direct_.remove_prefix(bytes);
    return;
  }
  stash_offset_ += bytes;
  if (stash_offset_ == stash_.size()) {
    // Give back a buffer that a burst of pipelined input grew, so an idle connection holds none.
    empty_for_reuse(stash_, 4096);
    stash_offset_ = 0;
  }
}

bool ServerConnection::can_parse() const {
  switch (state_) {
    case State::kWaiting:
    case State::kHead:
      // A client that pipelines without reading stops being parsed once its answers pile up.
      return pending_output() <= kMaxPendingOutput;
    case State::kBody:
      return !input_paused_;
    default:
      return false;
  }
}

// Parses while the state allows, in a loop: answering one request may lead straight to the next
// (a pipelined request answered by the subclass itself), which must not recurse.
void ServerConnection::process() {
  if (in_process_) {
    process_again_ = true;
    return;
  }
  in_process_ = true;
  do {
    process_again_ = false;
    while (can_parse()) {
      std::string_view input = unparsed();
      if (input.empty() && !needs_step_) break;
      needs_step_ = false;
      size_t consumed = 0;
      Parser::Result result = parser_.execute(input, &consumed);
      // A message begins inside execute() and the parser pauses where one ends: what a call
      // consumed belongs to the request in progress after it.
      request_bytes_ += consumed;
      consume(consumed);
      if (state_ >= State::kClosing) break;
      dispatch(result);
      if (state_ >= State::kClosing) break;
    }
  } while (process_again_ && state_ < State::kClosing);
  in_process_ = false;
}

void ServerConnection::dispatch(Parser::Result result) {
  switch (result) {
    case Parser::Result::kOk:
      return;
    case Parser::Result::kError:
      refuse(parser_.error_status(), parser_.error_reason());
      return;
    case Parser::Result::kUpgrade:
      // An upgrade request's message ended earlier; the subclass did not switch protocols, so
      // what follows is HTTP again.
      parser_.resume();
      needs_step_ = true;
      return;
    case Parser::Result::kPaused:
      break;
  }
  if (head_event_) {
    head_event_ = false;
    state_ = State::kHeadDone;
    timer_.clear();  // the subclass's turn: routing, connecting upstream
    on_request_head(*head_);
    return;
  }
  if (message_event_) {
    message_event_ = false;
    complete_request();
  }
}

void ServerConnection::complete_request() {
  state_ = State::kRequestDone;
  if (!response_done_) on_request_complete();
  if (state_ == State::kRequestDone && response_done_) next_request();
}

void ServerConnection::read_body() {
  if (state_ != State::kHeadDone) return;
  state_ = State::kBody;
  if (decoded_) {
    // A request with no body ends here, as the parser would end it; a body comes from the stream
    // (deliver_decoded_body) once reading is on.
    if (!request_has_body_) return complete_request();
    arm_timer();
    update_reading();
    return;
  }
  parser_.resume();
  needs_step_ = true;  // a bodiless request ends without another byte
  process();
  arm_timer();
  update_reading();
}

void ServerConnection::pause_input() {
  if (input_paused_) return;
  input_paused_ = true;
  arm_timer();
  update_reading();
}

void ServerConnection::resume_input() {
  if (!input_paused_) return;
  input_paused_ = false;
  if (state_ == State::kTunnel) {
    touch();
  } else {
    process();
    arm_timer();
  }
  update_reading();
}

// ---- Decoded requests (HTTP/2 streams) ------------------------------------------------------

namespace {

uint16_t check_decoded_fields(const MessageHead& head, const ParserLimits& limits,
                              const char** reason);

// What the parser would refuse in an HTTP/1 head of the same fields: 0 when none.
uint16_t check_decoded_head(const MessageHead& head, const ParserLimits& limits,
                            const char** reason) {
  std::string_view target = head.target();
  if (target.size() > limits.max_target_bytes) {
    *reason = "request target too long";
    return 414;
  }
  for (char c : target) {
    auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      *reason = "request target has a byte that is not visible ASCII";
      return 400;
    }
  }
  if (target.empty()) {
    *reason = "empty request target";
    return 400;
  }
  if (head.method == ServerConnection::kUnknownMethod) {
    *reason = "Invalid method encountered";
    return 400;
  }
  return check_decoded_fields(head, limits, reason);
}

// Fields (of a head, or of trailers) against the parser's limits. Their syntax is the decoder's
// to check: nghttp2 refuses a stream whose names are not lowercase tokens or whose values hold a
// control character (RFC 9113 8.2.1), the same bytes the parser refuses in an HTTP/1 head.
uint16_t check_decoded_fields(const MessageHead& head, const ParserLimits& limits,
                              const char** reason) {
  if (head.bytes.size() > limits.max_header_bytes) {
    *reason = "request header block too large";
    return 431;
  }
  if (head.fields.size() > limits.max_headers) {
    *reason = "too many header fields";
    return 431;
  }
  return 0;
}

// The size of the head as HTTP/1.1 text ("GET / HTTP/1.1", fields, blank line): what the access
// log counts as received for it.
uint64_t text_size(const MessageHead& head, std::string_view method) {
  uint64_t size = method.size() + 1 + head.target_length + 11 + 2;
  for (const HeaderField& field : head.fields)
    size += field.name_length + 2 + field.value_length + 2;
  return size;
}

}  // namespace

void ServerConnection::start_decoded_request(MessageHead& decoded) {
  if (state_ != State::kWaiting || parser_.in_message()) return;
  decoded_ = true;
  decoded_trailers_ = nullptr;
  on_message_begin();
  std::swap(*head_, decoded);
  MessageHead& head = *head_;
  bool known = head.method != kUnknownMethod;
  request_bytes_ =
      text_size(head, known ? llhttp_method_name(static_cast<llhttp_method_t>(head.method)) : "");
  const char* reason = nullptr;
  if (uint16_t status = check_decoded_head(head, parser_limits(), &reason)) {
    refuse(status, reason);
    return;
  }
  on_headers_complete(head);
  dispatch(Parser::Result::kPaused);  // the head event: on_request_head
}

void ServerConnection::deliver_decoded_body(std::string_view bytes) {
  if (state_ != State::kBody) return;
  request_bytes_ += bytes.size();
  on_body(bytes);
  arm_timer();
  update_reading();
}

void ServerConnection::end_decoded_request(const MessageHead& trailers) {
  if (state_ != State::kBody) return;
  if (!trailers.fields.empty()) {
    const char* reason = nullptr;
    if (uint16_t status = check_decoded_fields(trailers, parser_limits(), &reason)) {
      refuse(status, reason);
      return;
    }
  }
  decoded_trailers_ = &trailers;
  complete_request();
  if (state_ < State::kClosing) {
    arm_timer();
    update_reading();
  }
}

// ParserSink: called from inside Parser::execute. Heads and message ends pause the parser so the
// hooks run outside it; body bytes go straight to the subclass.

MessageHead& ServerConnection::on_message_begin() {
  parser_.set_limits(parser_limits());
  head_ = &request_head();
  request_bytes_ = 0;
  request_keep_alive_ = request_has_body_ = false;
  state_ = State::kHead;
  response_started_ = response_done_ = false;
  timer_.set(timeouts().header_read_ms);
  return *head_;
}

int ServerConnection::on_headers_complete(MessageHead& head) {
  // Kept here: the subclass may recycle the head before the connection is done with the request.
  request_has_body_ = head.chunked || head.content_length > 0;
  request_keep_alive_ = head.keep_alive;
  head_event_ = true;
  return kHeadPause;
}

int ServerConnection::on_body(std::string_view bytes) {
  if (state_ >= State::kClosing) return -1;  // the subclass ended it: stop parsing now
  if (!response_done_) on_request_body(bytes);
  return state_ >= State::kClosing ? -1 : 0;
}

int ServerConnection::on_message_complete() {
  message_event_ = true;
  return HPE_PAUSED;
}

// ---- Output --------------------------------------------------------------------------------

int ServerConnection::send(std::span<const uv_buf_t> bufs) {
  response_started_ = true;
  if (state_ == State::kClosed || write_error_ != 0) return write_error_ ? write_error_ : UV_EOF;
  int rc = transport_->write(bufs);
  if (rc < 0) {
    // Handled from the timer callback, so the subclass hears of it outside its own call.
    write_error_ = rc;
    timer_.set(0);
  } else if (pending_output() > 0 && !timer_.active()) {
    timer_.set(timeouts().idle_ms);  // waiting for the client to read
  }
  return rc;
}

int ServerConnection::send(std::string_view bytes) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  return send(std::span<const uv_buf_t>(&buf, 1));
}

int ServerConnection::send_interim(std::string_view bytes) {
  bool started = response_started_;
  int rc = send(bytes);
  response_started_ = started;
  return rc;
}

void ServerConnection::on_transport_drained(int status) {
  if (state_ == State::kClosed) return;
  if (status < 0) {
    if (state_ == State::kClosing) {
      close_now();
    } else {
      lose("client-closed");
    }
    return;
  }
  if (state_ == State::kClosing) {
    linger();
    return;
  }
  arm_timer();
  on_output_drained();
  if (state_ < State::kClosing) {
    process();  // pipelined requests held back while the client was not reading
    update_reading();
  }
}

bool ServerConnection::keep_alive() const {
  if (close_after_ || draining_ || !request_keep_alive_) return false;
  // A response sent before the request body was read ends the connection; reading and dropping
  // an unknown amount of body to keep it is not worth it.
  if (state_ == State::kBody || (state_ == State::kHeadDone && request_has_body())) return false;
  return !(client_eof_ && unparsed().empty());
}

void ServerConnection::end_response() {
  if (state_ >= State::kClosing) return;
  if (!keep_alive()) close_after_ = true;
  response_done_ = true;
  switch (state_) {
    case State::kRequestDone:
      next_request();
      return;
    case State::kHeadDone:
      if (!request_has_body() && !close_after_) {
        read_body();  // reaches the end of the request, and on_request_complete goes on
        return;
      }
      close_gracefully();
      return;
    default:
      close_gracefully();
      return;
  }
}

void ServerConnection::next_request() {
  if (close_after_ || draining_ || (client_eof_ && unparsed().empty())) {
    close_gracefully();
    return;
  }
  state_ = State::kWaiting;
  request_keep_alive_ = request_has_body_ = false;
  input_paused_ = false;
  parser_.resume();
  needs_step_ = true;
  arm_timer();
  process();
  update_reading();
}

// ---- Tunnels -------------------------------------------------------------------------------

void ServerConnection::start_tunnel() {
  state_ = State::kTunnel;
  touch();
  std::string_view early = unparsed();
  if (!early.empty()) {
    std::string bytes(early);  // the subclass may write it anywhere; the stash is dropped
    stash_.clear();
    stash_offset_ = 0;
    direct_ = {};
    on_tunnel_input(bytes);
  }
  update_reading();
}

void ServerConnection::touch() {
  timer_.set(timeouts().idle_ms);
}

// ---- Closing -------------------------------------------------------------------------------

void ServerConnection::begin_drain() {
  draining_ = true;
  if (state_ == State::kWaiting && !parser_.in_message()) close_gracefully();
}

void ServerConnection::refuse(uint16_t status, const char* reason) {
  close_after_ = true;
  if (response_started_) {
    // Part of a response has left already: closing is the only signal left.
    lose(reason);
    return;
  }
  std::string response;
  append_generated_response(response, status, true);
  send(response);
  on_request_refused(status, reason);
  close_gracefully();
}

void ServerConnection::lose(const char* reason) {
  if (state_ == State::kClosed) return;
  bool active = state_ != State::kWaiting && state_ != State::kClosing;
  state_ = State::kClosed;  // first, so nothing the hook does can reach the client
  if (active) on_connection_lost(reason);
  close_all();
}

void ServerConnection::close_now() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  close_all();
}

void ServerConnection::close_all() {
  if (tcp_) return close_handles({tcp_->handle(), timer_.handle()});
  if (close_deferred_) return;
  close_deferred_ = true;
  timer_.clear();
  on_close_deferred();
}

void ServerConnection::finish_deferred_close() {
  on_handles_closed();
}

void ServerConnection::close_gracefully() {
  if (state_ >= State::kClosing) return;
  // Linger only when the client may still be sending: a request not read to its end, input read
  // ahead and now dropped, or a connection the client expected to stay open. A client that asked
  // to close, or an idle one, gets its FIN at once.
  bool unread = state_ == State::kHead || state_ == State::kBody ||
                (state_ == State::kHeadDone && request_has_body()) || !unparsed().empty();
  linger_wanted_ = !client_eof_ && (unread || request_keep_alive_ || http2_);
  state_ = State::kClosing;
  stash_.clear();
  stash_offset_ = 0;
  direct_ = {};
  // A stream's connection goes without waiting for its output: the stream holds those bytes and
  // sends them itself, so the session and what it holds are freed while they are still in cache.
  if (pending_output() == 0 || !tcp_) {
    linger();
  }  // else once the output has drained
  update_reading();
}

void ServerConnection::linger() {
  if (!linger_wanted_ || client_eof_ || write_error_ != 0) {
    close_now();
    return;
  }
  lingering_ = true;
  transport_->shutdown();
  timer_.set(kLingerMs);
  update_reading();
}

void ServerConnection::on_transport_eof(int status) {
  if (handshaking_ && !tls_->handshake_done()) return handle_handshake_failure(status);
  client_eof_ = true;
  switch (state_) {
    case State::kClosed:
      return;
    case State::kClosing:
      // A reset: whatever output still waits will never be read (an HTTP/2 stream whose client
      // connection is gone holds its last bytes here for good).
      if (lingering_ || status != UV_EOF) close_now();
      return;
    case State::kWaiting:
      if (status != UV_EOF) {
        close_now();
      } else if (unparsed().empty()) {
        close_gracefully();  // after the previous response, if it is still being written
      } else {
        process();  // requests that arrived before the client half-closed are still answered
      }
      return;
    case State::kHeadDone:
    case State::kRequestDone:
      // The request is (or can be) whole: answer it, then close. A reset means nobody reads.
      if (status != UV_EOF || (state_ == State::kHeadDone && request_has_body())) break;
      update_reading();
      return;
    default:
      break;
  }
  lose("client-closed");
}

void ServerConnection::on_timeout(void* self_ptr) {
  auto* self = static_cast<ServerConnection*>(self_ptr);
  if (self->write_error_ != 0) {
    if (self->state_ == State::kClosing) {
      self->close_now();
    } else {
      self->lose("client-closed");
    }
    return;
  }
  switch (self->state_) {
    case State::kClosed:
      return;
    case State::kClosing:
      self->close_now();  // lingered long enough, or the client would not take the last bytes
      return;
    case State::kWaiting:
      if (self->parser_.in_message()) break;
      if (self->handshaking_ && self->tls_->handshake_done()) {
        // Done, but no request yet: the first request's head timeout runs from here.
        self->handshaking_ = false;
        self->timer_.set(self->timeouts().header_read_ms);
        return;
      }
      if (self->handshaking_) {
        WG_LOG_INFO("tls: handshake with %s failed: timed out", self->client_ip_);
        self->on_handshake_failed(HandshakeFailure::kTimedOut);
      }
      self->close_now();  // an idle keep-alive connection, or a handshake that never finished
      return;
    case State::kHead:
      self->refuse(408, "header-timeout");
      return;
    default:
      break;
  }
  self->lose("downstream-timeout");
}

// A TLS connection that ended before its first request: logged (a client that connects and goes
// without a word is not worth a line). Plain HTTP sent to the TLS port gets a plain answer that
// says so, as nginx gives, since the client cannot read anything else.
void ServerConnection::handle_handshake_failure(int status) {
  handshaking_ = false;
  if (tls_->saw_plaintext_http()) {
    WG_LOG_INFO("tls: plain HTTP from %s on a TLS listener", client_ip_);
    on_handshake_failed(HandshakeFailure::kPlaintextHttp);
    // The TLS layer stays (it is in its own callback) but leaves the socket to this connection.
    tcp_->set_sink(static_cast<TransportSink&>(*this));
    transport_ = &*tcp_;
    std::string response;
    append_local_response(response, 400, "400 Bad Request: plain HTTP sent to a TLS port\n", {},
                          true);
    send(response);
    // Closed gracefully: the rest of the client's request is read and dropped, so the kernel
    // does not reset the connection under the answer.
    state_ = State::kClosing;
    linger_wanted_ = true;
    if (pending_output() == 0) linger();
    update_reading();
    return;
  }
  if (status != UV_EOF || !tls_->failure_reason().empty()) {
    WG_LOG_INFO(
        "tls: handshake with %s failed: %s", client_ip_,
        tls_->failure_reason().empty() ? uv_strerror(status) : tls_->failure_reason().c_str());
    on_handshake_failed(HandshakeFailure::kFailed);
  }
  close_now();
}

// ---- Timers and reading --------------------------------------------------------------------

void ServerConnection::arm_timer() {
  switch (state_) {
    case State::kWaiting:
    case State::kTunnel:
      timer_.set(timeouts().idle_ms);
      return;
    case State::kHead:
      return;  // set once when the head began: trickling bytes do not extend it
    case State::kBody:
      if (!input_paused_ || pending_output() > 0) {
        timer_.set(timeouts().idle_ms);
      } else {
        timer_.clear();  // waiting on the far side, whose own timeout governs
      }
      return;
    case State::kHeadDone:
    case State::kRequestDone:
      if (pending_output() > 0) {
        timer_.set(timeouts().idle_ms);
      } else {
        timer_.clear();
      }
      return;
    case State::kClosing:
    case State::kClosed:
      return;
  }
}

void ServerConnection::update_reading() {
  bool want = false;
  switch (state_) {
    case State::kClosed:
      break;
    case State::kClosing:
      want = lingering_ && !client_eof_;
      break;
    case State::kTunnel:
    case State::kBody:
      want = !input_paused_ && !client_eof_;
      break;
    default:
      want = !client_eof_ && stash_.size() - stash_offset_ < kMaxStashedInput &&
             pending_output() <= kMaxPendingOutput;
      break;
  }
  transport_->set_reading(want);
}

}  // namespace waygate::http
