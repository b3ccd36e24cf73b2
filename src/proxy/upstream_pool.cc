#include "proxy/upstream_pool.h"

#include <algorithm>

#include "core/tls_context.h"
#include "proxy/downstream_session.h"
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
      tls_(host.tls) {
  if (tls_) tls_names_ = routing::tls_peer_names(*tls_, host.server_name, host.address_text);
}

SSL* UpstreamPool::new_tls_session() const {
  return tls_ ? tls_->context->new_ssl(address_text_, tls_names_.sni, tls_names_.verify) : nullptr;
}

UpstreamPool::~UpstreamPool() = default;

UpstreamPool::Acquired UpstreamPool::acquire(DownstreamSession& session, bool allow_idle,
                                             uint32_t cluster_id, uint64_t max_connections,
                                             UpstreamConnection** connection) {
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
  std::vector<UpstreamConnection*> closing(self->idle_.begin(), self->idle_.begin() + surplus);
  self->idle_.erase(self->idle_.begin(), self->idle_.begin() + surplus);
  for (UpstreamConnection* connection : closing)
    connection->close();
  self->idle_low_water_ = self->idle_.size();
  if (self->idle_.empty()) self->purge_timer_.reset();
}

void UpstreamPool::remove_idle(UpstreamConnection& connection) {
  auto it = std::find(idle_.begin(), idle_.end(), &connection);
  if (it != idle_.end()) idle_.erase(it);
  idle_low_water_ = std::min(idle_low_water_, idle_.size());
}

void UpstreamPool::destroy(UpstreamConnection& connection) {
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
