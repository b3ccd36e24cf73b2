// The admin listener: a small HTTP/1.1 server on the control thread's loop, on the same connection
// core as the proxy listeners (http::ServerConnection). It adds bounded request bodies and a
// connection cap that never starves a new request; what each path answers is decided by the
// handler it is given.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "core/socket_address.h"
#include "core/uv_handle.h"
#include "http/serialize.h"

namespace waygate::admin {

struct AdminResponse;

// The answer to a request that its handler gives later (it returned AdminResponse::later():
// an edit that waits for etcd). Given once, on the loop's thread, before or after the handler
// returns; a connection that has closed meanwhile takes nothing.
class AdminReply {
 public:
  AdminReply() = default;
  // The connection still waits for the answer.
  bool wanted() const;
  void operator()(AdminResponse response) const;
  // The loop the answer is given on (and the work behind it done on).
  uv_loop_t* loop() const { return loop_; }

 private:
  friend class AdminServer;
  struct Target;  // the connection, for as long as it is open
  AdminReply(uv_loop_t* loop, std::weak_ptr<Target> target)
      : loop_(loop), target_(std::move(target)) {}

  uv_loop_t* loop_ = nullptr;
  std::weak_ptr<Target> target_;
};

struct AdminRequest {
  std::string_view method;         // "GET", "POST", ... as llhttp names it
  std::string_view path;           // the request target up to '?'
  std::string_view query;          // after '?', without it; empty when there is none
  std::string_view authorization;  // the Authorization header's value; empty when there is none
  std::string_view if_match = {};  // the If-Match header's value; empty when there is none
  bool has_if_match = false;
  std::string_view body = {};  // the request body (at most kMaxBodyBytes)
  AdminReply reply = {};       // for an answer given later
};

struct AdminResponse {
  uint16_t status = 200;
  std::string content_type = "text/plain";
  std::string body;
  http::HeaderList headers;  // more headers (Allow, Cache-Control); the server adds the framing
  bool deferred = false;     // the answer comes through the request's reply

  // What a handler returns when it answers through request.reply instead.
  static AdminResponse later() {
    AdminResponse response;
    response.deferred = true;
    return response;
  }

  static AdminResponse text(uint16_t status, std::string body) {
    return with_type(status, "text/plain", std::move(body));
  }
  // JSON reports the state at this moment: no cache may keep it.
  static AdminResponse json(uint16_t status, std::string body) {
    AdminResponse response = with_type(status, "application/json", std::move(body));
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  }
  static AdminResponse with_type(uint16_t status, std::string content_type, std::string body) {
    AdminResponse response;
    response.status = status;
    response.content_type = std::move(content_type);
    response.body = std::move(body);
    return response;
  }
};

class AdminServer {
 public:
  friend class AdminReply;

  // Called on the loop's thread for every complete request, with its body.
  // The views in the request last for the call only; its reply may be kept. The handler may call
  // close() but must not destroy the server; an exception it throws becomes a 500.
  using Handler = std::function<AdminResponse(const AdminRequest& request)>;

  // Request bodies are read up to this size (a routes_dir file sent with PUT /routes/NAME); past
  // it the answer is 413 and the connection closes.
  static constexpr uint64_t kMaxBodyBytes = 1024 * 1024;
  // The admin port is for operators and scrapers, not traffic: a few connections are plenty, and
  // a bound keeps a misbehaving client from using up the control thread's file descriptors. At
  // the bound, the connection idle longest makes room, so silent clients cannot lock it.
  static constexpr size_t kMaxConnections = 64;
  // A connection waits this long for a request (and for a request's head to arrive whole).
  static constexpr uint64_t kIdleTimeoutMs = 5'000;

  AdminServer(uv_loop_t* loop, Handler handler);
  // Calls close(). Safe at any time: once closed, the handles belong to their close callbacks, so
  // the loop only has to run on for those callbacks to free them.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens. Returns an error text ("127.0.0.1:9901: address already in use"), or empty.
  std::string listen(const SocketAddress& address);
  // The bound port (useful after listening on port 0), or 0 when not listening.
  uint16_t port() const;
  // Stops listening and closes every connection at once, answered or not. Idempotent.
  void close();

  size_t connection_count() const { return connections_.size(); }

 private:
  class Connection;

  static void on_connection(uv_stream_t* stream, int status);
  AdminResponse call_handler(const AdminRequest& request);
  // At the connection bound, closes the one that has waited longest for a request.
  void make_room();
  // A closed connection leaves the list and is freed.
  void forget(Connection& connection);

  uv_loop_t* loop_;
  Handler handler_;
  UvHandle<uv_tcp_t> listener_;
  std::list<std::unique_ptr<Connection>> connections_;  // newest first
};

}  // namespace waygate::admin
