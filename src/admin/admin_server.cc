#include "admin/admin_server.h"

#include <llhttp.h>

#include <exception>
#include <memory>
#include <optional>

#include "core/log.h"
#include "http/header_names.h"
#include "http/serialize.h"
#include "http/server_connection.h"

namespace waygate::admin {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace

struct AdminReply::Target {
  AdminServer::Connection* connection;
};

// One client connection: the core parses and orders requests; this answers each one whole once
// its body (up to kMaxBodyBytes) has arrived.
class AdminServer::Connection final : public http::ServerConnection {
 public:
  explicit Connection(AdminServer& server)
      : http::ServerConnection(server.loop_), server_(&server) {}

  // The server is closing: from now on the connection frees itself once its handles have closed.
  void orphan() { server_ = nullptr; }

  std::list<std::unique_ptr<Connection>>::iterator position;  // in the server's list

 private:
  http::MessageHead& request_head() override {
    body_.clear();
    return request_;
  }

  void on_request_head(http::MessageHead& head) override {
    if (head.has_content_length && head.content_length > kMaxBodyBytes) return refuse_body();
    bool has_body = head.chunked || head.content_length > 0;
    if (has_body && !head.is_http10() &&
        http::has_token(head.find(http::HeaderId::kExpect).value_or(""), "100-continue")) {
      send_interim(kContinue);
    }
    read_body();
  }

  void on_request_body(std::string_view bytes) override {
    if (body_.size() + bytes.size() > kMaxBodyBytes) return refuse_body();
    body_.append(bytes);
  }

  void on_request_complete() override { respond(); }

 public:
  // The handler's answer, given later (see AdminReply).
  void deliver(AdminResponse response) {
    if (!awaiting_reply_ || closing()) return;
    if (in_handler_) {
      early_reply_ = std::move(response);
      return;
    }
    send_response(std::move(response));
  }

  bool wants_reply() const { return awaiting_reply_ && !closing(); }

 private:
  void on_request_refused(uint16_t status, const char* reason) override {
    WG_LOG_INFO("admin: %u from %s: %s", static_cast<unsigned>(status), client_ip(), reason);
  }

  void on_connection_lost(const char*) override {}

  void on_closed() override {
    if (server_) {
      server_->forget(*this);  // frees this
    } else {
      std::unique_ptr<Connection> last(this);
    }
  }

  http::ServerTimeouts timeouts() const override {
    return {kIdleTimeoutMs, kIdleTimeoutMs, kIdleTimeoutMs};
  }
  http::ParserLimits parser_limits() const override { return {}; }

  void refuse_body() {
    WG_LOG_INFO("admin: 413 from %s: request body over %llu bytes", client_ip(),
                static_cast<unsigned long long>(kMaxBodyBytes));
    std::string out;
    http::append_generated_response(out, 413, true);
    send(out);
    end_response();
  }

  void respond() {
    if (!server_) return;
    std::string_view target = request_.target();
    size_t question = target.find('?');
    std::optional<std::string_view> if_match = request_.find("if-match");
    AdminRequest request{llhttp_method_name(static_cast<llhttp_method_t>(request_.method)),
                         target.substr(0, question),
                         question == std::string_view::npos ? "" : target.substr(question + 1),
                         request_.find("authorization").value_or(""),
                         if_match.value_or(""),
                         if_match.has_value(),
                         body_,
                         AdminReply(server_->loop_, reply_target_)};
    awaiting_reply_ = true;
    early_reply_.reset();
    in_handler_ = true;
    AdminResponse response = server_->call_handler(request);
    in_handler_ = false;
    if (closing()) return;  // the handler closed the server
    if (response.deferred) {
      if (!early_reply_) return;  // the connection waits: nothing else is read meanwhile
      response = std::move(*early_reply_);
      early_reply_.reset();
    }
    send_response(std::move(response));
  }

  void send_response(AdminResponse response) {
    awaiting_reply_ = false;
    // HTTP/1.0 keep-alive would need its own Connection header; admin clients speak 1.1. An
    // upgrade (or CONNECT) request is answered in HTTP and then the connection ends, never
    // switches.
    if (request_.is_http10() || request_.upgrade) close_after_response();
    bool close = !keep_alive();
    http::HeaderList headers = std::move(response.headers);
    headers.emplace_back("Content-Type", response.content_type);
    std::string out;
    http::append_local_response(out, response.status, response.body, headers, close);
    // A response to HEAD announces the body's length but carries none.
    if (request_.method == HTTP_HEAD) out.resize(out.size() - response.body.size());
    send(out);
    end_response();
  }

  AdminServer* server_;
  http::MessageHead request_;
  std::string body_;
  // What replies given later find: this connection, until it is freed.
  std::shared_ptr<AdminReply::Target> reply_target_ =
      std::make_shared<AdminReply::Target>(AdminReply::Target{this});
  bool awaiting_reply_ = false;  // a request was handed to the handler and is not answered yet
  bool in_handler_ = false;
  std::optional<AdminResponse> early_reply_;  // a reply given before the handler returned
};

bool AdminReply::wanted() const {
  std::shared_ptr<Target> target = target_.lock();
  return target && target->connection->wants_reply();
}

void AdminReply::operator()(AdminResponse response) const {
  if (std::shared_ptr<Target> target = target_.lock()) {
    target->connection->deliver(std::move(response));
  }
}

// ---- The server ----------------------------------------------------------------------------

AdminServer::AdminServer(uv_loop_t* loop, Handler handler)
    : loop_(loop), handler_(std::move(handler)) {}

AdminServer::~AdminServer() {
  close();
}

std::string AdminServer::listen(const SocketAddress& address) {
  if (listener_) return "already listening";
  listener_.init(uv_tcp_init, loop_, this);
  unsigned flags = address.storage.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
  int rc = uv_tcp_bind(listener_.get(), address.get(), flags);
  // libuv reports some bind errors (EADDRINUSE) only when listening.
  if (rc == 0) rc = uv_listen(listener_.stream(), 128, &AdminServer::on_connection);
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
  if (uv_tcp_getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    return 0;
  }
  return socket_port(bound);
}

void AdminServer::close() {
  listener_.reset();
  // The connections outlive the server until their handles close; they free themselves then.
  for (auto& connection : connections_) {
    connection->orphan();
    connection->close_now();
    (void)connection.release();
  }
  connections_.clear();
}

void AdminServer::on_connection(uv_stream_t* stream, int status) {
  auto* server = static_cast<AdminServer*>(stream->data);
  if (status < 0) return;
  server->make_room();
  server->connections_.push_front(std::make_unique<Connection>(*server));
  Connection& connection = *server->connections_.front();
  connection.position = server->connections_.begin();
  if (uv_accept(stream, connection.stream()) != 0) {
    connection.close_now();
    return;
  }
  connection.start();
}

void AdminServer::make_room() {
  // Closing connections are on their way out (bounded by the linger time) and do not count.
  size_t open = 0;
  Connection* oldest = nullptr;
  Connection* oldest_waiting = nullptr;
  for (auto& connection : connections_) {  // newest first
    if (connection->closing()) continue;
    ++open;
    oldest = connection.get();
    if (connection->awaiting_request()) oldest_waiting = connection.get();
  }
  if (open < kMaxConnections) return;
  // The connection that has waited longest for a request makes room: a client that connects and
  // says nothing cannot keep an operator's request out.
  Connection* victim = oldest_waiting ? oldest_waiting : oldest;
  WG_LOG_WARN("admin: %zu connections open, closing the one idle longest", kMaxConnections);
  victim->close_now();
}

void AdminServer::forget(Connection& connection) {
  connections_.erase(connection.position);
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

}  // namespace waygate::admin
