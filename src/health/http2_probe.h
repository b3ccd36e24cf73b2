// An HTTP check of one endpoint of a `protocol: http2` cluster: the request and verdict of
// HttpProbe (ExpectedAnswer) sent as one HTTP/2 stream, h2 by ALPN over TLS when the cluster
// speaks TLS, else h2c by prior knowledge, as the cluster's own requests go; or, for a `grpc:`
// check, the call grpc.health.v1.Health/Check (grpc_health.h). The connection (its own, never one
// of the workers') is kept between checks while the endpoint allows, so most checks cost one
// stream and no connect or handshake.
#pragma once

#include <uv.h>

#include <string_view>

#include "core/socket_address.h"
#include "health/probe.h"
#include "http/client.h"
#include "routing/config.h"

namespace waygate::health {

class Http2Probe final : public Probe {
 public:
  // `config` and `host` must outlive the probe (the checker replaces probes when either changes).
  Http2Probe(uv_loop_t* loop, const SocketAddress& address,
             const routing::HealthCheckConfig& config, std::string_view host, ProbeSink& sink,
             http::Client::TlsSessionFn new_tls_session = {});
  ~Http2Probe() override;

  bool start() override;
  void abandon() override;

 private:
  class Attempt;  // one connection; lives until its handles have closed, maybe after the probe

  uv_loop_t* loop_;
  SocketAddress address_;
  const routing::HealthCheckConfig& config_;
  std::string_view host_;
  ProbeSink& sink_;
  http::Client::TlsSessionFn new_tls_session_;
  Attempt* attempt_ = nullptr;
};

}  // namespace waygate::health
