#include "tls_loopback.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace waygate::testing {
namespace {

// Ends a test that would otherwise hang; never a timing assertion.
constexpr uint64_t kGuardMs = 10'000;

}  // namespace

void Peer::attach_tls(SSL* ssl) {
  ssl_ = ssl;
  tls_ = std::make_unique<TlsTransport>(tcp_, *this, ssl);
}

void Peer::set_reading(bool on) {
  if (tls_) {
    tls_->set_reading(on);
  } else {
    tcp_.set_reading(on);
  }
}

void Peer::close() {
  if (closed_ || uv_is_closing(tcp_.handle())) return;
  tcp_.handle()->data = this;
  uv_close(tcp_.handle(),
           [](uv_handle_t* handle) { static_cast<Peer*>(handle->data)->closed_ = true; });
}

void Peer::on_transport_read(std::string_view bytes) {
  received.append(bytes);
  if (on_read) on_read(*this, bytes);
}

void Peer::on_transport_eof(int status) {
  if (in_call_) heard_inside_own_call = true;
  eof = status;
  ++eof_calls;
}

void Peer::on_transport_drained(int) {
  ++drained_calls;
}

void Peer::on_transport_connected(int status) {
  if (!tls_) {
    tcp_connected = status;
    if (status == 0 && pending_ssl_) {
      attach_tls(pending_ssl_);
      pending_ssl_ = nullptr;
      tls_->set_reading(true);
      in_call_ = true;
      tls_->start_client_handshake();
      in_call_ = false;
    }
    return;
  }
  if (in_call_) heard_inside_own_call = true;
  connected = status;
  ++connected_calls;
}

TlsLoopback::TlsLoopback() {
  uv_loop_init(&loop_);
  uv_tcp_init(&loop_, &listener_);
  listener_.data = this;
  sockaddr_in any{};
  uv_ip4_addr("127.0.0.1", 0, &any);
  int length = sizeof(address_);
  if (uv_tcp_bind(&listener_, reinterpret_cast<sockaddr*>(&any), 0) != 0 ||
      uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 64, &TlsLoopback::on_connection) != 0 ||
      uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&address_), &length) != 0) {
    throw std::runtime_error("cannot listen on loopback");
  }
}

TlsLoopback::~TlsLoopback() {
  for (auto& peer : peers_)
    peer->close();
  uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
  uv_run(&loop_, UV_RUN_DEFAULT);
  for (SSL* ssl : server_ssls_)
    SSL_free(ssl);
  peers_.clear();                  // the last TlsTransport closes the loop's resume handle
  uv_run(&loop_, UV_RUN_DEFAULT);  // ... whose close callback runs here
  EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
}

void TlsLoopback::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<TlsLoopback*>(listener->data);
  if (status < 0) return;
  auto peer = std::make_unique<Peer>(&self->loop_);
  if (uv_accept(listener, peer->tcp().stream()) != 0) return;
  peer->tcp().accepted();
  if (!self->server_ssls_.empty()) {
    peer->attach_tls(self->server_ssls_.front());
    self->server_ssls_.erase(self->server_ssls_.begin());
  }
  peer->set_reading(true);
  self->accepted_ = peer.get();
  self->peers_.push_back(std::move(peer));
}

TlsLoopback::Pair TlsLoopback::start(SSL* client_ssl, SSL* server_ssl, bool early_tls) {
  if (server_ssl) server_ssls_.push_back(server_ssl);
  auto owned = std::make_unique<Peer>(&loop_);
  Peer* client = owned.get();
  peers_.push_back(std::move(owned));
  if (client_ssl && early_tls) {
    client->attach_tls(client_ssl);
    client->set_reading(true);
  } else if (client_ssl) {
    client->tls_after_connect(client_ssl);
  }
  accepted_ = nullptr;
  int rc = client->tcp().connect(reinterpret_cast<const sockaddr*>(&address_));
  EXPECT_EQ(rc, 0);
  if (!client_ssl) {
    EXPECT_TRUE(run_until([&] { return client->tcp_connected.has_value(); }));
    client->set_reading(true);
  }
  EXPECT_TRUE(run_until([&] { return accepted_ != nullptr; }));
  return Pair{client, accepted_};
}

TlsLoopback::Pair TlsLoopback::connect(SSL* client_ssl, SSL* server_ssl) {
  return start(client_ssl, server_ssl, false);
}

TlsLoopback::Pair TlsLoopback::connect_with_early_tls(SSL* client_ssl, SSL* server_ssl) {
  return start(client_ssl, server_ssl, true);
}

bool TlsLoopback::run_until(const std::function<bool()>& done) {
  uv_timer_t guard;
  bool expired = false;
  uv_timer_init(&loop_, &guard);
  guard.data = &expired;
  uv_timer_start(
      &guard, [](uv_timer_t* timer) { *static_cast<bool*>(timer->data) = true; }, kGuardMs, 0);
  while (!done() && !expired)
    uv_run(&loop_, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
  uv_run(&loop_, UV_RUN_NOWAIT);  // the guard's close callback: it lives on this stack
  return done();
}

bool TlsLoopback::run_handshake(const Pair& pair) {
  return run_until([&] {
    bool client_done = pair.client->connected.has_value() || pair.client->eof.has_value();
    bool server_done = pair.server->tls().handshake_done() || pair.server->eof.has_value();
    return client_done && server_done;
  });
}

}  // namespace waygate::testing

namespace waygate::testing {

bool TlsLoopback::ping_pong(const Pair& pair) {
  size_t server_had = pair.server->received.size();
  size_t client_had = pair.client->received.size();
  pair.client->tls().write("ping");
  if (!run_until([&] { return pair.server->received.size() >= server_had + 4; })) return false;
  pair.server->tls().write("pong");
  if (!run_until([&] { return pair.client->received.size() >= client_had + 4; })) return false;
  return pair.server->received.substr(server_had) == "ping" &&
         pair.client->received.substr(client_had) == "pong";
}

}  // namespace waygate::testing
