#include "proxy/worker.h"

#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>

#include "core/log.h"
#include "proxy/downstream_session.h"
#include "proxy/http2_stream.h"

namespace waygate::proxy {
namespace {

// Exchanges kept for reuse: as many as were in use at once in this trim interval or the one
// before (pooled_exchanges_cap), so that a steady load (8 HTTP/2 connections bring 800 streams by
// default) makes none, and at least this many. After a burst the rest are freed within two
// intervals (an exchange keeps at most Exchange::kMaxKeptBufferBytes per buffer).
constexpr size_t kMinPooledExchanges = 512;
// Session and stream blocks kept once a burst is over (they keep up to 1024 under load).
constexpr size_t kPooledBlocksAfterBurst = 64;
// After a burst, freed memory sits in the allocator's free lists; once this many connections and
// requests in flight are gone since the peak, it is handed back to the system (malloc_trim).
constexpr size_t kTrimAfterConnections = 1024;
constexpr uint64_t kTrimIntervalMs = 2000;
constexpr uint64_t kLagProbeMs = 50;
// Connections accepted per wake-up of a listener, before the loop serves other events.
constexpr int kAcceptBatch = 64;
// Out of file descriptors, accepting is tried again after this long even when no connection of
// this worker closed (another worker's, or an upstream connection, may have freed one).
constexpr uint64_t kAcceptResumeMs = 500;
constexpr uint64_t kRefusalLogIntervalMs = 1000;

bool connection_waiting(int listen_fd) {
  pollfd poll_fd{listen_fd, POLLIN, 0};
  return ::poll(&poll_fd, 1, 0) > 0 && (poll_fd.revents & POLLIN) != 0;
}

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
  prepare_.init(uv_prepare_init, &loop_, this);
  uv_prepare_start(prepare_.get(), &Worker::on_prepare);
  uv_unref(prepare_.handle());
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
  // `top -H`, `ps -L` and perf show the thread as "worker N": which worker is busy, at a glance.
  // Named here, not by the thread itself: it has its name before waygate reports ready.
  std::string name = "worker " + std::to_string(index_);
  pthread_setname_np(thread_.native_handle(), name.c_str());
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
  listener->fd = change.fd;  // listening already (bound on the control thread)
  listener->poll.init(uv_poll_init, &loop_, listener.get(), change.fd);
  if (!accept_paused_)
    uv_poll_start(listener->poll.get(), UV_READABLE, &Worker::on_listener_readable);
  listeners_.push_back(std::move(listener));
}

void Worker::close_listener(const std::string& address) {
  auto closed = std::find_if(listeners_.begin(), listeners_.end(),
                             [&](const auto& listener) { return listener->address == address; });
  if (closed == listeners_.end()) return;
  uint32_t slot = (*closed)->metrics_slot;
  listeners_.erase(closed);
  // The connections it accepted drain as on SIGTERM: each finishes the requests it has under
  // way and then closes (HTTP/1.1 with Connection: close, HTTP/2 after a GOAWAY), so their
  // clients move to a listener the config still has, and none is cut mid-request.
  for (DownstreamSession* session : sessions_.snapshot()) {
    if (session->listener_slot() == slot) session->drain();
  }
}

void Worker::on_listener_readable(uv_poll_t* poll, int status, int) {
  auto* listener = static_cast<Listener*>(poll->data);
  if (status == 0) listener->worker->accept_from(*listener);
}

void Worker::accept_from(Listener& listener) {
  // A bounded batch per wake-up: the poll is level-triggered, so the rest come next loop turn,
  // after the other connections' events.
  for (int i = 0; i < kAcceptBatch && !draining_ && !accept_paused_; ++i) {
    sockaddr_storage peer{};
    socklen_t length = sizeof(peer);
    int fd = ::accept4(listener.fd, reinterpret_cast<sockaddr*>(&peer), &length,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      admit(listener, fd, peer);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
      // Linux wants a descriptor before it looks for a connection: with none waiting, the last
      // descriptor was just taken and nothing is short yet.
      if (connection_waiting(listener.fd)) pause_accepting(errno);
    } else if (errno == EAGAIN && out_of_descriptors_) {
      // Linux finds a descriptor before it looks for a connection: this accept had one.
      out_of_descriptors_ = false;
      WG_LOG_INFO("worker %u: accepting again (file descriptors were short for %llu ms)", index_,
                  static_cast<unsigned long long>(uv_now(&loop_) - out_of_descriptors_since_ms_));
    }
    return;  // EAGAIN: none left
  }
}

void Worker::admit(Listener& listener, int fd, const sockaddr_storage& peer) {
  const routing::Limits& limits = snapshot().limits;
  ClientAddress client = ClientAddress::from(peer);
  if (sessions_.size() >= limits.max_connections_per_worker) {
    return refuse_connection(fd, ConnectionRefusal::kPerWorker, client);
  }
  bool counted = false;
  if (limits.max_connections_per_client != 0) {
    uint32_t& open = client_connections_[client];
    if (open >= limits.max_connections_per_client) {
      return refuse_connection(fd, ConnectionRefusal::kPerClient, client);
    }
    ++open;
    counted = true;
  }
  DownstreamSession& session = sessions_.push_front(std::make_unique<DownstreamSession>(*this));
  metrics_.downstream_active.store(sessions_.size(), std::memory_order_relaxed);
  session.set_client(client, counted);
  if (uv_tcp_open(reinterpret_cast<uv_tcp_t*>(session.stream()), fd) != 0) {
    ::close(fd);
    session.close_now();
    return;
  }
  add(metrics_.downstream_total, 1);
  session.set_listener_slot(listener.metrics_slot);
  session.allow_http2(snapshot().http2_on(listener.address));
  if (const auto* tls = snapshot().tls_for(listener.address)) {
    session.start_tls(*tls);
  } else {
    session.start();
  }
  note_connections();
}

void Worker::refuse_connection(int fd, ConnectionRefusal why, const ClientAddress& client) {
  // Nothing was read, nothing allocated: the client sees the connection closed at once.
  ::close(fd);
  add(metrics_.refused_connections[static_cast<size_t>(why)], 1);
  // One line a second at most, however hard a client knocks.
  ++refusals_unlogged_;
  uint64_t now_ms = uv_now(&loop_);
  if (refusal_logged_ms_ != 0 && now_ms - refusal_logged_ms_ < kRefusalLogIntervalMs) return;
  char ip[INET6_ADDRSTRLEN] = "?";
  client.format(ip);
  const routing::Limits& limits = snapshot().limits;
  bool per_client = why == ConnectionRefusal::kPerClient;
  WG_LOG_WARN(
      "worker %u: %llu connection(s) refused since the last such line, the last from %s "
      "(%s %llu reached)",
      index_, static_cast<unsigned long long>(refusals_unlogged_), ip,
      per_client ? "max_connections_per_client" : "max_connections_per_worker",
      static_cast<unsigned long long>(per_client ? limits.max_connections_per_client
                                                 : limits.max_connections_per_worker));
  refusals_unlogged_ = 0;
  refusal_logged_ms_ = now_ms;
}

void Worker::pause_accepting(int error) {
  accept_paused_ = true;
  for (auto& listener : listeners_)
    uv_poll_stop(listener->poll.get());
  if (!accept_resume_timer_) accept_resume_timer_.init(uv_timer_init, &loop_, this);
  uv_timer_start(accept_resume_timer_.get(), &Worker::on_accept_resume, kAcceptResumeMs, 0);
  if (out_of_descriptors_) {  // the same episode: said already
    WG_LOG_DEBUG("worker %u: still out of file descriptors, next try in %llu ms", index_,
                 static_cast<unsigned long long>(kAcceptResumeMs));
    return;
  }
  out_of_descriptors_ = true;
  out_of_descriptors_since_ms_ = uv_now(&loop_);
  add(metrics_.accept_pauses, 1);
  WG_LOG_ERROR(
      "worker %u: cannot accept: %s with %zu connections open; accepting paused until "
      "a connection closes (or %llu ms pass), new connections wait in the backlog",
      index_, std::generic_category().message(error).c_str(), sessions_.size(),
      static_cast<unsigned long long>(kAcceptResumeMs));
}

void Worker::resume_accepting() {
  if (draining_) return;
  if (accept_paused_) {
    accept_paused_ = false;
    for (auto& listener : listeners_)
      uv_poll_start(listener->poll.get(), UV_READABLE, &Worker::on_listener_readable);
  }
  // Try at once rather than wait for a connection: an accept that finds none waiting (but a
  // descriptor free) ends the episode.
  for (auto& listener : listeners_)
    accept_from(*listener);
}

void Worker::on_accept_resume(uv_timer_t* timer) {
  static_cast<Worker*>(timer->data)->resume_accepting();
}

uint64_t Worker::take_rate_limit(const routing::RouteAction& route, const ClientAddress& client,
                                 uint64_t now_ns) {
  // The client's own bucket first: a client over its limit spends nothing of the route's.
  if (route.client_rate_limit_slot != 0) {
    uint64_t wait_ns = client_buckets_.take(route.client_rate_limit_slot, client,
                                            route.settings->extras->rate_limits->client, now_ns);
    if (wait_ns != 0) {
      add(metrics_.rate_limited[static_cast<size_t>(RateLimitScope::kClient)], 1);
      return wait_ns;
    }
  }
  if (route.rate_limit_slot != 0) {
    if (route.rate_limit_slot >= route_buckets_.size())
      route_buckets_.resize(route.rate_limit_slot + 1);
    uint64_t wait_ns = route_buckets_[route.rate_limit_slot].take(
        route.settings->extras->rate_limits->route, now_ns);
    if (wait_ns != 0) {
      add(metrics_.rate_limited[static_cast<size_t>(RateLimitScope::kRoute)], 1);
      return wait_ns;
    }
  }
  return 0;
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
  // Exchanges past what the last two intervals' peaks used go (pooled_exchanges_cap): after a
  // burst, one interval later than the connections that brought them.
  self->exchanges_peak_before_ = self->exchanges_peak_;
  self->exchanges_peak_ = self->exchanges_in_use_;
  size_t cap = self->pooled_exchanges_cap();
  size_t exchanges_freed = 0;
  if (self->free_exchanges_.size() > cap) {
    exchanges_freed = self->free_exchanges_.size() - cap;
    self->free_exchanges_.resize(cap);
  }
  size_t now = self->memory_users();
  if (self->connections_peak_ >= now + kTrimAfterConnections ||
      exchanges_freed >= kTrimAfterConnections) {
    // A burst is over: the blocks its sessions and streams left in their pools go too, and
    // glibc, which keeps freed chunks for reuse, returns whole free pages to the system. It takes
    // a moment, so it is done only after a large drop, at most once per interval.
    DownstreamSession::keep_pooled_blocks(kPooledBlocksAfterBurst);
    Http2Stream::keep_pooled_blocks(kPooledBlocksAfterBurst);
    malloc_trim(0);
  }
  self->connections_peak_ = now;
}

size_t Worker::pooled_exchanges_cap() const {
  return std::max({kMinPooledExchanges, exchanges_peak_, exchanges_peak_before_});
}

void Worker::destroy_session(DownstreamSession& session) {
  if (session.counted_per_client()) {
    auto open = client_connections_.find(session.client());
    if (open != client_connections_.end() && --open->second == 0) client_connections_.erase(open);
  }
  sessions_.take(session);  // frees it
  metrics_.downstream_active.store(sessions_.size(), std::memory_order_relaxed);
  if (out_of_descriptors_ && !draining_) {
    // Its descriptor is closed: room for one more, tried on the next loop turn (not from inside
    // this close callback).
    uv_timer_start(accept_resume_timer_.get(), &Worker::on_accept_resume, 0, 0);
  }
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

void Worker::on_prepare(uv_prepare_t* prepare) {
  static_cast<Worker*>(prepare->data)->turn_now_ns_ = 0;
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
  exchanges_peak_ = std::max(exchanges_peak_, ++exchanges_in_use_);
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
  if (free_exchanges_.size() < pooled_exchanges_cap())
    free_exchanges_.push_back(std::move(exchange));
}

uint32_t Worker::next_random() {
  return static_cast<uint32_t>(random_u64(id_state_) >> 32);
}

void Worker::generate_request_id(char out[33]) {
  // Each byte as its two hex digits from a table: half the steps of a digit at a time.
  static constexpr auto kHexPairs = [] {
    constexpr char kHex[] = "0123456789abcdef";
    std::array<char, 512> pairs{};
    for (size_t byte = 0; byte < 256; ++byte) {
      pairs[2 * byte] = kHex[byte >> 4];
      pairs[2 * byte + 1] = kHex[byte & 0xf];
    }
    return pairs;
  }();
  uint64_t parts[2] = {random_u64(id_state_), random_u64(id_state_)};
  for (size_t i = 0; i < 16; ++i) {
    size_t byte = (parts[i / 8] >> (i % 8 * 8)) & 0xff;
    std::memcpy(out + 2 * i, &kHexPairs[2 * byte], 2);
  }
  out[32] = '\0';
}

// ---- Draining ------------------------------------------------------------------------------

void Worker::begin_drain() {
  draining_ = true;
  listeners_.clear();
  uv_timer_start(drain_timer_.get(), &Worker::on_drain_timeout, snapshot().timeouts.drain_ms, 0);
  for (DownstreamSession* session : sessions_.snapshot())
    session->drain();
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
  accept_resume_timer_.reset();
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);  // see publish()
    async_.reset();
  }
  check_.reset();
  prepare_.reset();
  trim_timer_.reset();
  lag_probe_.reset();
  last_tick_ms_.store(UINT64_MAX, std::memory_order_relaxed);  // done, not stuck
  WG_LOG_INFO("worker %u: longest event-loop lag %.2f ms, longest update %.3f ms", index_,
              static_cast<double>(max_loop_lag_us_.load(std::memory_order_relaxed)) / 1000,
              static_cast<double>(max_apply_us_) / 1000);
}

}  // namespace waygate::proxy
