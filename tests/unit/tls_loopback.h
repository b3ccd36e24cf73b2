// TLS connections for tests: a libuv loop with a listener on 127.0.0.1, and for each connect() a
// client and a server Peer, real TcpTransports joined over loopback with a TlsTransport on each.
// A Peer sits where a codec would and records what its transport reports.
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tcp_transport.h"
#include "core/tls_transport.h"

namespace waygate::testing {

class Peer final : public TransportSink {
 public:
  explicit Peer(uv_loop_t* loop) : tcp_(loop, *this) {}

  TcpTransport& tcp() { return tcp_; }
  TlsTransport& tls() { return *tls_; }
  bool has_tls() const { return tls_ != nullptr; }
  // The SSL the TlsTransport owns, for inspecting what OpenSSL negotiated.
  SSL* ssl() const { return ssl_; }
  // Wraps the TCP transport (the TCP sink becomes the TLS layer).
  void attach_tls(SSL* ssl);
  // Client side: the TLS layer is made once TCP connects, and its handshake started.
  void tls_after_connect(SSL* ssl) { pending_ssl_ = ssl; }
  // The codec's wish to read: on the TLS transport when there is one, else on TCP.
  void set_reading(bool on);
  void close();
  bool closed() const { return closed_; }

  std::string received;
  std::optional<int> tcp_connected;  // the TCP connect's status, heard before any TLS layer
  std::optional<int> connected;      // what the TLS layer reported to a client codec
  int connected_calls = 0;
  bool heard_inside_own_call =
      false;  // the TLS layer called back from inside start_client_handshake
  std::optional<int> eof;
  int eof_calls = 0;
  int drained_calls = 0;
  // Runs after each read has been recorded, as a codec would react to it.
  std::function<void(Peer&, std::string_view)> on_read;

 private:
  void on_transport_read(std::string_view bytes) override;
  void on_transport_eof(int status) override;
  void on_transport_drained(int status) override;
  void on_transport_connected(int status) override;

  TcpTransport tcp_;  // before tls_: the TLS layer goes first
  std::unique_ptr<TlsTransport> tls_;
  SSL* ssl_ = nullptr;
  SSL* pending_ssl_ = nullptr;
  bool closed_ = false;
  bool in_call_ = false;
};

class TlsLoopback {
 public:
  TlsLoopback();
  ~TlsLoopback();
  TlsLoopback(const TlsLoopback&) = delete;
  TlsLoopback& operator=(const TlsLoopback&) = delete;

  uv_loop_t* loop() { return &loop_; }

  struct Pair {
    Peer* client;
    Peer* server;
  };
  // A client with `client_ssl` (or plain TCP when null) connected to a server side that gets
  // `server_ssl` at accept. Returns once TCP is connected and accepted; the handshake runs on.
  // Both peers read from the start, as the proxy's codecs do.
  Pair connect(SSL* client_ssl, SSL* server_ssl);
  // Like connect(), with the client's TlsTransport made before its TCP connect.
  Pair connect_with_early_tls(SSL* client_ssl, SSL* server_ssl);
  // Runs the loop until `done` holds; false if it did not within the guard (a hung test).
  bool run_until(const std::function<bool()>& done);
  // Runs until both ends are past the handshake: the client heard on_transport_connected and the
  // server side finished (or failed) its handshake.
  bool run_handshake(const Pair& pair);
  // The client sends "ping" and the server answers "pong"; true once both arrived. In TLS 1.3 the
  // server's session tickets reach the client before the answer does.
  bool ping_pong(const Pair& pair);

 private:
  static void on_connection(uv_stream_t* listener, int status);
  Pair start(SSL* client_ssl, SSL* server_ssl, bool early_tls);

  uv_loop_t loop_;
  uv_tcp_t listener_;
  sockaddr_storage address_{};
  std::vector<std::unique_ptr<Peer>> peers_;
  std::vector<SSL*> server_ssls_;  // for the next accepts, in order
  Peer* accepted_ = nullptr;
};

}  // namespace waygate::testing
