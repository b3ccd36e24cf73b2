// The connections one worker keeps to one upstream endpoint. It owns every connection it made;
// idle ones wait on a LIFO stack so the warmest is reused first, and at most a configured number
// are kept idle.
#pragma once

#include <list>
#include <memory>
#include <string>
#include <vector>

#include "core/socket_address.h"
#include "proxy/upstream_connection.h"

namespace waygate::proxy {

class Worker;

class UpstreamPool {
 public:
  UpstreamPool(Worker& worker, std::string address_text, SocketAddress address);
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // An idle connection, already attached to the session, or null when none is idle.
  UpstreamConnection* take_idle(DownstreamSession& session);
  // A new connection (not yet connected) for the caller to connect().
  UpstreamConnection& create();

  void add_idle(UpstreamConnection& connection);
  void remove_idle(UpstreamConnection& connection);
  // Frees a connection whose handles have closed.
  void destroy(UpstreamConnection& connection);
  void close_idle();

  const std::string& address_text() const { return address_text_; }
  const SocketAddress& address() const { return address_; }

 private:
  Worker& worker_;
  std::string address_text_;
  SocketAddress address_;
  std::list<std::unique_ptr<UpstreamConnection>> connections_;
  std::vector<UpstreamConnection*> idle_;
};

}  // namespace waygate::proxy
