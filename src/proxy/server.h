// The set of workers: binds every listener once per worker, starts the threads, and relays
// snapshots, listener changes and the drain signal from the control thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "routing/config.h"
#include "routing/snapshot.h"

namespace waygate::proxy {

class Worker;
struct ListenerChange;

class Server {
 public:
  Server();
  ~Server();

  // Binds and starts. On failure returns false with *error naming the listener and the cause.
  bool start(const routing::Config& config, std::shared_ptr<const routing::Snapshot> snapshot,
             int access_log_fd, std::string* error);
  // Hands a new snapshot to every worker and opens or closes the listeners that differ from the
  // running ones. When a new listener cannot be bound, nothing changes and *error says why.
  bool apply(const routing::Config& config, std::shared_ptr<const routing::Snapshot> snapshot,
             std::string* error);
  void drain();
  // Blocks until every worker has drained.
  void join();
  size_t worker_count() const { return workers_.size(); }

 private:
  // One socket per worker for each listener; on failure closes what it opened.
  bool bind(const std::vector<routing::ListenerConfig>& listeners, size_t worker_count,
            std::vector<std::vector<ListenerChange>>* per_worker, std::string* error);

  // Snapshots replaced by a reload, held so that the last reference is dropped here, on the control
  // thread: freeing a large route table must not stall a worker.
  void retire(std::shared_ptr<const routing::Snapshot> snapshot);

  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<routing::ListenerConfig> listeners_;  // as running
  std::shared_ptr<const routing::Snapshot> snapshot_;
  std::vector<std::shared_ptr<const routing::Snapshot>> retired_;
};

}  // namespace waygate::proxy
