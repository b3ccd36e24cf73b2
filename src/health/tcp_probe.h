// A TCP check of one endpoint: a connect that completes passes. Each check opens a new socket and
// resets it at once, so thousands of checks a second leave no TIME_WAIT sockets behind.
#pragma once

#include <uv.h>

#include "core/socket_address.h"
#include "health/probe.h"

namespace waygate::health {

class TcpProbe final : public Probe {
 public:
  TcpProbe(uv_loop_t* loop, const SocketAddress& address, ProbeSink& sink);
  ~TcpProbe() override;

  bool start() override;
  void abandon() override;

 private:
  class Attempt;  // one connect; lives until its handle has closed, which may be after the probe

  uv_loop_t* loop_;
  SocketAddress address_;
  ProbeSink& sink_;
  Attempt* attempt_ = nullptr;
};

}  // namespace waygate::health
