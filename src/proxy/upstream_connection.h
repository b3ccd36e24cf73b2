// One TCP connection to an upstream endpoint, owned by its UpstreamPool. It moves between named
// states (connecting, active for one session, idle in the pool, tunnel) and is reused only from
// idle, after a response that was read to its end and did not ask to close.
#pragma once

#include <uv.h>

#include <memory>
#include <string_view>

#include "core/deadline_timer.h"
#include "core/handle_owner.h"
#include "core/intrusive_list.h"
#include "core/tcp_transport.h"
#include "core/tls_transport.h"
#include "http/parser.h"

namespace waygate::proxy {

class DownstreamSession;
class UpstreamPool;
class UpstreamHttp2Stream;

enum class UpstreamError : uint8_t {
  kRefused,         // connect failed -> 502
  kReset,           // closed or reset before the response ended -> 502
  kMalformed,       // not a valid HTTP response -> 502
  kTimeout,         // no response in time -> 504
  kConnectTimeout,  // the connect did not finish in time -> 504
  kBusy,            // the endpoint stayed at its connection limit -> 503
  kTls,             // the TLS handshake failed (the certificate did not verify) -> 502
};

class UpstreamConnection final : public HandleOwner,
                                 private TransportSink,
                                 private http::ParserSink {
 public:
  enum class State : uint8_t { kConnecting, kActive, kIdle, kTunnel, kClosed };

  UpstreamConnection(UpstreamPool& pool, uv_loop_t* loop);
  ~UpstreamConnection();

  // For a cluster that speaks HTTP/2: the connection carries one stream of a shared HTTP/2
  // connection instead of a socket of its own (connect() then waits for that connection), and is
  // never reused.
  UpstreamHttp2Stream& carry_http2_stream();
  bool carries_http2_stream() const { return stream_ != nullptr; }

  // Starts connecting for `session`, which then hears on_upstream_connected or on_upstream_error.
  // False when the connect could not even start (the connection has closed itself, silently).
  bool connect(DownstreamSession& session, uint64_t connect_timeout_ms);
  // Hands an idle connection to a session.
  void attach(DownstreamSession& session);
  // The session is done with it: back to the pool if reusable, else closed.
  void release(bool reusable);
  // Closes now; the session (if any) hears nothing more.
  void close();

  // The cluster whose request opened the connection: its max_connections counts it for life,
  // whichever cluster's requests reuse it later.
  uint32_t opened_for_cluster() const { return opened_for_cluster_; }
  void set_opened_for_cluster(uint32_t cluster_id) { opened_for_cluster_ = cluster_id; }

  // Bytes of the request (head, framed body) toward the upstream. Each write restarts the
  // response timeout: a long upload is progress.
  int write(std::span<const uv_buf_t> bufs);
  int write(std::string_view bytes);
  bool write_congested() const { return transport_->pending_bytes() > 0; }

  // The response to a HEAD request has no body whatever its headers say.
  void expect_response_to_head(bool head) { response_to_head_ = head; }
  // Switches to a raw byte tunnel (after a 101): bytes go to the session without parsing.
  void start_tunnel();

  // Backpressure from the session: stop reading while the client cannot keep up. The response
  // timeout waits too: it is the client that is slow, not the upstream.
  void pause_reading();
  void resume_reading();
  void set_response_timeout(uint64_t ms) { response_timeout_ms_ = ms; }
  // While the request body is still arriving from the client, the response timeout runs only
  // when the upstream is not taking what it was sent; waiting for the client is the client's
  // timeout. Pending until the request has been read to its end.
  void set_request_body_pending(bool pending);
  // The idle deadline, set when the connection returns to the pool.
  void set_idle_timeout(uint64_t ms) { timer_.set(ms); }

  State state() const { return state_; }
  // The trailer fields of a chunked response, once it is complete.
  const http::MessageHead& response_trailers() const { return parser_.trailers(); }
  ListLink<UpstreamConnection> link;  // in the pool's list

 private:
  // TransportSink
  void on_transport_read(std::string_view bytes) override;
  void on_transport_eof(int status) override;
  void on_transport_drained(int status) override;
  void on_transport_connected(int status) override;
  // ParserSink
  http::MessageHead& on_message_begin() override;
  int on_headers_complete(http::MessageHead& head) override;
  int on_body(std::string_view bytes) override;
  int on_message_complete() override;
  // HandleOwner
  void on_handles_closed() override;

  static void on_timeout(void* self);
  void fail(UpstreamError error);

  UpstreamPool& pool_;
  uint32_t opened_for_cluster_ = 0;
  DownstreamSession* session_ = nullptr;
  TcpTransport tcp_;
  std::unique_ptr<TlsTransport> tls_;            // for an endpoint that speaks TLS, once connected
  std::unique_ptr<UpstreamHttp2Stream> stream_;  // for a cluster that speaks HTTP/2
  Transport* transport_ = &tcp_;                 // what requests and responses go through
  DeadlineTimer timer_;
  http::Parser parser_;
  uint64_t response_timeout_ms_ = 0;
  State state_ = State::kConnecting;
  bool response_started_ = false;
  bool response_complete_ = false;
  bool interim_ = false;       // parsing a 1xx response that is not forwarded
  bool message_done_ = false;  // the final response's last byte was parsed
  bool response_to_head_ = false;
  bool request_body_pending_ = false;
  bool response_keep_alive_ = false;  // the final response allows reuse (no Connection: close)
  bool response_upgrade_ = false;     // ... switches protocols
};

}  // namespace waygate::proxy
