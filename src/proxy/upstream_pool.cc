#include "proxy/upstream_pool.h"

#include <algorithm>

#include "core/tls_context.h"
#include "proxy/downstream_session.h"
#include "proxy/upstream_http2_stream.h"
#include "proxy/worker.h"
#include "routing/upstream_tls.h"

namespace waygate::proxy {
namespace {

constexpr uint64_t kPurgeIntervalMs = 1000;

}  // namespace

UpstreamPool::UpstreamPool(Worker& worker, const routing::Host& host)
    : worker_(worker),
      address_text_(host.address_text),
      address_(host.address),
      endpoint_id_(host.endpoint_id),
      generation_(host.generation),
      tls_(host.tls),
      http2_(host.http2) {
  if (tls_) tls_names_ = routing::tls_peer_names(*tls_, host.server_name, host.address_text);
}

SSL* UpstreamPool::new_tls_session() const {
  return tls_ ? tls_->context->new_ssl(address_text_, tls_names_.sni, tls_names_.verify) : nullptr;
}

uint64_t UpstreamPool::stream_window_bytes() const {
  return worker_.snapshot().limits.http2_initial_window_bytes;
}

uint64_t UpstreamPool::idle_timeout_ms() const {
  return worker_.snapshot().timeouts.upstream_idle_ms;
}

UpstreamPool::~UpstreamPool() = default;

UpstreamPool::Acquired UpstreamPool::acquire(DownstreamSession& session, bool allow_idle,
                                             bool upgrade, uint32_t cluster_id,
                                             uint64_t max_connections,
                                             UpstreamConnection** connection) {
  if (http2_ && !upgrade) return acquire_stream(session, cluster_id, max_connections, connection);
  if (allow_idle && !idle_.empty()) {
    *connection = idle_.back();
    idle_.pop_back();
    idle_low_water_ = std::min(idle_low_water_, idle_.size());
    (*connection)->attach(session);
    return Acquired::kReady;
  }
  const routing::Limits& limits = worker_.snapshot().limits;
  bool cluster_full = worker_.cluster_load(cluster_id).connections >= max_connections;
  if (cluster_full && connections_.empty()) return Acquired::kOverflow;
  if (cluster_full || connections_.size() >= limits.max_upstream_connections_per_endpoint) {
    waiters_.push_back(
        Waiter{&session, cluster_id,
               uv_now(worker_.loop()) + worker_.snapshot().timeouts.upstream_connect_ms});
    arm_wait_timer();
    return Acquired::kQueued;
  }
  UpstreamConnection& created = create(cluster_id);
  if (!created.connect(session, worker_.snapshot().timeouts.upstream_connect_ms)) {
    return Acquired::kFailed;
  }
  *connection = &created;
  return Acquired::kConnecting;
}

UpstreamConnection& UpstreamPool::create(uint32_t cluster_id) {
  worker_.count_upstream_connection(+1);
  ++worker_.cluster_load(cluster_id).connections;
  UpstreamConnection& created =
      connections_.push_front(std::make_unique<UpstreamConnection>(*this, worker_.loop()));
  created.set_opened_for_cluster(cluster_id);
  return created;
}

UpstreamPool::Acquired UpstreamPool::acquire_stream(DownstreamSession& session, uint32_t cluster_id,
                                                    uint64_t max_connections,
                                                    UpstreamConnection** connection) {
  UpstreamConnection& carrier =
      carriers_.push_front(std::make_unique<UpstreamConnection>(*this, worker_.loop()));
  UpstreamHttp2Stream& stream = carrier.carry_http2_stream();
  stream.set_cluster(cluster_id, max_connections);
  UpstreamHttp2Connection* http2 = place_stream(stream, nullptr);
  if (!http2) {
    carrier.close();
    bool cluster_full = worker_.cluster_load(cluster_id).connections >= max_connections;
    return cluster_full ? Acquired::kOverflow : Acquired::kFailed;
  }
  *connection = &carrier;
  if (http2->state() == UpstreamHttp2Connection::State::kReady) {
    carrier.attach(session);
    carrier.resume_reading();
    return Acquired::kReady;
  }
  carrier.connect(session, worker_.snapshot().timeouts.upstream_connect_ms);
  return Acquired::kConnecting;
}

UpstreamHttp2Connection* UpstreamPool::place_stream(UpstreamHttp2Stream& stream,
                                                    UpstreamHttp2Connection* avoid) {
  UpstreamHttp2Connection* chosen = nullptr;
  UpstreamHttp2Connection* least_loaded = nullptr;
  for (const auto& candidate : http2_connections_) {
    if (candidate.get() == avoid || !candidate->usable()) continue;
    if (candidate->room() > 0) {
      chosen = candidate.get();
      break;
    }
    if (!least_loaded || candidate->streams() < least_loaded->streams()) {
      least_loaded = candidate.get();
    }
  }
  if (!chosen) {
    bool cluster_full =
        worker_.cluster_load(stream.cluster_id()).connections >= stream.max_connections();
    if (cluster_full || retired_ ||
        http2_connections_.size() >=
            worker_.snapshot().limits.max_upstream_connections_per_endpoint) {
      chosen = least_loaded;
    } else {
      worker_.count_upstream_connection(+1);
      ++worker_.cluster_load(stream.cluster_id()).connections;
      http2_connections_.push_back(
          std::make_unique<UpstreamHttp2Connection>(*this, worker_.loop()));
      chosen = http2_connections_.back().get();
      chosen->set_opened_for_cluster(stream.cluster_id());
      if (!chosen->connect(worker_.snapshot().timeouts.upstream_connect_ms)) return nullptr;
    }
    if (!chosen) return nullptr;
  }
  chosen->add(stream);
  return chosen;
}

void UpstreamPool::cancel_wait(DownstreamSession& session) {
  std::erase_if(waiters_, [&](const Waiter& waiter) { return waiter.session == &session; });
  if (retired_ && empty()) worker_.on_pool_empty(*this);
}

bool UpstreamPool::accepts_idle() const {
  return !retired_ && !worker_.draining();
}

void UpstreamPool::add_idle(UpstreamConnection& connection) {
  if (!waiters_.empty()) {
    serve_waiter(&connection);
    return;
  }
  uint64_t max_idle = worker_.snapshot().limits.max_idle_upstream_per_endpoint;
  if (max_idle != 0 && idle_.size() >= max_idle) {
    connection.close();
    return;
  }
  connection.set_idle_timeout(worker_.snapshot().timeouts.upstream_idle_ms);
  idle_.push_back(&connection);
  if (!purge_timer_) {
    purge_timer_.init(uv_timer_init, worker_.loop(), this);
    uv_unref(purge_timer_.handle());
    idle_low_water_ = idle_.size();
    uv_timer_start(purge_timer_.get(), &UpstreamPool::on_purge, kPurgeIntervalMs, kPurgeIntervalMs);
  }
}

void UpstreamPool::on_purge(uv_timer_t* timer) {
  auto* self = static_cast<UpstreamPool*>(timer->data);
  // The bottom idle_low_water_ connections of the stack were not taken once this period: they
  // are surplus to what the load needed. Half of them go (oldest first).
  auto surplus = static_cast<std::ptrdiff_t>(self->idle_low_water_ / 2);
  self->purging_.assign(self->idle_.begin(), self->idle_.begin() + surplus);
  self->idle_.erase(self->idle_.begin(), self->idle_.begin() + surplus);
  for (UpstreamConnection* connection : self->purging_)
    connection->close();
  self->purging_.clear();
  self->idle_low_water_ = self->idle_.size();
  if (self->idle_.empty()) self->purge_timer_.reset();
}

void UpstreamPool::remove_idle(UpstreamConnection& connection) {
  auto it = std::find(idle_.begin(), idle_.end(), &connection);
  if (it != idle_.end()) idle_.erase(it);
  idle_low_water_ = std::min(idle_low_water_, idle_.size());
}

void UpstreamPool::destroy(UpstreamHttp2Connection& connection) {
  --worker_.cluster_load(connection.opened_for_cluster()).connections;
  worker_.count_upstream_connection(-1);
  std::erase_if(http2_connections_, [&](const auto& owned) { return owned.get() == &connection; });
  if (retired_ && empty()) worker_.on_pool_empty(*this);
}

void UpstreamPool::destroy(UpstreamConnection& connection) {
  if (connection.carries_http2_stream()) {
    carriers_.take(connection);  // frees it; it never counted as a connection
    if (retired_ && empty()) worker_.on_pool_empty(*this);
    return;
  }
  --worker_.cluster_load(connection.opened_for_cluster()).connections;
  connections_.take(connection);  // frees it
  worker_.count_upstream_connection(-1);
  if (!waiters_.empty()) serve_waiter(nullptr);
  if (retired_ && empty()) worker_.on_pool_empty(*this);
}

void UpstreamPool::serve_waiter(UpstreamConnection* idle) {
  Waiter waiter = waiters_.front();
  waiters_.pop_front();
  if (idle) {
    idle->attach(*waiter.session);
    waiter.session->on_connection_assigned(idle, true);
    return;
  }
  UpstreamConnection& created = create(waiter.cluster_id);
  if (!created.connect(*waiter.session, worker_.snapshot().timeouts.upstream_connect_ms)) {
    waiter.session->on_upstream_error(UpstreamError::kRefused);
    return;
  }
  waiter.session->on_connection_assigned(&created, false);
}

void UpstreamPool::arm_wait_timer() {
  if (waiters_.empty()) return;
  if (!wait_timer_) wait_timer_.init(uv_timer_init, worker_.loop(), this);
  uint64_t now = uv_now(worker_.loop());
  uint64_t due = waiters_.front().deadline;
  uv_timer_start(wait_timer_.get(), &UpstreamPool::on_wait_timeout, due > now ? due - now : 0, 0);
}

void UpstreamPool::on_wait_timeout(uv_timer_t* timer) {
  auto* self = static_cast<UpstreamPool*>(timer->data);
  uint64_t now = uv_now(timer->loop);
  // Waiters share one timeout, so the queue is in deadline order.
  while (!self->waiters_.empty() && self->waiters_.front().deadline <= now) {
    DownstreamSession* session = self->waiters_.front().session;
    self->waiters_.pop_front();
    session->on_upstream_error(UpstreamError::kBusy);
  }
  self->arm_wait_timer();
  if (self->retired_ && self->empty()) self->worker_.on_pool_empty(*self);
}

void UpstreamPool::close_idle() {
  // close() removes each connection from idle_, so take from a copy.
  std::vector<UpstreamConnection*> idle = idle_;
  for (UpstreamConnection* connection : idle)
    connection->close();
  std::vector<UpstreamHttp2Connection*> unused;
  for (const auto& connection : http2_connections_) {
    if (connection->streams() == 0) unused.push_back(connection.get());
  }
  for (UpstreamHttp2Connection* connection : unused)
    connection->close();
}

void UpstreamPool::shut_down() {
  close_idle();
  wait_timer_.reset();
  purge_timer_.reset();
}

void UpstreamPool::retire() {
  retired_ = true;
  close_idle();
  // Queued requests have nothing sent yet: they fail as a refused connect would, and may be
  // retried on another endpoint.
  while (!waiters_.empty()) {
    DownstreamSession* session = waiters_.front().session;
    waiters_.pop_front();
    session->on_upstream_error(UpstreamError::kRefused);
  }
  if (empty()) worker_.on_pool_empty(*this);
}

}  // namespace waygate::proxy
