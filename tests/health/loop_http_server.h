// A small HTTP/1.1 server on the test's own loop, for the checker to probe: it counts connections
// and requests, keeps each request's head and answers as the test's script says. Running on the
// checker's loop, it needs no locks, and every count is current whenever the test looks.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/tcp_transport.h"
#include "core/uv_handle.h"

namespace waygate::health {

// A whole response with a Content-Length; `headers` are extra lines, each ending in "\r\n".
inline std::string http_response(int status, std::string_view body = "ok",
                                 std::string_view headers = "") {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " Status\r\n";
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  out.append(headers).append("\r\n").append(body);
  return out;
}

// "127.0.0.1:PORT" where nothing listens: a port the kernel gave out and took back.
inline std::string refused_address() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    throw std::runtime_error("cannot bind on loopback");
  }
  ::close(fd);
  return "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
}

class LoopServer {
 public:
  struct Request {
    int connection;    // 0 for the first connection accepted
    std::string head;  // "GET /path HTTP/1.1\r\nHost: ...\r\n\r\n"
  };
  struct Action {
    std::optional<std::string> reply;  // nullopt: never answer
    bool close = false;                // close the connection after the reply, or at once
  };
  using Script = std::function<Action(const Request&)>;

  // Answers every request with this response, keeping the connection open.
  static Script always(std::string response) {
    return [response](const Request&) { return Action{response}; };
  }
  static Script silent() {
    return [](const Request&) { return Action{}; };
  }

  LoopServer(uv_loop_t* loop, Script script) : script_(std::move(script)) {
    listener_.init(uv_tcp_init, loop, this);
    sockaddr_in address{};
    uv_ip4_addr("127.0.0.1", 0, &address);
    int length = sizeof(address);
    if (uv_tcp_bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address), 0) != 0 ||
        uv_listen(listener_.stream(), 128, &LoopServer::on_connection) != 0 ||
        uv_tcp_getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen on loopback");
    }
    port_ = ntohs(address.sin_port);
  }

  // Closes the listener and every connection; the loop frees them as it runs on.
  ~LoopServer() {
    for (Connection* connection : open_) {
      connection->server = nullptr;
      uv_close(connection->handle(), &Connection::on_closed);
    }
  }

  LoopServer(const LoopServer&) = delete;
  LoopServer& operator=(const LoopServer&) = delete;

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_; }
  int open_connections() const { return static_cast<int>(open_.size()); }
  int requests() const { return static_cast<int>(requests_.size()); }
  const std::vector<Request>& request_log() const { return requests_; }

 private:
  struct Connection {
    uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&tcp); }
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }
    static void on_closed(uv_handle_t* handle) {
      std::unique_ptr<Connection> last(static_cast<Connection*>(handle->data));
    }

    uv_tcp_t tcp;
    LoopServer* server;  // null once the server has gone
    int index;
    std::string buffer;
  };

  struct Write {
    uv_write_t request;
    std::string bytes;
  };

  static void on_connection(uv_stream_t* listener, int status) {
    auto* self = static_cast<LoopServer*>(listener->data);
    if (status < 0) return;
    auto connection = std::make_unique<Connection>();
    uv_tcp_init(listener->loop, &connection->tcp);
    connection->tcp.data = connection.get();
    connection->server = self;
    connection->index = self->connections_;
    if (uv_accept(listener, connection->stream()) != 0) {
      uv_close(connection.release()->handle(), &Connection::on_closed);
      return;
    }
    ++self->connections_;
    Connection* accepted = connection.release();  // freed by its close callback
    self->open_.insert(accepted);
    uv_read_start(accepted->stream(), &allocate_thread_read_buffer, &LoopServer::on_read);
  }

  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    auto* connection = static_cast<Connection*>(stream->data);
    LoopServer* self = connection->server;
    if (nread < 0) {
      self->close(connection);
      return;
    }
    connection->buffer.append(buf->base, static_cast<size_t>(nread));
    size_t end;
    while ((end = connection->buffer.find("\r\n\r\n")) != std::string::npos) {
      Request request{connection->index, connection->buffer.substr(0, end + 4)};
      connection->buffer.erase(0, end + 4);
      self->requests_.push_back(request);
      Action action = self->script_(request);
      if (action.reply) send(connection, std::move(*action.reply));
      if (action.close) {
        self->finish(connection, action.reply.has_value());
        return;
      }
    }
  }

  static void send(Connection* connection, std::string bytes) {
    auto write = std::make_unique<Write>();
    write->bytes = std::move(bytes);
    write->request.data = write.get();
    uv_buf_t buf = uv_buf_init(write->bytes.data(), static_cast<unsigned>(write->bytes.size()));
    if (uv_write(&write->request, connection->stream(), &buf, 1, &LoopServer::on_written) == 0) {
      write.release();  // freed by on_written
    }
  }

  static void on_written(uv_write_t* request, int) {
    std::unique_ptr<Write> done(static_cast<Write*>(request->data));
  }

  // Closes after what was written has gone out (a FIN after the reply), or at once.
  void finish(Connection* connection, bool after_writes) {
    uv_read_stop(connection->stream());
    if (!after_writes) {
      close(connection);
      return;
    }
    auto shutdown = std::make_unique<uv_shutdown_t>();
    shutdown->data = connection;
    if (uv_shutdown(shutdown.get(), connection->stream(), &LoopServer::on_shutdown) == 0) {
      shutdown.release();  // freed by on_shutdown
    } else {
      close(connection);
    }
  }

  static void on_shutdown(uv_shutdown_t* request, int) {
    std::unique_ptr<uv_shutdown_t> done(request);
    auto* connection = static_cast<Connection*>(request->data);
    if (connection->server) connection->server->close(connection);
  }

  void close(Connection* connection) {
    if (open_.erase(connection) == 0) return;
    connection->server = nullptr;
    uv_close(connection->handle(), &Connection::on_closed);
  }

  Script script_;
  UvHandle<uv_tcp_t> listener_;
  uint16_t port_ = 0;
  int connections_ = 0;
  std::unordered_set<Connection*> open_;
  std::vector<Request> requests_;
};

}  // namespace waygate::health
