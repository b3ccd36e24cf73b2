// A client connection and the requests on it, one at a time in order (pipelined requests wait in
// the input stash). The proxy phases read top to bottom in downstream_session.cc: parse the head,
// route, get an upstream connection, stream the request body, stream the response back, finish.
#pragma once

#include <uv.h>

#include <list>
#include <memory>
#include <span>
#include <string>

#include "core/deadline_timer.h"
#include "core/stream_writer.h"
#include "http/parser.h"
#include "proxy/exchange.h"
#include "proxy/upstream_connection.h"

namespace waygate::proxy {

class Worker;

class DownstreamSession final : private http::ParserSink {
 public:
  explicit DownstreamSession(Worker& worker);
  ~DownstreamSession();
  DownstreamSession(const DownstreamSession&) = delete;
  DownstreamSession& operator=(const DownstreamSession&) = delete;

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  // Called once the connection has been accepted into stream().
  void start();
  // SIGTERM: an idle connection closes now, a busy one after its current response.
  void begin_drain();
  void close();

  // Events from the upstream connection serving the current exchange.
  void on_upstream_connected();
  void on_upstream_head(http::MessageHead& response);
  void on_upstream_body(std::string_view bytes);
  void on_upstream_complete(UpstreamConnection* connection, bool reusable);
  void on_upstream_upgrade(std::string_view early_bytes);
  void on_upstream_raw(std::string_view bytes);
  void on_upstream_tunnel_closed();
  void on_upstream_error(UpstreamError error);
  void on_upstream_drained();
  // Writes a response head still held back (the upstream read ended before any body).
  void flush_response_head();

  std::list<std::unique_ptr<DownstreamSession>>::iterator position;  // in the worker's list

 private:
  enum class Pause : uint8_t { kNone, kHead, kMessageEnd };

  // http::ParserSink
  http::MessageHead& on_message_begin() override;
  int on_headers_complete(http::MessageHead& head) override;
  int on_body(std::string_view bytes) override;
  int on_message_complete() override;

  // Phases of an exchange.
  void parse(std::string_view bytes, bool from_stash);
  void resume_parsing();
  void start_exchange();
  void answer_locally(uint16_t status, const char* reason);
  void connect_upstream(bool allow_idle);
  void on_upstream_ready();
  void finish_exchange();
  void respond_local(uint16_t status, const char* reason);
  void append_route_response(std::string& out);
  void write_access_log();

  // Connection plumbing.
  void on_client_eof();
  void stash_input(std::string_view bytes);
  void update_reading();
  void write_downstream(std::string_view bytes);
  // Response bytes, after the held-back head if there is one: one write for both.
  void write_response(std::span<uv_buf_t> bufs);
  void write_downstream_body(std::string_view bytes);
  void close_when_flushed();
  void release_exchange();
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_written(void* self, int status);
  static void on_timeout(void* self);
  static void on_closed(uv_handle_t* handle);

  Worker& worker_;
  uv_tcp_t tcp_;
  DeadlineTimer timer_;
  StreamWriter writer_;
  http::Parser parser_;
  std::string stash_;  // input read but not yet parsed (pipelined requests, tunnel bytes)
  size_t stash_offset_ = 0;
  std::unique_ptr<Exchange> exchange_;
  char client_ip_[46] = "-";  // for X-Forwarded-For and the access log
  uint16_t client_port_ = 0;
  uint8_t open_handles_ = 0;
  Pause pause_ = Pause::kNone;
  bool reading_ = false;
  bool tunnel_ = false;
  bool closing_ = false;         // close() was called
  bool close_on_drain_ = false;  // close once the writer has flushed
  bool draining_ = false;
  bool client_eof_ = false;  // the client will send nothing more
};

}  // namespace waygate::proxy
