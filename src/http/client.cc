// http::Client: one connection at a time, owned by the Client while it lives and by itself after,
// until its handles have closed. Callbacks into the handler come from libuv callbacks only, and
// after each one the connection checks whether the handler closed it meanwhile.
#include "http/client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cassert>
#include <charconv>

#include "core/deadline_timer.h"
#include "core/handle_owner.h"
#include "core/tcp_transport.h"
#include "http/parser.h"

namespace waygate::http {
namespace {

// Control-plane servers are trusted more than clients, but a head still has bounds.
constexpr ParserLimits kResponseLimits{64 * 1024, 8 * 1024, 1000};

// A connection without a request timeout (a watch) still notices a peer that vanished: the first
// probe after this much silence, then a probe every interval, giving up after the count.
constexpr unsigned kKeepaliveIdleSeconds = 30;
constexpr int kKeepaliveIntervalSeconds = 10;
constexpr int kKeepaliveProbes = 3;

bool method_has_body(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH";
}

std::string request_bytes(const ClientRequest& request) {
  std::string out;
  out.reserve(128 + request.body.size());
  out.append(request.method).push_back(' ');
  out.append(request.target).append(" HTTP/1.1\r\n");
  append_header(out, "Host", request.host);
  if (request.headers) {
    for (const auto& [name, value] : *request.headers)
      append_header(out, name, value);
  }
  if (!request.body.empty() || method_has_body(request.method)) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), request.body.size());
    append_header(out, "Content-Length", std::string_view(digits, end));
  }
  out.append("\r\n").append(request.body);
  return out;
}

void enable_keepalive(uv_tcp_t* tcp) {
  uv_tcp_keepalive(tcp, 1, kKeepaliveIdleSeconds);
  // libuv sets only the idle time; the kernel's default interval and count would take 11 minutes.
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(tcp), &fd) != 0) return;
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &kKeepaliveIntervalSeconds,
             sizeof(kKeepaliveIntervalSeconds));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &kKeepaliveProbes, sizeof(kKeepaliveProbes));
}

}  // namespace

class Client::Connection final : public HandleOwner, private TransportSink, private ParserSink {
 public:
  Connection(uv_loop_t* loop, Client& client)
      : client_(&client), tcp_(loop, *this), parser_(HTTP_RESPONSE, *this, kResponseLimits) {
    timer_.init(loop, &Connection::on_timeout, this);
  }

  void connect(const SocketAddress& address) {
    if (tcp_.connect(address.get()) < 0) defer_error("connect-refused");
  }

  void send(const ClientRequest& request) {
    timeout_ms_ = request.timeout_ms;
    response_started_ = message_done_ = interim_ = keep_alive_ = false;
    response_to_head_ = request.method == "HEAD";
    if (state_ == State::kConnecting) {
      pending_ = request_bytes(request);
    } else {
      state_ = State::kActive;
      write(request_bytes(request));
    }
    restart_timeout();
  }

  bool idle() const { return state_ == State::kIdle; }

  // The Client is going away or closing: nothing more reaches it or its handler.
  void abandon() {
    client_ = nullptr;
    close();
  }

 private:
  enum class State : uint8_t {
    kConnecting,  // with the first request waiting in pending_
    kActive,      // a request is out; its response is awaited or being read
    kIdle,        // kept for the next request
    kClosed,      // handles closing; freed when they have
  };

  // TransportSink
  void on_transport_connected(int status) override {
    if (state_ == State::kClosed) return;
    if (status < 0) {
      fail(tls_ ? "tls" : status == UV_ETIMEDOUT ? "connect-timeout" : "connect-refused");
      return;
    }
    if (!tls_ && client_ && client_->new_tls_session_) {
      // TCP is up; the request waits for the handshake, under the same deadline.
      enable_keepalive(tcp_.tcp());
      tls_ = std::make_unique<TlsTransport>(tcp_, static_cast<TransportSink&>(*this),
                                            client_->new_tls_session_());
      transport_ = tls_.get();
      tls_->start_client_handshake();
      return;
    }
    if (!tls_) enable_keepalive(tcp_.tcp());
    state_ = State::kActive;
    write(pending_);
    std::string().swap(pending_);
    transport_->set_reading(true);
    restart_timeout();
  }

  void on_transport_read(std::string_view bytes) override {
    if (state_ == State::kClosed) return;
    if (state_ != State::kActive) {
      detach_and_close();  // bytes nobody asked for: the connection cannot be trusted
      return;
    }
    response_started_ = true;
    restart_timeout();
    size_t consumed = 0;
    Parser::Result result = parser_.execute(bytes, &consumed);
    if (state_ == State::kClosed) return;  // the handler closed the client, or it failed
    switch (result) {
      case Parser::Result::kOk:
        return;
      case Parser::Result::kPaused:
        // Bytes after the response's end mean the server broke the protocol: do not reuse.
        complete(consumed == bytes.size() && keep_alive_);
        return;
      case Parser::Result::kUpgrade:
      case Parser::Result::kError:
        fail("malformed");
        return;
    }
  }

  void on_transport_eof(int status) override {
    (void)status;
    if (state_ == State::kClosed) return;
    if (state_ != State::kActive) {
      detach_and_close();  // the server closed an idle connection: the next request reconnects
      return;
    }
    // Completes a response framed by the connection's end, when it is one.
    if (response_started_ && !message_done_) parser_.finish();
    if (state_ == State::kClosed) return;
    if (message_done_) {
      complete(false);
    } else {
      fail("reset");
    }
  }

  void on_transport_drained(int status) override {
    if (status >= 0 || state_ == State::kClosed) return;
    if (state_ == State::kIdle) {
      detach_and_close();
    } else {
      fail("reset");
    }
  }

  // ParserSink
  MessageHead& on_message_begin() override { return head_; }

  int on_headers_complete(MessageHead& head) override {
    if (head.status == 101) return -1;  // nothing here speaks another protocol
    if (head.status >= 100 && head.status < 200) {
      interim_ = true;       // 100 Continue, 103 Early Hints: the final response follows
      return kHeadSkipBody;  // a 1xx has no body whatever its headers say (RFC 9110 15.2)
    }
    keep_alive_ = head.keep_alive;
    if (client_) client_->handler_.on_response_head(head);
    if (state_ == State::kClosed) return -1;
    bool no_body = response_to_head_ || head.status == 204 || head.status == 304;
    return no_body ? kHeadSkipBody : kHeadContinue;
  }

  int on_body(std::string_view bytes) override {
    if (state_ == State::kClosed) return -1;
    if (client_) client_->handler_.on_response_body(bytes);
    return state_ == State::kClosed ? -1 : 0;
  }

  int on_message_complete() override {
    if (interim_) {
      interim_ = false;
      return 0;
    }
    message_done_ = true;
    return HPE_PAUSED;
  }

  // HandleOwner
  void on_handles_closed() override { std::unique_ptr<Connection> last(this); }

  void write(std::string_view bytes) {
    if (transport_->write(bytes) < 0) defer_error("reset");
  }

  // The inactivity deadline: every read pushes it; 0 means none.
  void restart_timeout() {
    if (deferred_error_) return;
    if (timeout_ms_ > 0) {
      timer_.set(timeout_ms_);
    } else {
      timer_.clear();
    }
  }

  // An error found inside a call from the handler (send) is reported from the loop instead, so
  // the handler never hears of it while still inside its own call.
  void defer_error(const char* reason) {
    deferred_error_ = reason;
    timer_.set(0);
  }

  static void on_timeout(void* self_ptr) {
    auto* self = static_cast<Connection*>(self_ptr);
    if (self->deferred_error_) {
      self->fail(self->deferred_error_);
    } else if (self->state_ == State::kConnecting) {
      self->fail("connect-timeout");
    } else if (self->state_ == State::kActive) {
      self->fail("timeout");
    }
  }

  void complete(bool reusable) {
    timer_.clear();
    Client* client = client_;
    if (reusable) {
      state_ = State::kIdle;
      parser_.resume();
    } else {
      detach_and_close();
    }
    // Last: the handler may send the next request, close the client or destroy it.
    if (client) client->handler_.on_response_complete();
  }

  void fail(const char* reason) {
    if (state_ == State::kClosed) return;
    Client* client = client_;
    detach_and_close();
    if (client) client->handler_.on_client_error(reason);
  }

  void detach_and_close() {
    if (client_) {
      client_->connection_ = nullptr;
      client_ = nullptr;
    }
    close();
  }

  void close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    close_handles({tcp_.handle(), timer_.handle()});
  }

  Client* client_;
  TcpTransport tcp_;
  std::unique_ptr<TlsTransport> tls_;
  Transport* transport_ = &tcp_;
  DeadlineTimer timer_;
  Parser parser_;
  MessageHead head_;
  std::string pending_;  // the first request, until the connect completes
  uint64_t timeout_ms_ = 0;
  const char* deferred_error_ = nullptr;
  State state_ = State::kConnecting;
  bool response_started_ = false;
  bool message_done_ = false;  // the final response's last byte was parsed
  bool interim_ = false;       // parsing a 1xx response
  bool keep_alive_ = false;    // the final response allows the next request on this connection
  bool response_to_head_ = false;
};

Client::Client(uv_loop_t* loop, SocketAddress address, ClientHandler& handler,
               TlsSessionFn new_tls_session)
    : loop_(loop),
      address_(address),
      handler_(handler),
      new_tls_session_(std::move(new_tls_session)) {}

Client::~Client() {
  close();
}

void Client::send(const ClientRequest& request) {
  assert(idle());
  if (!connection_) {
    connection_ = std::make_unique<Connection>(loop_, *this).release();  // frees itself
    connection_->connect(address_);
  }
  connection_->send(request);
}

bool Client::idle() const {
  return connection_ == nullptr || connection_->idle();
}

void Client::close() {
  if (!connection_) return;
  Connection* connection = connection_;
  connection_ = nullptr;
  connection->abandon();
}

}  // namespace waygate::http
