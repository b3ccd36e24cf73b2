#include "admin/admin_server.h"

#include <llhttp.h>

#include <exception>

#include "core/deadline_timer.h"
#include "core/log.h"
#include "core/stream_writer.h"
#include "http/header_names.h"
#include "http/parser.h"
#include "http/serialize.h"

namespace waygate::admin {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// A request must arrive whole within this time (slow clients cannot hold a connection open byte
// by byte); an idle keep-alive connection is closed after the longer one.
constexpr uint64_t kRequestTimeoutMs = 10'000;
constexpr uint64_t kIdleTimeoutMs = 60'000;
// After its last response, a connection waits this long for the client to close (reading and
// dropping what it still sends), so that unread input does not make the kernel reset the
// connection and destroy the response: a 413 sent while the client still uploads must arrive.
constexpr uint64_t kLingerMs = 2'000;
// The admin port is for operators and scrapers, not traffic: a few connections are plenty, and
// a bound keeps a misbehaving client from using up the control thread's file descriptors.
constexpr size_t kMaxConnections = 64;

}  // namespace

struct AdminServer::Listener {
  uv_tcp_t tcp;
  AdminServer* server = nullptr;  // null once closed
};

// One client connection, one request at a time: the parser pauses at the end of each request,
// the handler answers it, and parsing resumes with whatever followed (pipelined requests).
class AdminServer::Connection final : private http::ParserSink {
 public:
  explicit Connection(AdminServer& server);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  void start();
  void close();

  std::list<std::unique_ptr<Connection>>::iterator position;  // in the server's list

 private:
  // http::ParserSink
  http::MessageHead& on_message_begin() override;
  int on_headers_complete(http::MessageHead& head) override;
  int on_body(std::string_view bytes) override;
  int on_message_complete() override;

  void feed(std::string_view bytes);
  void respond();
  void reject(uint16_t status, const char* reason);
  void write(std::string_view bytes);
  // The last response has been written: flush it, then shut down and linger.
  void finish();
  void shut_down();
  void update_reading();
  static void allocate(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_written(void* self, int status);
  static void on_timeout(void* self);
  static void on_shutdown(uv_shutdown_t* request, int status);
  static void on_closed(uv_handle_t* handle);

  AdminServer* server_;  // null once closing
  uv_tcp_t tcp_;
  DeadlineTimer timer_;
  StreamWriter writer_;
  uv_shutdown_t shutdown_;
  http::Parser parser_;
  http::MessageHead request_;
  std::string stash_;  // input held back while a response waits to be written
  uint64_t body_bytes_ = 0;
  uint16_t refused_status_ = 0;  // set when a callback stops the parser (413)
  uint8_t open_handles_ = 0;
  bool reading_ = false;
  bool closing_ = false;
  bool finishing_ = false;  // no more responses: input is dropped until the client closes
  bool client_eof_ = false;
};

// ---- The server ----------------------------------------------------------------------------

AdminServer::AdminServer(uv_loop_t* loop, Handler handler)
    : loop_(loop),
      handler_(std::move(handler)),
      read_buffer_(std::make_unique<std::array<char, 16 * 1024>>()) {}

AdminServer::~AdminServer() {
  close();
}

std::string AdminServer::listen(const SocketAddress& address) {
  if (listener_) return "already listening";
  listener_ = std::make_unique<Listener>();
  listener_->server = this;
  uv_tcp_init(loop_, &listener_->tcp);
  listener_->tcp.data = listener_.get();
  unsigned flags = address.storage.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
  int rc = uv_tcp_bind(&listener_->tcp, address.get(), flags);
  // libuv reports some bind errors (EADDRINUSE) only when listening.
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_->tcp), 128,
                   &AdminServer::on_connection);
  }
  if (rc == 0) return {};
  std::string error = format_ip(address.storage) + ":" +
                      std::to_string(socket_port(address.storage)) + ": " + uv_strerror(rc);
  close();
  return error;
}

uint16_t AdminServer::port() const {
  if (!listener_) return 0;
  sockaddr_storage bound{};
  int length = sizeof(bound);
  if (uv_tcp_getsockname(&listener_->tcp, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    return 0;
  }
  return socket_port(bound);
}

void AdminServer::close() {
  if (listener_) {
    listener_->server = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&listener_.release()->tcp),
             &AdminServer::on_listener_closed);
  }
  // Each close() takes its connection out of the list.
  while (!connections_.empty())
    connections_.front()->close();
}

void AdminServer::on_listener_closed(uv_handle_t* handle) {
  std::unique_ptr<Listener> listener(static_cast<Listener*>(handle->data));  // frees it
}

void AdminServer::on_connection(uv_stream_t* stream, int status) {
  auto* listener = static_cast<Listener*>(stream->data);
  AdminServer* server = listener->server;
  if (status < 0 || !server) return;
  server->connections_.push_front(std::make_unique<Connection>(*server));
  Connection& connection = *server->connections_.front();
  connection.position = server->connections_.begin();
  if (uv_accept(stream, connection.stream()) != 0) {
    connection.close();
    return;
  }
  if (server->connections_.size() > kMaxConnections) {
    WG_LOG_WARN("admin: %zu connections open, refusing another", kMaxConnections);
    connection.close();
    return;
  }
  connection.start();
}

AdminResponse AdminServer::call_handler(const AdminRequest& request) {
  // The handler is outside code on a libuv callback: an exception must end here.
  std::string failure = "an exception that is not a std::exception";
  try {
    return handler_(request);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
  }
  WG_LOG_ERROR("admin: %.*s %.*s failed: %s", static_cast<int>(request.method.size()),
               request.method.data(), static_cast<int>(request.path.size()), request.path.data(),
               failure.c_str());
  return AdminResponse::text(500, "500 Internal Server Error\n");
}

std::unique_ptr<AdminServer::Connection> AdminServer::forget(Connection& connection) {
  std::unique_ptr<Connection> owned = std::move(*connection.position);
  connections_.erase(connection.position);
  return owned;
}

// ---- A connection --------------------------------------------------------------------------

AdminServer::Connection::Connection(AdminServer& server)
    : server_(&server), writer_(&Connection::on_written, this), parser_(HTTP_REQUEST, *this) {
  uv_tcp_init(server.loop_, &tcp_);
  tcp_.data = this;
  timer_.init(server.loop_, &Connection::on_timeout, this);
  writer_.attach(stream());
  open_handles_ = 2;
}

void AdminServer::Connection::start() {
  uv_tcp_nodelay(&tcp_, 1);
  timer_.set(kIdleTimeoutMs);
  update_reading();
}

void AdminServer::Connection::allocate(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(handle->data);
  std::array<char, 16 * 1024>& buffer = *self->server_->read_buffer_;
  *buf = uv_buf_init(buffer.data(), static_cast<unsigned>(buffer.size()));
}

void AdminServer::Connection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(stream->data);
  if (nread == 0) return;
  if (nread == UV_EOF && !self->finishing_) {
    // Done sending, perhaps only half-closed: what it sent has been answered, and only the
    // bytes still queued are left to write.
    self->client_eof_ = true;
    self->finish();
    return;
  }
  if (nread < 0) {
    self->close();
    return;
  }
  if (self->finishing_) return;  // lingering: dropped
  self->feed(std::string_view(buf->base, static_cast<size_t>(nread)));
}

void AdminServer::Connection::feed(std::string_view bytes) {
  while (!closing_ && !finishing_) {
    size_t consumed = 0;
    http::Parser::Result result = parser_.execute(bytes, &consumed);
    bytes.remove_prefix(consumed);
    if (closing_) return;  // writing the 100 Continue failed
    if (result == http::Parser::Result::kOk) break;
    if (result == http::Parser::Result::kError) {
      uint16_t status = refused_status_ != 0 ? refused_status_ : parser_.error_status();
      reject(status, status == 413 ? "request body too large" : parser_.error_reason());
      return;
    }
    // kPaused (or kUpgrade, which comes after the message too): one whole request.
    respond();
    if (closing_ || finishing_) return;
    parser_.resume();
    if (!writer_.idle()) {
      // The client is not reading its responses: hold the rest until it does.
      stash_.assign(bytes);
      break;
    }
  }
  update_reading();
}

http::MessageHead& AdminServer::Connection::on_message_begin() {
  body_bytes_ = 0;
  refused_status_ = 0;
  timer_.set(kRequestTimeoutMs);
  return request_;
}

int AdminServer::Connection::on_headers_complete(http::MessageHead& head) {
  if (head.has_content_length && head.content_length > kMaxBodyBytes) {
    refused_status_ = 413;
    return -1;
  }
  bool has_body = head.chunked || head.content_length > 0;
  if (has_body && !head.is_http10() &&
      http::has_token(head.find("expect").value_or(""), "100-continue")) {
    write(kContinue);
  }
  return http::kHeadContinue;
}

int AdminServer::Connection::on_body(std::string_view bytes) {
  body_bytes_ += bytes.size();
  if (body_bytes_ > kMaxBodyBytes) {
    refused_status_ = 413;
    return -1;
  }
  return 0;
}

int AdminServer::Connection::on_message_complete() {
  return HPE_PAUSED;
}

void AdminServer::Connection::respond() {
  std::string_view target = request_.target();
  size_t question = target.find('?');
  AdminRequest request{llhttp_method_name(static_cast<llhttp_method_t>(request_.method)),
                       target.substr(0, question),
                       question == std::string_view::npos ? "" : target.substr(question + 1)};
  AdminResponse response = server_->call_handler(request);
  if (closing_) return;  // the handler closed the server

  // HTTP/1.0 keep-alive would need its own Connection header; admin clients speak 1.1. An upgrade
  // (or CONNECT) request is answered in HTTP and then the connection ends, never switches.
  bool close = !request_.keep_alive || request_.is_http10() || request_.upgrade;
  http::HeaderList headers = std::move(response.headers);
  headers.emplace_back("Content-Type", response.content_type);
  std::string out;
  http::append_local_response(out, response.status, response.body, headers, close);
  // A response to HEAD announces the body's length but carries none.
  if (request_.method == HTTP_HEAD) out.resize(out.size() - response.body.size());
  write(out);
  if (close) {
    finish();
    return;
  }
  timer_.set(kIdleTimeoutMs);
}

void AdminServer::Connection::reject(uint16_t status, const char* reason) {
  char ip[64] = "-";
  sockaddr_storage peer{};
  int length = sizeof(peer);
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&peer), &length) == 0) {
    format_ip(peer).copy(ip, sizeof(ip) - 1);
  }
  WG_LOG_INFO("admin: %u from %s: %s", static_cast<unsigned>(status), ip, reason);
  std::string out;
  http::append_generated_response(out, status, true);
  write(out);
  finish();
}

void AdminServer::Connection::write(std::string_view bytes) {
  if (writer_.write(bytes) < 0) close();
}

void AdminServer::Connection::finish() {
  if (closing_ || finishing_) return;
  finishing_ = true;
  stash_.clear();
  update_reading();
  if (writer_.idle()) shut_down();  // else once on_written reports the queue drained
}

void AdminServer::Connection::shut_down() {
  if (client_eof_) {
    close();  // nothing more will arrive: no reason to linger
    return;
  }
  timer_.set(kLingerMs);
  shutdown_.data = this;
  if (uv_shutdown(&shutdown_, stream(), &Connection::on_shutdown) != 0) close();
}

void AdminServer::Connection::on_shutdown(uv_shutdown_t* request, int status) {
  // Also called, with UV_ECANCELED, when the connection closes first; it is still alive then.
  auto* self = static_cast<Connection*>(request->data);
  if (status < 0 && !self->closing_) self->close();
}

void AdminServer::Connection::update_reading() {
  bool want = !closing_ && !client_eof_ && (finishing_ || stash_.empty());
  if (want == reading_) return;
  if (want) {
    uv_read_start(stream(), &Connection::allocate, &Connection::on_read);
  } else {
    uv_read_stop(stream());
  }
  reading_ = want;
}

void AdminServer::Connection::on_written(void* self_ptr, int status) {
  auto* self = static_cast<Connection*>(self_ptr);
  if (self->closing_) return;
  if (status < 0) {
    self->close();
    return;
  }
  if (self->finishing_) {
    self->shut_down();
    return;
  }
  if (self->stash_.empty()) return;
  // The client has read its response: go on with the requests it sent meanwhile.
  std::string pending = std::move(self->stash_);
  self->stash_.clear();
  self->feed(pending);
}

void AdminServer::Connection::on_timeout(void* self_ptr) {
  auto* self = static_cast<Connection*>(self_ptr);
  if (self->closing_) return;
  if (self->finishing_) {
    self->close();  // the client did not close in time
    return;
  }
  if (self->parser_.in_message()) {
    self->reject(408, "request not received in time");
    return;
  }
  self->close();
}

void AdminServer::Connection::close() {
  if (closing_) return;
  closing_ = true;
  // From here the close callbacks own this connection; the server may go away meanwhile.
  server_->forget(*this).release();
  server_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Connection::on_closed);
  uv_close(timer_.handle(), &Connection::on_closed);
}

void AdminServer::Connection::on_closed(uv_handle_t* handle) {
  auto* self = handle->type == UV_TCP
                   ? static_cast<Connection*>(handle->data)
                   : static_cast<Connection*>(static_cast<DeadlineTimer*>(handle->data)->owner());
  if (--self->open_handles_ > 0) return;
  std::unique_ptr<Connection> last(self);  // both handles are closed: free the connection
}

}  // namespace waygate::admin
