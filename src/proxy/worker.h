// A worker thread: its own uv_loop, its own listening sockets, and everything its connections
// need (the routing snapshot it holds, each cluster's host set and balancer, per-endpoint upstream
// pools indexed by endpoint id, the exchange pool, the access log). Nothing here is shared with
// other workers; the control thread reaches a worker only through publish() and request_drain(),
// and hears back through the endpoint event ring.
#pragma once

#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/intrusive_list.h"
#include "core/spsc_ring.h"
#include "core/uv_handle.h"
#include "lb/policy.h"
#include "proxy/access_log.h"
#include "proxy/active_requests.h"
#include "proxy/client_address.h"
#include "proxy/client_buckets.h"
#include "proxy/downstream_session.h"
#include "proxy/endpoint_event.h"
#include "proxy/exchange.h"
#include "proxy/snapshot_holder.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker_metrics.h"
#include "routing/host_set.h"
#include "routing/snapshot.h"

namespace waygate::proxy {

// A listening socket handed to a worker (fd >= 0), or the order to close the one on that
// address (fd < 0). Listeners are known by address: a reload that renames a listener or moves a
// name to another address keeps every socket whose address stays, so no queued connection is lost.
struct ListenerChange {
  std::string address;
  int fd = -1;
  uint32_t metrics_slot = 0;  // which listener its requests count under in /metrics
};

// What the control thread hands a worker in one step; a worker applies it whole, so a route table
// and the host sets of the clusters it names arrive together.
struct WorkerUpdate {
  std::shared_ptr<const routing::Snapshot> snapshot;  // null: the routes stay
  std::vector<std::shared_ptr<const routing::HostSet>> host_sets;
  std::vector<uint32_t> removed_endpoints;
  std::vector<ListenerChange> listeners;
  uint64_t sequence = 0;  // the worker reports it applied (applied_sequence()) when non-zero
  std::shared_ptr<const AccessLogSetup> access_logs;  // null: the access logs stay
};

class Worker {
 public:
  using EventRing = SpscRing<EndpointEvent, 4096>;

  // Takes ownership of the listening sockets in the update (all with fd >= 0). `on_events` is
  // signalled (from this worker's thread) when endpoint events are waiting in events().
  Worker(unsigned index, WorkerUpdate initial, uv_async_t* on_events);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void join();

  // Any thread: the worker applies the update on its own loop (updates that arrive before it
  // has run are merged, latest first).
  void publish(WorkerUpdate update);
  // Any thread: stop accepting, finish in-flight requests, then let the thread end.
  void request_drain();
  // Control thread: events this worker reported.
  EventRing& events() { return events_; }
  // The longest the loop was late in running a timer, in microseconds: how long the worker was
  // busy with one thing (an update to apply, a burst of callbacks) while requests waited.
  uint64_t max_loop_lag_us() const { return max_loop_lag_us_.load(std::memory_order_relaxed); }
  // When the loop last ran its lag probe (uv_hrtime, in ms): a worker whose loop is stuck stops
  // moving it (GET /live). UINT64_MAX once the worker has drained and stopped its timers.
  uint64_t last_tick_ms() const { return last_tick_ms_.load(std::memory_order_relaxed); }
  // Requests in flight to the endpoint on this worker (GET /clusters).
  uint32_t active_requests_to(uint32_t endpoint_id) const {
    return active_requests_.read(endpoint_id);
  }
  // The sequence of the last update applied; the control thread is signalled when it moves.
  uint64_t applied_sequence() const { return applied_sequence_.load(std::memory_order_acquire); }
  uint64_t dropped_events() const { return dropped_events_.load(std::memory_order_relaxed); }
  // Any thread may read them (see worker_metrics.h); only this worker writes.
  const WorkerMetrics& metrics() const { return metrics_; }
  WorkerMetrics& metrics() { return metrics_; }

  // Worker thread only, from here on.
  uv_loop_t* loop() { return &loop_; }
  const routing::Snapshot& snapshot() const { return snapshots_.current(); }
  SnapshotHolder::Ref hold_snapshot() { return snapshots_.acquire(); }
  bool draining() const { return draining_; }

  // The cluster's current hosts, or null when none were published.
  const routing::HostSet* host_set(uint32_t cluster_id) const;
  // The cluster's balancer on this worker; a new one when the config changed the policy.
  lb::Policy& balancer(uint32_t cluster_id, lb::PolicyKind kind);
  UpstreamPool& pool_for(const routing::Host& host);
  // A retired pool has no connection left: it is freed once the current callback has returned.
  void on_pool_empty(UpstreamPool& pool);
  void report(const UpstreamPool& pool, EndpointEvent::Kind kind);
  void count_upstream_connection(int change);

  // What one cluster has in flight on this worker: the circuit breakers and the retry budget count
  // against it.
  struct ClusterLoad {
    uint32_t requests = 0;     // exchanges routed to the cluster and not finished
    uint32_t pending = 0;      // of those, waiting for an upstream connection
    uint32_t retries = 0;      // of those, retrying
    uint64_t connections = 0;  // upstream connections opened for the cluster and still open
  };
  ClusterLoad& cluster_load(uint32_t cluster_id);
  // Requests in flight by endpoint id (least_request balances by them).
  std::span<const uint32_t> active_requests() const { return active_requests_.counts(); }
  void count_active_request(uint32_t endpoint_id, int change) {
    active_requests_.change(endpoint_id, change);
  }
  uint64_t next_random64();

  std::unique_ptr<Exchange> acquire_exchange();
  void release_exchange(std::unique_ptr<Exchange> exchange);
  AccessLog& access_log() { return access_log_; }
  // A buffer for building one head or chunk header at a time; never held across callbacks.
  std::string& scratch() { return scratch_; }
  // The monotonic clock (uv_hrtime) as first read in this turn of the loop. Requests time
  // themselves with it: a turn that handles a batch of events reads the clock once, not four times
  // a request (as nginx and HAProxy do, a request's figures are as fine as one turn of the loop).
  // Forgotten before the loop waits for events, so no figure leaves out time the loop spent
  // blocked.
  uint64_t turn_now_ns() {
    if (turn_now_ns_ == 0) turn_now_ns_ = uv_hrtime();
    return turn_now_ns_;
  }
  void generate_request_id(char out[33]);
  // A fast, unshared random number (weighted cluster picks).
  uint32_t next_random();
  void destroy_session(DownstreamSession& session);
  // The route's rate limits (its own bucket, and the client's when it has per_client) for a
  // request from `client` at `now_ns`: 0 when it may pass, else how long until it may, in ns.
  uint64_t take_rate_limit(const routing::RouteAction& route, const ClientAddress& client,
                           uint64_t now_ns);

 private:
  // A listening socket, polled for readiness; the worker accepts itself, so it can stop when out
  // of file descriptors (the backlog keeps the waiting connections) and refuse a connection
  // before anything is allocated for it.
  struct Listener {
    UvHandle<uv_poll_t> poll;
    int fd = -1;
    Worker* worker;
    std::string address;
    uint32_t metrics_slot = 0;
    ~Listener() {
      poll.reset();  // stops polling at once, so the descriptor can close now
      if (fd >= 0) ::close(fd);
    }
  };
  struct EndpointSlot {
    std::unique_ptr<UpstreamPool> pool;
    bool failing = false;  // the last event reported for it was a failure
  };

  void run();
  void apply(WorkerUpdate update);
  void apply_messages();
  void open_listener(const ListenerChange& change);
  void close_listener(const std::string& address);
  void retire_pool(std::unique_ptr<UpstreamPool> pool);
  void begin_drain();
  void finish_drain_if_idle();
  static void on_listener_readable(uv_poll_t* poll, int status, int events);
  void accept_from(Listener& listener);
  // Takes an accepted connection: refused at once over a connection limit, else a new session.
  void admit(Listener& listener, int fd, const sockaddr_storage& peer);
  void refuse_connection(int fd, ConnectionRefusal why, const ClientAddress& client);
  // Out of file descriptors: stop polling the listeners until a connection closes or the resume
  // timer runs; the kernel's backlog holds the connections that arrive meanwhile.
  void pause_accepting(int error);
  void resume_accepting();
  static void on_accept_resume(uv_timer_t* timer);
  static void on_async(uv_async_t* async);
  static void on_check(uv_check_t* check);
  static void on_prepare(uv_prepare_t* prepare);
  static void on_drain_timeout(uv_timer_t* timer);
  static void on_trim_timer(uv_timer_t* timer);
  static void on_lag_probe(uv_timer_t* timer);
  void note_connections();
  size_t pooled_exchanges_cap() const;
  // What holds memory per connection or request: sessions, upstream connections, exchanges.
  size_t memory_users() const;

  unsigned index_;
  uv_loop_t loop_;
  UvHandle<uv_async_t> async_;
  UvHandle<uv_timer_t> drain_timer_;
  UvHandle<uv_check_t> check_;       // end of each loop turn: signal events, free emptied pools
  UvHandle<uv_prepare_t> prepare_;   // before the loop waits: forgets turn_now_ns_
  uint64_t turn_now_ns_ = 0;         // 0: not read in this turn yet
  UvHandle<uv_timer_t> trim_timer_;  // gives memory back to the system after a burst
  UvHandle<uv_timer_t> lag_probe_;   // measures how late the loop runs a timer
  uint64_t lag_probe_due_us_ = 0;    // hrtime
  uint64_t max_apply_us_ = 0;        // the longest time spent applying updates in one go
  std::atomic<uint64_t> max_loop_lag_us_{0};
  std::atomic<uint64_t> last_tick_ms_{0};
  std::thread thread_;
  SnapshotHolder snapshots_;
  std::vector<std::shared_ptr<const routing::HostSet>> host_sets_;  // by cluster id
  std::vector<std::unique_ptr<lb::Policy>> balancers_;              // by cluster id
  std::vector<ClusterLoad> cluster_loads_;                          // by cluster id
  ActiveRequests active_requests_;                                  // by endpoint id
  std::vector<EndpointSlot> endpoints_;                             // by endpoint id
  std::vector<std::unique_ptr<UpstreamPool>> retired_pools_;  // draining after their endpoint left
  std::vector<UpstreamPool*> emptied_pools_;
  std::list<std::unique_ptr<Listener>> listeners_;
  IntrusiveList<DownstreamSession, &DownstreamSession::link> sessions_;
  // Connections open by client address, counted while limits.max_connections_per_client is set
  // (an entry exists only while its client has a connection, so connections bound its size).
  std::unordered_map<ClientAddress, uint32_t, ClientAddressHash> client_connections_;
  uint64_t refusals_unlogged_ = 0;  // connections refused since the last line that said so
  uint64_t refusal_logged_ms_ = 0;
  bool accept_paused_ = false;
  // Out of file descriptors: from the first failed accept until the backlog has been taken whole.
  // Logged at its start and its end, whatever happens between.
  bool out_of_descriptors_ = false;
  uint64_t out_of_descriptors_since_ms_ = 0;
  UvHandle<uv_timer_t> accept_resume_timer_;
  std::vector<TokenBucket> route_buckets_;  // by RouteAction::rate_limit_slot
  ClientBuckets client_buckets_;
  std::vector<std::unique_ptr<Exchange>> free_exchanges_;
  std::string scratch_;
  AccessLog access_log_;
  uint64_t id_state_[2];
  size_t upstream_connections_ = 0;
  size_t exchanges_in_use_ = 0;
  size_t exchanges_peak_ = 0;         // in use at once, highest in this trim interval
  size_t exchanges_peak_before_ = 0;  // and in the one before
  size_t connections_peak_ = 0;       // memory_users(), highest since the last trim
  bool draining_ = false;
  bool drained_ = false;

  WorkerMetrics metrics_;
  EventRing events_;
  std::atomic<uint64_t> applied_sequence_{0};
  std::atomic<uint64_t> dropped_events_{0};
  uv_async_t* on_events_;
  bool events_pending_ = false;

  // Messages from the control thread, taken whole by on_async (uv_async_send coalesces).
  std::mutex inbox_mutex_;
  std::vector<WorkerUpdate> inbox_;
  bool inbox_drain_ = false;
};

}  // namespace waygate::proxy
