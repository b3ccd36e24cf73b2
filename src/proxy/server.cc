#include "proxy/server.h"

#include <unistd.h>

#include <thread>
#include <utility>

#include "proxy/listen_socket.h"
#include "proxy/worker.h"

namespace waygate::proxy {
namespace {

bool has_address(const std::vector<routing::ListenerConfig>& listeners,
                 const routing::ListenerConfig& wanted) {
  for (const routing::ListenerConfig& listener : listeners) {
    if (listener.address_text == wanted.address_text) return true;
  }
  return false;
}

}  // namespace

Server::Server() = default;
Server::~Server() = default;

bool Server::bind(const std::vector<routing::ListenerConfig>& listeners, size_t worker_count,
                  std::vector<std::vector<ListenerChange>>* per_worker, std::string* error) {
  per_worker->resize(worker_count);
  for (size_t w = 0; w < worker_count; ++w) {
    for (const routing::ListenerConfig& listener : listeners) {
      int fd = open_listen_socket(listener.address, error);
      if (fd < 0) {
        *error = "listener " + listener.name + " on " + listener.address_text + ": " + *error;
        for (auto& changes : *per_worker) {
          for (ListenerChange& change : changes) {
            if (change.fd >= 0) ::close(change.fd);
          }
        }
        per_worker->clear();
        return false;
      }
      (*per_worker)[w].push_back(ListenerChange{listener.address_text, fd});
    }
  }
  return true;
}

bool Server::start(const routing::Config& config, std::shared_ptr<const routing::Snapshot> snapshot,
                   int access_log_fd, std::string* error) {
  unsigned count = config.workers;
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  // Bind everything before starting any thread, so a taken port fails start-up cleanly.
  std::vector<std::vector<ListenerChange>> listeners;
  if (!bind(config.listeners, count, &listeners, error)) return false;
  for (unsigned w = 0; w < count; ++w) {
    workers_.push_back(
        std::make_unique<Worker>(w, snapshot, std::move(listeners[w]), access_log_fd));
  }
  listeners_ = config.listeners;
  for (auto& worker : workers_)
    worker->start();
  return true;
}

bool Server::apply(const routing::Config& config, std::shared_ptr<const routing::Snapshot> snapshot,
                   std::string* error) {
  // Sockets follow addresses: one whose address stays is kept whatever its listener is called.
  std::vector<routing::ListenerConfig> added;
  for (const routing::ListenerConfig& listener : config.listeners) {
    if (!has_address(listeners_, listener)) added.push_back(listener);
  }
  std::vector<std::vector<ListenerChange>> opened;
  if (!bind(added, workers_.size(), &opened, error)) return false;
  for (size_t w = 0; w < workers_.size(); ++w) {
    std::vector<ListenerChange> changes;
    for (const routing::ListenerConfig& listener : listeners_) {
      if (!has_address(config.listeners, listener)) {
        changes.push_back(ListenerChange{listener.address_text});
      }
    }
    for (ListenerChange& change : opened[w])
      changes.push_back(std::move(change));
    workers_[w]->publish(snapshot, std::move(changes));
  }
  listeners_ = config.listeners;
  retire(std::exchange(snapshot_, std::move(snapshot)));
  return true;
}

void Server::retire(std::shared_ptr<const routing::Snapshot> snapshot) {
  // A snapshot only this list holds can gain no new owner: freeing it now is safe. Those still in
  // use by a worker's requests wait for the next reload.
  std::erase_if(retired_, [](const auto& old) { return old.use_count() == 1; });
  retired_.push_back(std::move(snapshot));
}

void Server::drain() {
  for (auto& worker : workers_)
    worker->request_drain();
}

void Server::join() {
  for (auto& worker : workers_)
    worker->join();
}

}  // namespace waygate::proxy
