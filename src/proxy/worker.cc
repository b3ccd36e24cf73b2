#include "proxy/worker.h"

#include <unistd.h>

#include <random>
#include <unordered_set>

#include "core/log.h"

namespace waygate::proxy {
namespace {

constexpr size_t kMaxPooledExchanges = 1024;

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

Worker::Worker(unsigned index, std::shared_ptr<const routing::Snapshot> snapshot,
               std::vector<ListenerChange> listeners, int access_log_fd)
    : index_(index),
      snapshot_(std::move(snapshot)),
      read_buffer_(std::make_unique<std::array<char, 64 * 1024>>()) {
  uv_loop_init(&loop_);
  loop_.data = this;
  uv_async_init(&loop_, &async_, &Worker::on_async);
  async_.data = this;
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  access_log_.init(&loop_, access_log_fd);
  std::random_device seed;
  id_state_[0] = (uint64_t{seed()} << 32) | seed();
  id_state_[1] = (uint64_t{seed()} << 32) | seed() | 1;
  for (const ListenerChange& listener : listeners)
    open_listener(listener.address, listener.fd);
}

Worker::~Worker() {
  if (thread_.joinable()) thread_.join();
  uv_loop_close(&loop_);
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::open_listener(const std::string& address, int fd) {
  auto listener = std::make_unique<Listener>();
  listener->worker = this;
  listener->address = address;
  uv_tcp_init(&loop_, &listener->tcp);
  listener->tcp.data = listener.get();
  uv_tcp_open(&listener->tcp, fd);
  // The socket listens already (bound on the control thread); this starts accepting.
  uv_listen(reinterpret_cast<uv_stream_t*>(&listener->tcp), 4096, &Worker::on_connection);
  listeners_.push_back(std::move(listener));
}

void Worker::close_listener(const std::string& address) {
  for (auto& listener : listeners_) {
    if (listener->address != address ||
        uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener->tcp))) {
      continue;
    }
    // Connections it accepted stay open: they belong to their sessions, not to the listener.
    uv_close(reinterpret_cast<uv_handle_t*>(&listener->tcp), &Worker::on_listener_closed);
  }
}

void Worker::on_listener_closed(uv_handle_t* handle) {
  auto* listener = static_cast<Listener*>(handle->data);
  auto& listeners = listener->worker->listeners_;
  std::erase_if(listeners, [&](const auto& owned) { return owned.get() == listener; });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::run() {
  uv_run(&loop_, UV_RUN_DEFAULT);
  // Everything is closed; run once more so the last close callbacks free their memory.
  uv_run(&loop_, UV_RUN_NOWAIT);
}

void Worker::publish(std::shared_ptr<const routing::Snapshot> snapshot,
                     std::vector<ListenerChange> changes) {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_snapshot_ = std::move(snapshot);
    for (ListenerChange& change : changes)
      inbox_listeners_.push_back(std::move(change));
  }
  uv_async_send(&async_);
}

void Worker::request_drain() {
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    inbox_drain_ = true;
  }
  uv_async_send(&async_);
}

void Worker::on_async(uv_async_t* async) {
  static_cast<Worker*>(async->data)->apply_messages();
}

void Worker::apply_messages() {
  std::shared_ptr<const routing::Snapshot> snapshot;
  std::vector<ListenerChange> listeners;
  bool drain = false;
  {
    std::lock_guard<std::mutex> lock(inbox_mutex_);
    snapshot = std::move(inbox_snapshot_);
    listeners.swap(inbox_listeners_);
    drain = inbox_drain_;
  }
  if (snapshot) {
    snapshot_ = std::move(snapshot);
    round_robin_.assign(snapshot_->clusters.size(), 0);
    close_pools_left_out();
  }
  for (const ListenerChange& change : listeners) {
    if (change.fd < 0) {
      close_listener(change.address);
    } else if (draining_) {
      ::close(change.fd);
    } else {
      open_listener(change.address, change.fd);
    }
  }
  if (drain && !draining_) begin_drain();
}

void Worker::on_connection(uv_stream_t* server, int status) {
  auto* listener = static_cast<Listener*>(server->data);
  Worker& worker = *listener->worker;
  if (status < 0 || worker.draining_) return;
  worker.sessions_.push_front(std::make_unique<DownstreamSession>(worker));
  DownstreamSession& session = *worker.sessions_.front();
  session.position = worker.sessions_.begin();
  if (uv_accept(server, session.stream()) != 0) {
    session.close();
    return;
  }
  // Over the limit: libuv has accepted the connection already; closing it tells the client at once.
  // (The session counts toward the limit until its close callback, a moment later.)
  uint64_t limit = worker.snapshot_->limits.max_connections_per_worker;
  if (worker.sessions_.size() > limit) {
    WG_LOG_WARN("worker %u: max_connections_per_worker (%llu) reached, connection closed",
                worker.index_, static_cast<unsigned long long>(limit));
    session.close();
    return;
  }
  session.start();
}

void Worker::allocate_read_buffer(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* worker = static_cast<Worker*>(handle->loop->data);
  *buf = uv_buf_init(worker->read_buffer_->data(),
                     static_cast<unsigned>(worker->read_buffer_->size()));
}

UpstreamPool& Worker::pool_for(const routing::Endpoint& endpoint) {
  auto it = pools_.find(endpoint.address_text);
  if (it == pools_.end()) {
    it = pools_
             .emplace(endpoint.address_text, std::make_unique<UpstreamPool>(
                                                 *this, endpoint.address_text, endpoint.address))
             .first;
  }
  return *it->second;
}

// Endpoints that left every cluster: their idle connections go now; busy ones finish their
// request and are then closed by the idle timeout.
void Worker::close_pools_left_out() {
  std::unordered_set<std::string_view> live;
  for (const routing::Cluster& cluster : snapshot_->clusters) {
    for (const routing::Endpoint& endpoint : cluster.endpoints)
      live.insert(endpoint.address_text);
  }
  for (auto& [address, pool] : pools_) {
    if (!live.contains(address)) pool->close_idle();
  }
}

uint32_t Worker::next_round_robin(uint32_t cluster_index) {
  if (cluster_index >= round_robin_.size()) round_robin_.resize(cluster_index + 1, 0);
  return round_robin_[cluster_index]++;
}

std::unique_ptr<Exchange> Worker::acquire_exchange() {
  if (free_exchanges_.empty()) return std::make_unique<Exchange>();
  std::unique_ptr<Exchange> exchange = std::move(free_exchanges_.back());
  free_exchanges_.pop_back();
  return exchange;
}

void Worker::release_exchange(std::unique_ptr<Exchange> exchange) {
  if (free_exchanges_.size() >= kMaxPooledExchanges) return;
  exchange->reset();
  free_exchanges_.push_back(std::move(exchange));
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

void Worker::destroy_session(DownstreamSession& session) {
  sessions_.erase(session.position);
  if (draining_) finish_drain_if_idle();
}

void Worker::begin_drain() {
  draining_ = true;
  std::vector<std::string> addresses;
  for (auto& listener : listeners_)
    addresses.push_back(listener->address);
  for (const std::string& address : addresses)
    close_listener(address);
  uv_timer_start(&drain_timer_, &Worker::on_drain_timeout, snapshot_->timeouts.drain_ms, 0);
  // begin_drain may close a session, which erases it from the list: walk a copy of the pointers.
  std::vector<DownstreamSession*> sessions;
  for (auto& session : sessions_)
    sessions.push_back(session.get());
  for (DownstreamSession* session : sessions)
    session->begin_drain();
  finish_drain_if_idle();
}

void Worker::on_drain_timeout(uv_timer_t* timer) {
  auto* worker = static_cast<Worker*>(timer->data);
  WG_LOG_WARN("worker %u: drain timeout, closing %zu connections", worker->index_,
              worker->sessions_.size());
  std::vector<DownstreamSession*> sessions;
  for (auto& session : worker->sessions_)
    sessions.push_back(session.get());
  for (DownstreamSession* session : sessions)
    session->close();
}

void Worker::finish_drain_if_idle() {
  if (!sessions_.empty() || drained_) return;
  drained_ = true;
  for (auto& [address, pool] : pools_)
    pool->close_idle();
  access_log_.close();
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

}  // namespace waygate::proxy
