// TLS over a TcpTransport, for either end of a connection: the codec above reads and writes
// plaintext and never knows. OpenSSL reads the ciphertext straight from the loop's read buffer and
// its records go to the TCP writer gathered per operation, so the only copies are OpenSSL's own;
// an idle connection holds no buffer here (and none in OpenSSL: SSL_MODE_RELEASE_BUFFERS).
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <span>
#include <string>
#include <string_view>

#include "core/openssl_ptr.h"
#include "core/tcp_transport.h"
#include "core/transport.h"

namespace waygate {

class TlsTransport final : public Transport, private TransportSink {
 public:
  // Takes ownership of `ssl` (from tls::ServerContext::new_ssl or tls::ClientContext::new_ssl) and
  // re-points tcp's sink to itself (back to `sink` when destroyed); `sink` hears plaintext. `tcp`
  // outlives this object (both are members of one connection; the TCP handle is closed by the
  // connection's HandleOwner).
  TlsTransport(TcpTransport& tcp, TransportSink& sink, SSL* ssl);
  ~TlsTransport();
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  // Client side, after the TCP connect succeeded: sends the ClientHello. The sink hears
  // on_transport_connected(0) when the handshake is done, or a negative status (then
  // failure_reason() says why), always from a later libuv callback. Built before the TCP connect
  // instead, the transport hears the connect itself: a failed one goes to the sink as it is
  // (failure_reason() stays empty), a successful one starts the handshake without this call.
  void start_client_handshake();
  // Server side needs no call: the handshake runs as the client's bytes arrive. A failed server
  // handshake is one sink.on_transport_eof(negative status) before the codec saw any byte (UV_EOF
  // with an empty failure_reason() when the peer closed without sending one); the owner may then
  // write a plaintext answer straight to the TcpTransport (a 400 for plain HTTP), whose
  // on_transport_drained calls still reach the sink.
  bool handshake_done() const { return handshake_done_; }
  // Why the handshake or the connection failed, for logs: "plaintext-http" when a server saw
  // what looks like an HTTP request line instead of a ClientHello (first bytes are an ASCII
  // token + space, e.g. "GET "), else a short OpenSSL reason ("no shared cipher",
  // "certificate verify failed: ...", "peer did not return a certificate", "unexpected eof").
  const std::string& failure_reason() const { return failure_; }
  bool saw_plaintext_http() const { return plaintext_http_; }
  std::string_view alpn() const;         // negotiated protocol, empty when none
  std::string_view server_name() const;  // server side: the SNI the client sent, empty when none
  // The verified peer certificate's subject in RFC 2253 form, empty when none.
  std::string peer_subject() const;
  bool session_reused() const;

  // Transport. Writes before the handshake completes are kept and sent once it is done; one
  // write's buffers are coalesced into records of up to 16 KiB.
  int write(std::span<const uv_buf_t> bufs) override;
  using Transport::write;
  // The ciphertext the TCP writer still holds plus plaintext not yet encrypted.
  size_t pending_bytes() const override { return tcp_.pending_bytes() + unsent_.size(); }
  // During the handshake TCP is read whatever the codec wishes; after it, TCP reading follows this.
  // Plaintext already decrypted or buffered when reading resumes is delivered from a later loop
  // turn, never from inside this call.
  void set_reading(bool on) override;
  void shutdown() override;  // close_notify, then the TCP FIN once written
  bool secure() const override { return true; }

 private:
  class ResumeQueue;

  // TransportSink: what the TCP side reports.
  void on_transport_read(std::string_view bytes) override;
  void on_transport_eof(int status) override;
  void on_transport_drained(int status) override;
  void on_transport_connected(int status) override;

  // The BIO between OpenSSL and this transport.
  static BIO_METHOD* bio_method();
  static int bio_read(BIO* bio, char* out, size_t size, size_t* read);
  static int bio_write(BIO* bio, const char* data, size_t size, size_t* written);
  static long bio_ctrl(BIO* bio, int command, long number, void* pointer);
  size_t take_input(char* out, size_t size);
  void keep_input();
  void flush_output();

  bool sniff_client_hello();
  void advance_handshake();
  void complete_handshake();
  void fail_handshake(int status, std::string reason);
  void report_failure(int status);
  void pump();
  void deliver_end();
  void resume();
  bool has_buffered_input() const;
  void encrypt(std::span<const uv_buf_t> bufs);
  bool seal(const char* data, size_t size);
  void send_close_notify();
  void update_tcp_reading();
  std::string describe_failure(int ssl_error) const;
  bool closing() const;

  TcpTransport& tcp_;
  TransportSink& sink_;
  SslPtr ssl_;
  ResumeQueue* resume_queue_;
  TlsTransport* resume_previous_ = nullptr;
  TlsTransport* resume_next_ = nullptr;
  std::string_view chunk_;  // the TCP read being handled, not yet taken by OpenSSL
  std::string stash_;       // ciphertext kept for later: reading paused, or the sniff undecided
  size_t stash_offset_ = 0;
  std::string unsent_;  // plaintext written before the handshake completed
  std::string failure_;
  int end_status_ = 0;   // how the stream ended, for the sink once the plaintext before it is out
  int write_error_ = 0;  // the TCP writer failed
  int pending_report_ = 0;  // a handshake failure to report from the loop
  bool server_;
  bool handshake_started_;
  bool handshake_done_ = false;
  bool sniffed_ = false;
  bool plaintext_http_ = false;
  bool failed_ = false;     // the handshake failed (or the TCP connect under it)
  bool tls_ended_ = false;  // close_notify or a TLS error: no more plaintext can come
  bool end_delivered_ = false;
  bool want_reading_ = false;
  bool shutdown_requested_ = false;
  bool drain_owed_ = false;  // the codec saw its bytes pending and waits for a drain
  bool in_codec_call_ = false;
  bool resume_scheduled_ = false;
};

}  // namespace waygate
