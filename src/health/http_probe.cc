#include "health/http_probe.h"

#include <algorithm>
#include <cstring>

namespace waygate::health {
namespace {

// A health page is small; reading past this would only cost time. A body this long is judged on
// what was read, and its connection is dropped rather than drained.
constexpr size_t kMaxBodyBytes = 64 * 1024;

}  // namespace

HttpProbe::HttpProbe(uv_loop_t* loop, const SocketAddress& address,
                     const routing::HealthCheckConfig& config, std::string_view host,
                     ProbeSink& sink, http::Client::TlsSessionFn new_tls_session)
    : config_(config),
      host_(host),
      sink_(sink),
      client_(loop, address, *this, std::move(new_tls_session)) {}

bool HttpProbe::start() {
  status_ = 0;
  body_bytes_ = 0;
  body_.clear();
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

const char* HttpProbe::failure() const {
  bool status_expected = false;
  for (const auto& [low, high] : config_.expect) {
    if (status_ >= low && status_ <= high) status_expected = true;
  }
  if (!status_expected) return "unexpected-status";
  if (!config_.body.empty() && body_.find(config_.body) == std::string::npos)
    return "body-mismatch";
  return nullptr;
}

void HttpProbe::on_response_head(const http::MessageHead& head) {
  status_ = head.status;
  keep_alive_ = head.keep_alive;
}

void HttpProbe::on_response_body(std::string_view bytes) {
  size_t room = kMaxBodyBytes - body_bytes_;
  if (!config_.body.empty()) body_.append(bytes.substr(0, room));
  body_bytes_ += std::min(bytes.size(), room);
  if (body_bytes_ < kMaxBodyBytes) return;
  client_.close();
  keep_alive_ = false;
  report(failure());
}

void HttpProbe::on_response_complete() {
  report(failure());
}

void HttpProbe::on_client_error(const char* reason) {
  keep_alive_ = false;
  if (reused_connection_ && !retried_ && status_ == 0 && std::strcmp(reason, "reset") == 0) {
    retried_ = true;
    send();  // the client has dropped the dead connection: this one is new
    return;
  }
  report(reason);
}

}  // namespace waygate::health
