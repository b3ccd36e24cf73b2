// The connections one worker keeps to one upstream endpoint. It owns every connection it made.
// Idle ones wait on a LIFO stack, so the warmest is reused first and the surplus after a peak sinks
// to the bottom: the pool holds as many connections as were recently in use at once, without a
// fixed idle cap to churn against. What sat unused for a whole second is halved each second (a
// burst's surplus is gone within seconds, while steady load, which uses every connection, loses
// none), and upstream_idle closes any connection left unused that long. A total cap per endpoint
// (max_upstream_connections_per_endpoint) queues requests beyond it until a connection frees up;
// so does a cluster's max_connections, while this endpoint has a connection that may free up.
// For a cluster that speaks HTTP/2 the pool holds HTTP/2 connections instead, each taking streams
// up to its peer's limit; another opens when all are full, within the same caps (at the caps the
// least loaded one takes the stream, and nghttp2 holds it until a stream there ends).
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/socket_address.h"
#include "core/uv_handle.h"
#include "proxy/upstream_connection.h"
#include "proxy/upstream_http2_connection.h"
#include "routing/host_set.h"
#include "routing/upstream_tls.h"

namespace waygate::proxy {

class Worker;

class UpstreamPool {
 public:
  UpstreamPool(Worker& worker, const routing::Host& host);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  enum class Acquired : uint8_t {
    kReady,       // an idle connection, attached to the session
    kConnecting,  // a new connection; the session hears on_upstream_connected or an error
    kQueued,      // at the limit: the session hears on_upstream_ready (or kBusy) later
    kFailed,      // the connect could not start
    kOverflow,    // the cluster has max_connections open and none of them here to wait for
  };
  // For a request of cluster `cluster_id`, which may have `max_connections` open (per worker).
  // An `upgrade` (WebSocket) gets an HTTP/1.1 connection even from an HTTP/2 endpoint's pool:
  // HTTP/2 has no Upgrade, and such a connection carries nothing else.
  Acquired acquire(DownstreamSession& session, bool allow_idle, bool upgrade, uint32_t cluster_id,
                   uint64_t max_connections, UpstreamConnection** connection);
  // Puts a stream on an HTTP/2 connection with room (not `avoid`), opening one if none has and
  // the caps allow. Null when none could be had.
  UpstreamHttp2Connection* place_stream(UpstreamHttp2Stream& stream,
                                        UpstreamHttp2Connection* avoid);
  // A queued session gives up (its client left).
  void cancel_wait(DownstreamSession& session);

  // Whether a released connection may go back to the pool (not while the endpoint drains).
  bool accepts_idle() const;
  void add_idle(UpstreamConnection& connection);
  void remove_idle(UpstreamConnection& connection);
  // Frees a connection whose handles have closed.
  void destroy(UpstreamConnection& connection);
  void destroy(UpstreamHttp2Connection& connection);
  void close_idle();
  // The worker stops: idle connections close, and the pool's own timer with them.
  void shut_down();
  // The endpoint left every cluster: idle connections close now, busy ones after their response,
  // and the worker frees the pool once it is empty.
  void retire();
  bool retired() const { return retired_; }
  bool empty() const {
    return connections_.empty() && waiters_.empty() && carriers_.empty() &&
           http2_connections_.empty();
  }

  // The endpoint's cluster says protocol: http2.
  bool http2() const { return http2_; }
  const std::string& address_text() const { return address_text_; }
  const SocketAddress& address() const { return address_; }
  uint32_t endpoint_id() const { return endpoint_id_; }
  uint32_t generation() const { return generation_; }
  // For an endpoint that speaks TLS: a client session to start its handshake with; else null.
  SSL* new_tls_session() const;
  // For HTTP/2 connections: each stream's receive window, and how long one may sit unused.
  uint64_t stream_window_bytes() const;
  uint64_t idle_timeout_ms() const;

 private:
  struct Waiter {
    DownstreamSession* session;
    uint32_t cluster_id;
    uint64_t deadline;  // loop time, ms
  };

  UpstreamConnection& create(uint32_t cluster_id);
  Acquired acquire_stream(DownstreamSession& session, uint32_t cluster_id, uint64_t max_connections,
                          UpstreamConnection** connection);
  // A connection freed up (released or closed): the first queued session gets it.
  void serve_waiter(UpstreamConnection* idle);
  static void on_wait_timeout(uv_timer_t* timer);
  void arm_wait_timer();
  static void on_purge(uv_timer_t* timer);

  Worker& worker_;
  std::string address_text_;
  SocketAddress address_;
  uint32_t endpoint_id_;
  uint32_t generation_;
  std::shared_ptr<const routing::UpstreamTlsConfig> tls_;
  routing::TlsPeerNames tls_names_;
  IntrusiveList<UpstreamConnection, &UpstreamConnection::link> connections_;
  std::vector<UpstreamConnection*> idle_;
  std::vector<UpstreamConnection*> purging_;  // on_purge's, kept so that a purge allocates nothing
  // HTTP/2: the shared connections, oldest first (filled first), and the one-stream
  // UpstreamConnections that ride on them (declared after: freed first).
  bool http2_;
  std::vector<std::unique_ptr<UpstreamHttp2Connection>> http2_connections_;
  IntrusiveList<UpstreamConnection, &UpstreamConnection::link> carriers_;
  std::deque<Waiter> waiters_;
  UvHandle<uv_timer_t> wait_timer_;   // created with the first waiter
  UvHandle<uv_timer_t> purge_timer_;  // runs while connections are idle
  size_t idle_low_water_ = 0;         // fewest idle connections since the last purge
  bool retired_ = false;
};

}  // namespace waygate::proxy
