#include "proxy/upstream_pool.h"

#include <algorithm>

#include "proxy/worker.h"

namespace waygate::proxy {

UpstreamPool::UpstreamPool(Worker& worker, std::string address_text, SocketAddress address)
    : worker_(worker), address_text_(std::move(address_text)), address_(address) {}

UpstreamConnection* UpstreamPool::take_idle(DownstreamSession& session) {
  if (idle_.empty()) return nullptr;
  UpstreamConnection* connection = idle_.back();
  idle_.pop_back();
  connection->attach(session);
  return connection;
}

UpstreamConnection& UpstreamPool::create() {
  connections_.push_front(std::make_unique<UpstreamConnection>(*this, worker_));
  connections_.front()->position = connections_.begin();
  return *connections_.front();
}

void UpstreamPool::add_idle(UpstreamConnection& connection) {
  if (idle_.size() >= worker_.snapshot().limits.max_idle_upstream_per_endpoint) {
    connection.close();
    return;
  }
  idle_.push_back(&connection);
}

void UpstreamPool::remove_idle(UpstreamConnection& connection) {
  auto it = std::find(idle_.begin(), idle_.end(), &connection);
  if (it != idle_.end()) idle_.erase(it);
}

void UpstreamPool::destroy(UpstreamConnection& connection) {
  connections_.erase(connection.position);
}

void UpstreamPool::close_idle() {
  // close() removes each connection from idle_, so take from a copy.
  std::vector<UpstreamConnection*> idle = idle_;
  for (UpstreamConnection* connection : idle)
    connection->close();
}

}  // namespace waygate::proxy
