// The set of workers: binds every listener once per worker, starts the threads, and relays
// snapshots and the drain signal from the control thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "routing/config.h"
#include "routing/snapshot.h"

namespace waygate::proxy {

class Worker;

class Server {
 public:
  Server();
  ~Server();

  // Binds and starts. On failure returns false with *error naming the listener and the cause.
  bool start(const routing::Config& config, std::shared_ptr<const routing::Snapshot> snapshot,
             int access_log_fd, std::string* error);
  void publish(const std::shared_ptr<const routing::Snapshot>& snapshot);
  void drain();
  // Blocks until every worker has drained.
  void join();
  size_t worker_count() const { return workers_.size(); }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace waygate::proxy
