#include "health/http_probe.h"

#include <cstring>

namespace waygate::health {

HttpProbe::HttpProbe(uv_loop_t* loop, const SocketAddress& address,
                     const routing::HealthCheckConfig& config, std::string_view host,
                     ProbeSink& sink, http::Client::TlsSessionFn new_tls_session)
    : config_(config),
      answer_(config),
      host_(host),
      sink_(sink),
      client_(loop, address, *this, std::move(new_tls_session)) {}

bool HttpProbe::start() {
  answer_.reset();
  reused_connection_ = keep_alive_;
  retried_ = false;
  send();
  return true;  // the client reports even a failed connect from the loop
}

void HttpProbe::abandon() {
  client_.close();
  keep_alive_ = false;
}

void HttpProbe::send() {
  http::ClientRequest request;
  request.method = config_.method;
  request.target = config_.path;
  request.host = host_;
  // The checker's deadline covers the whole check (connect, head and body); the client's own
  // timeout only bounds the gap between reads, which a server dripping bytes could stretch.
  request.timeout_ms = 0;
  client_.send(request);
}

void HttpProbe::on_response_head(const http::MessageHead& head) {
  answer_.set_status(head.status);
  keep_alive_ = head.keep_alive;
}

void HttpProbe::on_response_body(std::string_view bytes) {
  if (answer_.add_body(bytes)) return;
  client_.close();  // judged on what was read; the rest is dropped rather than drained
  keep_alive_ = false;
  report(answer_.failure());
}

void HttpProbe::on_response_complete() {
  report(answer_.failure());
}

void HttpProbe::on_client_error(const char* reason) {
  keep_alive_ = false;
  if (reused_connection_ && !retried_ && answer_.status() == 0 &&
      std::strcmp(reason, "reset") == 0) {
    retried_ = true;
    send();  // the client has dropped the dead connection: this one is new
    return;
  }
  report(reason);
}

}  // namespace waygate::health
