// One TCP connection to an upstream endpoint, owned by its UpstreamPool. It moves between named
// states (connecting, active for one session, idle in the pool, tunnel) and is reused only from
// idle, after a response that was read to its end.
#pragma once

#include <uv.h>

#include <list>
#include <memory>
#include <string_view>

#include "core/deadline_timer.h"
#include "core/stream_writer.h"
#include "http/parser.h"

namespace waygate::proxy {

class DownstreamSession;
class UpstreamPool;
class Worker;

enum class UpstreamError : uint8_t {
  kRefused,    // connect failed -> 502
  kReset,      // closed or reset before the response ended -> 502
  kMalformed,  // not a valid HTTP response -> 502
  kTimeout,    // connect or response timeout -> 504
};

class UpstreamConnection final : private http::ParserSink {
 public:
  enum class State : uint8_t { kConnecting, kActive, kIdle, kTunnel, kClosed };

  UpstreamConnection(UpstreamPool& pool, Worker& worker);
  ~UpstreamConnection();

  // Starts connecting for `session`, which then hears on_upstream_connected or on_upstream_error.
  // False when the connect could not even start (the connection has closed itself, silently).
  bool connect(DownstreamSession& session);
  // Hands an idle connection to a session.
  void attach(DownstreamSession& session);
  // The session is done with it: back to idle if reusable, else closed.
  void release(bool reusable);
  // Closes now; the session (if any) hears nothing more.
  void close();

  // Bytes of the request (head, framed body) toward the upstream.
  // Each write also restarts the response timeout: a long upload is progress.
  int write(std::span<const uv_buf_t> bufs);
  int write(std::string_view bytes);
  bool write_congested() const { return !writer_.idle(); }

  // The response to a HEAD request has no body whatever its headers say.
  void expect_response_to_head(bool head) { response_to_head_ = head; }
  // Switches to a raw byte tunnel (after a 101): bytes go to the session without parsing.
  void start_tunnel();

  // Backpressure from the session: stop reading while the client cannot keep up.
  void pause_reading();
  void resume_reading();
  // Resets the response timeout (used while the request is being sent).
  void set_response_timeout(uint64_t ms);

  State state() const { return state_; }
  bool reused() const { return reused_; }
  bool response_started() const { return response_started_; }
  std::list<std::unique_ptr<UpstreamConnection>>::iterator position;  // in the pool's list

 private:
  http::MessageHead& on_message_begin() override { return response_; }
  int on_headers_complete(http::MessageHead& head) override;
  int on_body(std::string_view bytes) override;
  int on_message_complete() override;

  static void on_connect(uv_connect_t* request, int status);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_written(void* self, int status);
  static void on_timeout(void* self);
  static void on_closed(uv_handle_t* handle);

  void handle_input(std::string_view bytes);
  void handle_eof(int status);
  void fail(UpstreamError error);

  UpstreamPool& pool_;
  Worker& worker_;
  DownstreamSession* session_ = nullptr;
  uv_tcp_t tcp_;
  uv_connect_t connect_request_;
  DeadlineTimer timer_;
  StreamWriter writer_;
  http::Parser parser_;
  http::MessageHead response_;
  uint64_t response_timeout_ms_ = 0;
  State state_ = State::kConnecting;
  uint8_t open_handles_ = 0;
  bool reading_ = false;
  bool reused_ = false;
  bool response_started_ = false;
  bool response_complete_ = false;
  bool interim_ = false;       // parsing a 1xx response that is not forwarded
  bool message_done_ = false;  // the final response's last byte was parsed
  bool response_to_head_ = false;
};

}  // namespace waygate::proxy
