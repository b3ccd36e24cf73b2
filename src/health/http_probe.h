// An HTTP check of one endpoint: `method path` with a Host header; it passes when the status is in
// one of the expected ranges and the body (its first 64 KiB) contains the expected text
// (ExpectedAnswer). The
// connection is kept between checks when the server allows, so most checks cost one request and
// no connect.
#pragma once

#include <uv.h>

#include <string_view>

#include "core/socket_address.h"
#include "health/expected_answer.h"
#include "health/probe.h"
#include "http/client.h"
#include "routing/config.h"

namespace waygate::health {

class HttpProbe final : public Probe, private http::ClientHandler {
 public:
  // `config` and `host` must outlive the probe (the checker replaces probes when either changes).
  HttpProbe(uv_loop_t* loop, const SocketAddress& address, const routing::HealthCheckConfig& config,
            std::string_view host, ProbeSink& sink,
            http::Client::TlsSessionFn new_tls_session = {});

  bool start() override;
  void abandon() override;

 private:
  void send();
  // Last: the sink may destroy this probe.
  void report(const char* failure) { sink_.on_probe_done(failure == nullptr, failure); }

  // http::ClientHandler
  void on_response_head(const http::MessageHead& head) override;
  void on_response_body(std::string_view bytes) override;
  void on_response_complete() override;
  void on_client_error(const char* reason) override;

  const routing::HealthCheckConfig& config_;
  ExpectedAnswer answer_;
  std::string_view host_;
  ProbeSink& sink_;
  http::Client client_;
  bool keep_alive_ = false;
  // The request went out on a connection an earlier check left open, which the server may have
  // closed meanwhile: a reset before any answer is retried once on a new connection.
  bool reused_connection_ = false;
  bool retried_ = false;
};

}  // namespace waygate::health
