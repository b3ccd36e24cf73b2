#include "proxy/server.h"

#include <unistd.h>

#include <thread>

#include "proxy/listen_socket.h"
#include "proxy/worker.h"

namespace waygate::proxy {

Server::Server() = default;
Server::~Server() = default;

bool Server::start(const routing::Config& config, std::shared_ptr<const routing::Snapshot> snapshot,
                   int access_log_fd, std::string* error) {
  unsigned count = config.workers;
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());

  // Bind everything before starting any thread, so a taken port fails start-up cleanly.
  std::vector<std::vector<int>> fds(count);
  for (unsigned w = 0; w < count; ++w) {
    for (const routing::ListenerConfig& listener : config.listeners) {
      int fd = open_listen_socket(listener.address, error);
      if (fd < 0) {
        *error = "listener " + listener.name + " on " + listener.address_text + ": " + *error;
        for (auto& worker_fds : fds) {
          for (int open_fd : worker_fds)
            ::close(open_fd);
        }
        return false;
      }
      fds[w].push_back(fd);
    }
  }
  for (unsigned w = 0; w < count; ++w) {
    workers_.push_back(std::make_unique<Worker>(w, snapshot, std::move(fds[w]), access_log_fd));
  }
  for (auto& worker : workers_)
    worker->start();
  return true;
}

void Server::publish(const std::shared_ptr<const routing::Snapshot>& snapshot) {
  for (auto& worker : workers_)
    worker->publish(snapshot);
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
