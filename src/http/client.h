// An HTTP/1.1 client on an event loop, for the control plane: etcd's JSON gateway, active health
// checks, the Kubernetes API. One request at a time on one connection, reused for the next
// request when the response allowed it; responses are streamed (a watch is a response that does
// not end), chunked bodies arrive de-chunked. It reads and writes through a Transport, so TLS can
// come beneath it later.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/socket_address.h"
#include "core/tls_transport.h"
#include "http/message_head.h"
#include "http/serialize.h"

namespace waygate::http {

struct ClientRequest {
  std::string_view method;              // "GET", "POST", ...
  std::string_view target;              // origin-form: "/v3/kv/range"
  std::string_view host;                // the Host header
  const HeaderList* headers = nullptr;  // more headers (Content-Type, Authorization); optional
  std::string_view body;                // sent with Content-Length when not empty (or POST/PUT)
  // The response must make progress (connect, head, each body read) within this; 0: no limit
  // (a watch that may be quiet for long; TCP keepalive still finds a dead peer).
  uint64_t timeout_ms = 5000;
};

class ClientHandler {
 public:
  virtual void on_response_head(const MessageHead& head) = 0;
  virtual void on_response_body(std::string_view bytes) = 0;
  virtual void on_response_complete() = 0;
  // The request failed: "connect-refused", "connect-timeout", "tls" (the handshake failed),
  // "reset", "timeout", "malformed".
  // Nothing more is heard about it; the connection is closed.
  virtual void on_client_error(const char* reason) = 0;

 protected:
  ~ClientHandler() = default;
};

class Client {
 public:
  // Makes the client session of a TLS connection; empty: plain TCP.
  using TlsSessionFn = std::function<SSL*()>;

  Client(uv_loop_t* loop, SocketAddress address, ClientHandler& handler,
         TlsSessionFn new_tls_session = {});
  // Closes the connection; the handler hears nothing more, even for a request under way.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Sends a request, connecting first when no connection is open. Only when idle().
  void send(const ClientRequest& request);
  // No request is under way.
  bool idle() const;
  // Closes the connection (and abandons a request under way, silently).
  void close();

 private:
  class Connection;  // lives until its handles close, which may be after the Client
  uv_loop_t* loop_;
  SocketAddress address_;
  ClientHandler& handler_;
  TlsSessionFn new_tls_session_;
  Connection* connection_ = nullptr;
};

}  // namespace waygate::http
