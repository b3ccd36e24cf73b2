// A proxy::Worker built from a config's text as the server builds one, serving a listening socket
// on loopback: for the unit tests that drive a real worker with a client and an upstream of their
// own.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "proxy/worker.h"
#include "routing/config_loader.h"
#include "routing/route_table.h"
#include "routing/topology.h"

namespace waygate::test {

// A listening socket on 127.0.0.1 at a free port (*port), or -1.
int listen_on_loopback(uint16_t* port);
// A blocking socket connected to 127.0.0.1:port, or -1. Its reads give up after 10 seconds, which
// ends a test that would hang (not a timing assertion).
int connect_to_loopback(uint16_t port);

class LoopbackWorker {
 public:
  // The config must name one listener, at kListenerAddress: the worker serves it on `listen_fd`
  // (which it owns from here on) with that listener's settings and access log.
  static constexpr const char* kListenerAddress = "127.0.0.1:1";
  // Started, or null with *error saying why.
  static std::unique_ptr<LoopbackWorker> start(const std::string& config_text, int listen_fd,
                                               std::string* error);
  // Drains the worker and joins its thread.
  ~LoopbackWorker();
  LoopbackWorker(const LoopbackWorker&) = delete;
  LoopbackWorker& operator=(const LoopbackWorker&) = delete;

 private:
  LoopbackWorker() = default;

  routing::ConfigResult loaded_;
  routing::Topology topology_;
  routing::RouteNameSlots route_names_;
  std::unique_ptr<proxy::Worker> worker_;
};

}  // namespace waygate::test
