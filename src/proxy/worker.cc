#include "proxy/worker.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "core/log.h"

namespace waygate::proxy {
namespace {

// Exchanges kept for reuse: enough for the requests in flight on a busy worker's loop turn, few
// enough that a burst of clients leaves little behind.
constexpr size_t kMaxPooledExchanges = 64;
// After a burst, freed memory sits in the allocator's free lists; once this many connections and
// requests in flight are gone since the peak, it is handed back to the system (malloc_trim).
constexpr size_t kTrimAfterConnections = 1024;
constexpr uint64_t kTrimIntervalMs = 2000;
constexpr uint64_t kLagProbeMs = 50;

uint64_t random_u64(uint64_t state[2]) {
  // xorshift128+: request ids need to be unique, not secret.
  uint64_t s1 = state[0];
  const uint64_t s0 = state[1];
  state[0] = s0;
  s1 ^= s1 << 23;
  state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
  return state[1] + s0;
}

}  // namespace

Worker::Worker(unsigned index, WorkerUpdate initial, uv_async_t* on_events)
    : index_(index), snapshots_(initial.snapshot), on_events_(on_events) {
  uv_loop_init(&loop_);
  loop_.data = this;
  async_.init(uv_async_init, &loop_, this, &Worker::on_async);
  drain_timer_.init(uv_timer_init, &loop_, this);
  check_.init(uv_check_init, &loop_, this);
  uv_check_start(check_.get(), &Worker::on_check);
  uv_unref(check_.handle());  // it keeps nothing alive by itself
  trim_timer_.init(uv_timer_init, &loop_, this);
  uv_timer_start(trim_timer_.get(), &Worker::on_trim_timer, kTrimIntervalMs, kTrimIntervalMs);
  uv_unref(trim_timer_.handle());
  lag_probe_.init(uv_timer_init, &loop_, this);
  lag_probe_due_us_ = uv_hrtime() / 1000 + kLagProbeMs * 1000;
  last_tick_ms_.store(uv_hrtime() / 1'000'000, std::memory_order_relaxed);
  uv_timer_start(lag_probe_.get(), &Worker::on_lag_probe, kLagProbeMs, kLagProbeMs);
  uv_unref(lag_probe_.handle());
  access_log_.init(&loop_);
  std::random_device seed;
  id_state_[0] = (uint64_t{seed()} << 32) | seed();
  id_state_[1] = (uint64_t{seed()} << 32) | seed() | 1;
  initial.snapshot.reset();  // held already
  apply(std::move(initial));
}

Worker::~Worker() {
  if (thread_.joinable()) thread_.join();
  uv_loop_close(&loop_);
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Everything is closed; run once more so the last close callbacks free their memory.
  uv_run(&loop_, UV_RUN_NOWAIT);
}

// ---- Messages from the control thread ------------------------------------------------------

// The send stays under the lock: a drained worker closes async_ under it (finish_drain_if_idle),
// so the control thread never wakes a handle that is closed or freed.
void Worker::publish(WorkerUpdate update) {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  inbox_.push_back(std::move(update));
  if (async_) uv_async_send(async_.get());
}

void Worker::request_drain() {
  std::lock_guard<std::mutex> lock(inbox_mutex_);
  inbox_drain_ = true;
  if (async_) uv_async_send(async_.get());
}

void Worker::on_async(uv_async_t* async) {
  static_cast<Worker*>(async->data)->apply_messages();
}

void Worker::apply_messages() {
  std::vector<WorkerUpdate> updates;
  bool drain = false;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    updates.swap(inbox_);
    drain = inbox_drain_;
  }
  uint64_t sequence = 0;
  uint64_t started = uv_hrtime();
  for (WorkerUpdate& update : updates) {
    sequence = std::max(sequence, update.sequence);
    apply(std::move(update));
  }
  max_apply_us_ = std::max(max_apply_us_, (uv_hrtime() - started) / 1000);
  if (sequence != 0) {
    applied_sequence_.store(sequence, std::memory_order_release);
    if (on_events_) uv_async_send(on_events_);
  }
  if (drain && !draining_) begin_drain();
}

void Worker::apply(WorkerUpdate update) {
  bool new_routes = update.snapshot || !metrics_.table();
  if (update.snapshot) snapshots_.replace(std::move(update.snapshot));
  // Room in the metrics for every cluster and listener a request may count under, made here so
  // that counting a request never allocates.
  uint32_t cluster_slots = 1;
  uint32_t route_slots = 1;
  if (new_routes) {
    for (const routing::ClusterInfo& cluster : snapshots_.current().clusters)
      cluster_slots = std::max(cluster_slots, cluster.id + 2);
    route_slots = snapshots_.current().routes.route_slot_count();
  }
  uint32_t listener_slots = 1;
  for (const ListenerChange& change : update.listeners)
    listener_slots = std::max(listener_slots, change.metrics_slot + 1);
  metrics_.reserve(cluster_slots, listener_slots, route_slots);
  if (update.access_logs) access_log_.set_setup(std::move(update.access_logs));
  for (auto& host_set : update.host_sets) {
    uint32_t id = host_set->cluster_id;
    if (id >= host_sets_.size()) host_sets_.resize(id + 1);
    host_sets_[id] = std::move(host_set);
  }
  for (uint32_t id : update.removed_endpoints) {
    if (id < endpoints_.size() && endpoints_[id].pool) retire_pool(std::move(endpoints_[id].pool));
  }
  for (const ListenerChange& change : update.listeners) {
    if (change.fd < 0) {
      close_listener(change.address);
    } else if (draining_) {
      ::close(change.fd);
    } else {
      open_listener(change);
    }
  }
}

// ---- Listeners -----------------------------------------------------------------------------

void Worker::open_listener(const ListenerChange& change) {
  auto listener = std::make_unique<Listener>();
  listener->worker = this;
  listener->address = change.address;
  listener->metrics_slot = change.metrics_slot;
  listener->tcp.init(uv_tcp_init, &loop_, listener.get());
  uv_tcp_open(listener->tcp.get(), change.fd);
  // The socket listens already (bound on the control thread); this starts accepting.
  uv_listen(listener->tcp.stream(), 4096, &Worker::on_connection);
  listeners_.push_back(std::move(listener));
}

void Worker::close_listener(const std::string& address) {
  // Connections it accepted stay open: they belong to their sessions, not to the listener.
  std::erase_if(listeners_, [&](const auto& listener) { return listener->address == address; });
}

void Worker::on_connection(uv_stream_t* server, int status) {
  auto* listener = static_cast<Listener*>(server->data);
  Worker& worker = *listener->worker;
  if (status < 0 || worker.draining_) return;
  DownstreamSession& session =
      worker.sessions_.push_front(std::make_unique<DownstreamSession>(worker));
  worker.metrics_.downstream_active.store(worker.sessions_.size(), std::memory_order_relaxed);
  if (uv_accept(server, session.stream()) != 0) {
    session.close_now();
    return;
  }
  add(worker.metrics_.downstream_total, 1);
  session.set_listener_slot(listener->metrics_slot);
  // Over the limit: libuv has accepted the connection already; closing it tells the client at once.
  // (The session counts toward the limit until its close callback, a moment later.)
  uint64_t limit = worker.snapshot().limits.max_connections_per_worker;
  if (worker.sessions_.size() > limit) {
    WG_LOG_WARN("worker %u: max_connections_per_worker (%llu) reached, connection closed",
                worker.index_, static_cast<unsigned long long>(limit));
    session.close_now();
    return;
  }
  if (const auto* tls = worker.snapshot().tls_for(listener->address)) {
    session.start_tls(*tls);
  } else {
    session.start();
  }
  worker.note_connections();
}

void Worker::count_upstream_connection(int change) {
  upstream_connections_ += static_cast<size_t>(change);
  metrics_.upstream_active.store(upstream_connections_, std::memory_order_relaxed);
  if (change > 0) add(metrics_.upstream_total, 1);
  if (change > 0) note_connections();
}

size_t Worker::memory_users() const {
  return sessions_.size() + upstream_connections_ + exchanges_in_use_;
}

void Worker::note_connections() {
  connections_peak_ = std::max(connections_peak_, memory_users());
}

void Worker::on_lag_probe(uv_timer_t* timer) {
  auto* self = static_cast<Worker*>(timer->data);
  // libuv fires timers by a millisecond loop clock, so this reads up to about 1 ms high: an upper
  // bound on how long the loop was busy with something else.
  uint64_t now_us = uv_hrtime() / 1000;
  uint64_t lag = now_us > self->lag_probe_due_us_ ? now_us - self->lag_probe_due_us_ : 0;
  if (lag > self->max_loop_lag_us_.load(std::memory_order_relaxed)) {
    self->max_loop_lag_us_.store(lag, std::memory_order_relaxed);
  }
  self->lag_probe_due_us_ = now_us + kLagProbeMs * 1000;
  self->last_tick_ms_.store(now_us / 1000, std::memory_order_relaxed);
}

void Worker::on_trim_timer(uv_timer_t* timer) {
  auto* self = static_cast<Worker*>(timer->data);
  size_t now = self->memory_users();
  if (self->connections_peak_ >= now + kTrimAfterConnections) {
    // glibc keeps freed chunks for reuse; trimming returns whole free pages to the system. It
    // takes a moment, so it is done only after a large drop, at most once per interval.
    malloc_trim(0);
  }
  self->connections_peak_ = now;
}

void Worker::destroy_session(DownstreamSession& session) {
  sessions_.take(session);  // frees it
  metrics_.downstream_active.store(sessions_.size(), std::memory_order_relaxed);
  if (draining_) finish_drain_if_idle();
}

// ---- Clusters and endpoints ----------------------------------------------------------------

const routing::HostSet* Worker::host_set(uint32_t cluster_id) const {
  return cluster_id < host_sets_.size() ? host_sets_[cluster_id].get() : nullptr;
}

lb::Policy& Worker::balancer(uint32_t cluster_id, lb::PolicyKind kind) {
  if (cluster_id >= balancers_.size()) balancers_.resize(cluster_id + 1);
  // Kept across publishes, so a round-robin position survives a reload or a discovery update.
  std::unique_ptr<lb::Policy>& balancer = balancers_[cluster_id];
  if (!balancer || balancer->kind() != kind) balancer = lb::make_policy(kind);
  return *balancer;
}

UpstreamPool& Worker::pool_for(const routing::Host& host) {
  if (host.endpoint_id >= endpoints_.size()) endpoints_.resize(host.endpoint_id + 1);
  EndpointSlot& slot = endpoints_[host.endpoint_id];
  if (slot.pool && slot.pool->generation() != host.generation) {
    // The id names another endpoint now; the old one's connections finish elsewhere.
    retire_pool(std::move(slot.pool));
  }
  if (!slot.pool) {
    slot.pool = std::make_unique<UpstreamPool>(*this, host);
    slot.failing = false;
  }
  return *slot.pool;
}

void Worker::retire_pool(std::unique_ptr<UpstreamPool> pool) {
  UpstreamPool& retiring = *pool;
  retired_pools_.push_back(std::move(pool));
  retiring.retire();  // may report itself empty at once
}

void Worker::on_pool_empty(UpstreamPool& pool) {
  emptied_pools_.push_back(&pool);
}

void Worker::report(const UpstreamPool& pool, EndpointEvent::Kind kind) {
  uint32_t id = pool.endpoint_id();
  if (id >= endpoints_.size() || endpoints_[id].pool.get() != &pool) return;  // retired
  EndpointSlot& slot = endpoints_[id];
  bool failure = kind != EndpointEvent::Kind::kSuccess;
  if (!failure && !slot.failing) return;  // a success after successes changes nothing
  slot.failing = failure;
  if (events_.push(EndpointEvent{id, pool.generation(), kind})) {
    events_pending_ = true;
  } else {
    dropped_events_.fetch_add(1, std::memory_order_relaxed);
  }
}

void Worker::on_check(uv_check_t* check) {
  auto* self = static_cast<Worker*>(check->data);
  if (self->events_pending_) {
    self->events_pending_ = false;
    if (self->on_events_) uv_async_send(self->on_events_);  // once per loop turn at most
  }
  if (!self->emptied_pools_.empty()) {
    std::vector<UpstreamPool*> emptied;
    emptied.swap(self->emptied_pools_);
    for (UpstreamPool* pool : emptied) {
      std::erase_if(self->retired_pools_,
                    [pool](const auto& owned) { return owned.get() == pool; });
    }
  }
}

// ---- Exchanges and small per-request services ----------------------------------------------

Worker::ClusterLoad& Worker::cluster_load(uint32_t cluster_id) {
  if (cluster_id >= cluster_loads_.size()) cluster_loads_.resize(cluster_id + 1);
  return cluster_loads_[cluster_id];
}

uint64_t Worker::next_random64() {
  return random_u64(id_state_);
}

std::unique_ptr<Exchange> Worker::acquire_exchange() {
  ++exchanges_in_use_;
  if (free_exchanges_.empty()) {
    note_connections();
    return std::make_unique<Exchange>();
  }
  std::unique_ptr<Exchange> exchange = std::move(free_exchanges_.back());
  free_exchanges_.pop_back();
  return exchange;
}

void Worker::release_exchange(std::unique_ptr<Exchange> exchange) {
  --exchanges_in_use_;
  // What the exchange counted against its cluster and endpoint, it gives back here, however it
  // ended.
  if (exchange->active_endpoint != Exchange::kNone) {
    count_active_request(exchange->active_endpoint, -1);
  }
  if (exchange->counted_cluster != Exchange::kNone) {
    ClusterLoad& load = cluster_load(exchange->counted_cluster);
    --load.requests;
    if (exchange->counted_pending) --load.pending;
    if (exchange->counted_retry) --load.retries;
  }
  exchange->reset();
  if (free_exchanges_.size() < kMaxPooledExchanges) free_exchanges_.push_back(std::move(exchange));
}

uint32_t Worker::next_random() {
  return static_cast<uint32_t>(random_u64(id_state_) >> 32);
}

void Worker::generate_request_id(char out[33]) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t parts[2] = {random_u64(id_state_), random_u64(id_state_)};
  for (int i = 0; i < 32; ++i) {
    out[i] = kHex[(parts[i / 16] >> ((i % 16) * 4)) & 0xf];
  }
  out[32] = '\0';
}

// ---- Draining ------------------------------------------------------------------------------

void Worker::begin_drain() {
  draining_ = true;
  listeners_.clear();
  uv_timer_start(drain_timer_.get(), &Worker::on_drain_timeout, snapshot().timeouts.drain_ms, 0);
  for (DownstreamSession* session : sessions_.snapshot())
    session->begin_drain();
  finish_drain_if_idle();
}

void Worker::on_drain_timeout(uv_timer_t* timer) {
  auto* worker = static_cast<Worker*>(timer->data);
  WG_LOG_WARN("worker %u: drain timeout, closing %zu connections", worker->index_,
              worker->sessions_.size());
  for (DownstreamSession* session : worker->sessions_.snapshot())
    session->abandon();
}

void Worker::finish_drain_if_idle() {
  if (!sessions_.empty() || drained_) return;
  drained_ = true;
  for (EndpointSlot& slot : endpoints_) {
    if (slot.pool) slot.pool->shut_down();
  }
  for (auto& pool : retired_pools_)
    pool->shut_down();
  access_log_.close();
  drain_timer_.reset();
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);  // see publish()
    async_.reset();
  }
  check_.reset();
  trim_timer_.reset();
  lag_probe_.reset();
  last_tick_ms_.store(UINT64_MAX, std::memory_order_relaxed);  // done, not stuck
  WG_LOG_INFO("worker %u: longest event-loop lag %.2f ms, longest update %.3f ms", index_,
              static_cast<double>(max_loop_lag_us_.load(std::memory_order_relaxed)) / 1000,
              static_cast<double>(max_apply_us_) / 1000);
}

}  // namespace waygate::proxy
