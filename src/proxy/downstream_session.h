// A client connection and the requests on it. The HTTP/1 connection core (http::ServerConnection)
// reads, parses and orders the requests; this class is the proxy's part, and its phases read top
// to bottom in downstream_session.cc: route the head, pick an endpoint, get an upstream connection,
// stream the request body, stream the response back, retry when it is safe, finish.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "core/block_pool.h"
#include "core/intrusive_list.h"
#include "http/server_connection.h"
#include "proxy/client_address.h"
#include "proxy/exchange.h"
#include "proxy/upstream_connection.h"
#include "routing/host_set.h"
#include "routing/snapshot.h"

namespace waygate::proxy {

class Http2Connection;
class Http2Stream;
class Worker;

class DownstreamSession final : public http::ServerConnection {
 public:
  explicit DownstreamSession(Worker& worker);
  // The session of one HTTP/2 stream (start_stream): no socket or timer handles of its own.
  DownstreamSession(Worker& worker, ForStream);
  ~DownstreamSession();
  // One per connection and one per HTTP/2 stream: their blocks are reused (BlockPool).
  static void* operator new(size_t size) { return Pool::take(size); }
  static void operator delete(void* block) { Pool::give(block); }
  // Frees the pooled blocks past `count` (after a burst).
  static void keep_pooled_blocks(size_t count) { Pool::keep_at_most(count); }

  // Starts the session of one HTTP/2 stream of `parent`, with its client, listener and TLS.
  ::waygate::TransportSink& start_stream(DownstreamSession& parent, Http2Stream& stream);
  // Stop accepting requests (HTTP/1) or streams (HTTP/2, GOAWAY); close when those under way end.
  void drain();

  // Starts a connection accepted on a TLS listener: the handshake first, with the listener's
  // certificates as they are now (the connection keeps them, whatever a reload brings).
  void start_tls(std::shared_ptr<const routing::ListenerTls> listener);
  // The client's address, as its rate limits key it; `counted`: the worker counts the connection
  // against limits.max_connections_per_client until it closes.
  void set_client(const ClientAddress& client, bool counted) {
    client_ = client;
    counted_per_client_ = counted;
  }
  const ClientAddress& client() const { return client_; }
  bool counted_per_client() const { return counted_per_client_; }
  // Which listener its requests count under in /metrics (ListenerChange::metrics_slot).
  void set_listener_slot(uint32_t slot) { listener_slot_ = slot; }
  uint32_t listener_slot() const { return listener_slot_; }

  // The drain timeout ran out: the request in flight (if any) is logged as cut short, and the
  // connection closes.
  void abandon();

  // Events from the upstream side serving the current exchange.
  // The pool hands over a connection after the request waited for one (ready: an idle one).
  void on_connection_assigned(UpstreamConnection* connection, bool ready);
  void on_upstream_connected();
  void on_upstream_head(http::MessageHead& response);
  void on_upstream_body(std::string_view bytes);
  void on_upstream_complete(UpstreamConnection* connection, bool reusable);
  void on_upstream_upgrade(std::string_view early_bytes);
  void on_upstream_raw(std::string_view bytes);
  void on_upstream_tunnel_closed();
  void on_upstream_error(UpstreamError error);
  void on_upstream_drained();
  // Where the upstream connection parses the response head.
  http::MessageHead& upstream_response_head() { return exchange_->response; }
  // Writes a response head still held back (the upstream read ended before any body).
  void flush_response_head();

  ListLink<DownstreamSession> link;  // in the worker's list

 private:
  friend class Http2Connection;

  // http::ServerConnection
  http::MessageHead& request_head() override;
  void on_request_head(http::MessageHead& head) override;
  void on_request_body(std::string_view bytes) override;
  void on_request_complete() override;
  void on_request_refused(uint16_t status, const char* reason) override;
  void on_connection_lost(const char* reason) override;
  void on_output_drained() override;
  void on_handshake_failed(HandshakeFailure failure) override;
  void on_http2_start() override;
  void on_tunnel_input(std::string_view bytes) override;
  void on_closed() override;
  void on_close_deferred() override;
  http::ServerTimeouts timeouts() const override;
  http::ParserLimits parser_limits() const override;

  // Phases of an exchange.
  void start_exchange();
  bool resolve_target();
  void pick_endpoint();
  int32_t choose_host(const routing::ClusterInfo& cluster, const routing::HostSet& hosts);
  void connect_upstream(bool allow_idle);
  void stop_waiting();
  void keep_for_replay(std::string_view bytes);
  void replay_body();
  bool can_repeat() const;
  bool take_retry(bool budgeted);
  void on_upstream_ready();
  bool retry_after(UpstreamError error);
  bool retry_on_status(uint16_t status);
  void answer_locally(uint16_t status, const char* reason);
  // A rate limit refused the request: 429 with Retry-After, in seconds rounded up.
  void answer_rate_limited(uint64_t wait_ns);
  // A circuit breaker is open: 503, counted as the cluster's overflow.
  void answer_overflow(uint32_t cluster_id);
  void count_request(const Exchange& exchange, uint64_t duration_ns);
  void answer_from_route();
  void send_local(std::string_view response);
  void write_response(std::span<uv_buf_t> bufs);
  [[gnu::noinline]] void write_stream_response(std::span<uv_buf_t> bufs);
  // A response head waits to leave with the first body bytes.
  bool response_head_held() const;
  void finish_exchange();
  void drop_exchange(const char* reason);
  void write_access_log();

  // Blocks for the streams ten HTTP/2 connections have in flight at the default limit of 100.
  using Pool = BlockPool<DownstreamSession, 1024>;

  // HTTP/2: the last stream's session closed after the connection's handles did.
  void on_http2_streams_gone();

  // The verified client certificate's subject, read once from the TLS layer; empty when none.
  std::string_view client_cert_subject();

  Worker& worker_;
  std::unique_ptr<Exchange> exchange_;
  std::shared_ptr<const routing::ListenerTls> tls_listener_;  // null on a plain listener
  // Allocated only when there is one: most connections show no client certificate.
  std::unique_ptr<const std::string> client_cert_subject_;
  bool client_cert_read_ = false;
  uint32_t listener_slot_ = 0;
  ClientAddress client_;
  bool counted_per_client_ = false;
  std::unique_ptr<Http2Connection> h2_;  // the connection speaks HTTP/2
  Http2Stream* stream_ = nullptr;        // this session serves one HTTP/2 stream
  bool handles_closed_ = false;
};

}  // namespace waygate::proxy
