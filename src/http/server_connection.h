// The server side of an HTTP/1.1 connection, shared by the proxy listeners and the admin listener:
// it reads through a transport, parses strictly, takes one request at a time in order (pipelined
// requests wait, bounded), applies backpressure both ways, times out idle and slow clients, and
// closes gracefully (lingering, so a client still sending reads its whole response). What a
// request gets is decided by a subclass through the hooks below; the subclass never sees a socket.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/deadline_timer.h"
#include "core/handle_owner.h"
#include "core/socket_address.h"
#include "core/tcp_transport.h"
#include "core/tls_transport.h"
#include "http/parser.h"

namespace waygate::http {

struct ServerTimeouts {
  uint64_t header_read_ms;  // from a request's first byte until its head is whole (slowloris)
  uint64_t idle_ms;         // keep-alive wait, and any wait on the client during a request
  uint64_t handshake_ms;    // from accept until the TLS handshake is done
};

class ServerConnection : public HandleOwner, private TransportSink, private ParserSink {
 public:
  // Output queued for a client past this stops the parsing of further pipelined requests until
  // the client reads; input read ahead of the parser is bounded by the same amount.
  static constexpr size_t kMaxPendingOutput = 64 * 1024;
  static constexpr size_t kMaxStashedInput = 64 * 1024;
  // After its last response a closing connection waits this long for the client to close,
  // reading and dropping what it still sends, so unread input does not make the kernel reset the
  // connection and destroy the response.
  static constexpr uint64_t kLingerMs = 5'000;

  explicit ServerConnection(uv_loop_t* loop);
  // A connection that will be one HTTP/2 stream (start_stream): it opens no handles of its own.
  struct ForStream {};
  explicit ServerConnection(ForStream);

  uv_stream_t* stream() { return tcp_->stream(); }
  // Called once the connection has been accepted into stream(). With `ssl` (taken over), the
  // connection speaks TLS: requests are read once the handshake is done.
  void start(SSL* ssl = nullptr);
  // Starts a connection that is one HTTP/2 stream of `parent`, over `transport` (which takes the
  // response; the request comes through start_decoded_request): the same limits and timeouts as
  // a socket, its deadlines carried by the parent's timer. Constructed with ForStream.
  // Returns the sink the transport reports to.
  TransportSink& start_stream(Transport& transport, ServerConnection& parent);
  // A stream's connection has no handles to close: closing calls on_close_deferred, and the
  // subclass calls this from the loop (outside the call that closed it) to finish the close as
  // a socket's close callbacks would (on_closed).
  void finish_deferred_close();
  // ---- A request that an HTTP/2 stream decoded: no HTTP/1.1 text, no parser ----
  // MessageHead::method of a decoded request whose method the parser would not take.
  static constexpr uint8_t kUnknownMethod = UINT8_MAX;
  // `head` (its fields swapped into the subclass's head) becomes the current request, checked as
  // the parser checks an HTTP/1 head (limits, method, target; the fields' syntax is the decoder's
  // to check, as nghttp2 does): the subclass gets it through on_request_head, or the client a
  // refusal. Only on a connection started by start_stream.
  void start_decoded_request(MessageHead& head);
  // After read_body(): whether body bytes may be delivered now (backpressure).
  bool takes_decoded_body() const { return state_ == State::kBody && !input_paused_; }
  void deliver_decoded_body(std::string_view bytes);
  // The request ended; `trailers` (after a body of unknown length) must live until the next one.
  void end_decoded_request(const MessageHead& trailers);
  // Whether a client may start with the HTTP/2 connection preface (h2c prior knowledge, or h2 after
  // ALPN): the connection then hands its bytes to on_http2_start/on_tunnel_input.
  void allow_http2(bool allowed) { http2_allowed_ = allowed; }
  // Stop accepting requests: an idle connection closes now, a busy one after its response.
  void begin_drain();
  // Closes at once (no lingering, no hook). The subclass calls it when it cannot go on.
  void close_now();

  const char* client_ip() const { return client_ip_; }
  uint16_t client_port() const { return client_port_; }
  // "10.0.0.7:51234", "[::1]:51234": as the access log names the client.
  std::string_view client_address() const { return client_address_.view(); }
  // Bytes of the current request read so far as they came: head, body and its framing.
  uint64_t request_bytes_received() const { return request_bytes_; }
  bool closing() const { return state_ >= State::kClosing; }
  // No request has been read whole yet: the connection waits for one, or for the rest of its head.
  bool awaiting_request() const { return state_ == State::kWaiting || state_ == State::kHead; }

 protected:
  ~ServerConnection() = default;

  // ---- Hooks ----
  // The head to fill with the next request (called at its first byte).
  virtual MessageHead& request_head() = 0;
  // The head is whole; parsing waits. Call read_body() to take the body (or reach the end of a
  // bodiless request), or answer at once (send, then end_response()).
  virtual void on_request_head(MessageHead& head) = 0;
  virtual void on_request_body(std::string_view bytes) = 0;
  // The request was read to its end.
  virtual void on_request_complete() = 0;
  // The connection answered a broken request itself (400, 408, 414, 431, 505); it closes next.
  virtual void on_request_refused(uint16_t status, const char* reason) = 0;
  // The connection is closing while a request or its response is under way ("client-closed",
  // "downstream-timeout"): drop what serves it. It is called from a libuv callback, never from
  // inside one of this class's methods that the subclass called.
  virtual void on_connection_lost(const char* reason) = 0;
  // Every queued response byte has been written.
  virtual void on_output_drained() {}
  // A TLS connection ended before its handshake was done: a failure, a timeout, or plain HTTP.
  enum class HandshakeFailure : uint8_t { kFailed, kTimedOut, kPlaintextHttp };
  virtual void on_handshake_failed(HandshakeFailure failure) { (void)failure; }
  // The client opened with the HTTP/2 preface: from now on its bytes (the preface first) go to
  // on_tunnel_input, and the subclass speaks HTTP/2 through send().
  virtual void on_http2_start() {}
  // After start_tunnel(): raw bytes from the client.
  virtual void on_tunnel_input(std::string_view bytes) { (void)bytes; }
  // The handles have closed: the subclass frees itself.
  virtual void on_closed() = 0;
  // A stream's connection (ForStream) closed: the subclass arranges finish_deferred_close() from
  // the loop.
  virtual void on_close_deferred() {}
  virtual ServerTimeouts timeouts() const = 0;
  virtual ParserLimits parser_limits() const = 0;

  // ---- For the subclass ----
  // After on_request_head: deliver the body through on_request_body, then on_request_complete.
  void read_body();
  // The trailer fields of a chunked request, from on_request_complete until the next request.
  const MessageHead& request_trailers() const {
    return decoded_trailers_ ? *decoded_trailers_ : parser_.trailers();
  }
  // Backpressure from the far side (the upstream cannot take the body, or the tunnel's peer is
  // slow): stop reading the client, and stop the client timeout, until resumed.
  void pause_input();
  void resume_input();
  // Response bytes. Returns a negative libuv error when the client is gone; the connection then
  // closes by itself (on_connection_lost follows from the loop).
  int send(std::span<const uv_buf_t> bufs);
  int send(std::string_view bytes);
  // A 1xx response that does not start the final one (100 Continue).
  int send_interim(std::string_view bytes);
  size_t pending_output() const { return transport_->pending_bytes(); }
  // More output is queued than a client should be sent ahead of its reading: the source of it
  // waits for on_output_drained. Below the mark it goes on, so a response that is read in one go
  // does not stop and restart its source (two epoll_ctl calls per request, for nothing).
  bool output_backed_up() const { return pending_output() > kMaxPendingOutput; }
  // Whether the response may keep the connection open: the request asked for it, it was (or can
  // still be) read to its end, and the connection is not draining.
  bool keep_alive() const;
  void close_after_response() { close_after_ = true; }
  // The response to the current request is complete. The next pipelined request follows, or the
  // connection closes gracefully when keep_alive() said no.
  void end_response();
  // After a 101: from now on client bytes go to on_tunnel_input, starting with those read ahead.
  void start_tunnel();
  // Tunnel activity: pushes the idle deadline.
  void touch();
  // No idle deadline while an HTTP/2 connection has streams in flight: each stream has its own.
  void stop_idle_timer() { timer_.clear(); }
  // Closes once the queued output is written (a tunnel whose far side ended).
  void finish() { close_gracefully(); }
  bool draining() const { return draining_; }
  bool response_started() const { return response_started_; }
  Transport& transport() { return *transport_; }
  // The TLS layer, or null on a plain connection.
  const TlsTransport* tls() const { return tls_.get(); }

 private:
  enum class State : uint8_t {
    kWaiting,      // between requests: nothing of the next one parsed
    kHead,         // a head is being read
    kHeadDone,     // parsing waits after the head for read_body() or a response
    kBody,         // the body is being delivered
    kRequestDone,  // the request was read to its end; its response is under way
    kTunnel,       // raw bytes both ways
    kClosing,      // flushing the last response, then FIN and lingering
    kClosed,
  };

  // TransportSink
  void on_transport_read(std::string_view bytes) override;
  void on_transport_eof(int status) override;
  void on_transport_drained(int status) override;
  // ParserSink
  MessageHead& on_message_begin() override;
  int on_headers_complete(MessageHead& head) override;
  int on_body(std::string_view bytes) override;
  int on_message_complete() override;
  // HandleOwner
  void on_handles_closed() override { on_closed(); }

  void process();
  bool can_parse() const;
  std::string_view unparsed() const;
  void consume(size_t bytes);
  void dispatch(Parser::Result result);
  void next_request();
  bool request_has_body() const { return request_has_body_; }
  void refuse(uint16_t status, const char* reason);
  void lose(const char* reason);
  void close_gracefully();
  void linger();
  void arm_timer();
  void update_reading();
  static void on_timeout(void* self);
  void handle_handshake_failure(int status);
  void complete_request();
  // Closes the handles, or for a stream's connection, defers the close (on_close_deferred).
  void close_all();

  // Every request reads and writes what comes first, often after its lines left the cache (an
  // HTTP/2 stream's connection is touched once per phase of its request, with hundreds of others
  // in between): together they take two cache lines, not one in each of the big members below.
  Transport* transport_ = nullptr;  // what the codec reads and writes: TLS, TCP or a stream
  MessageHead* head_ = nullptr;     // valid until the head is complete; the subclass owns it
  const MessageHead* decoded_trailers_ = nullptr;
  uint64_t request_bytes_ = 0;
  int write_error_ = 0;  // a failed send, handled from the timer (outside subclass code)
  State state_ = State::kWaiting;
  bool request_has_body_ = false;
  bool request_keep_alive_ = false;
  bool head_event_ = false;     // the parser paused at the end of a head
  bool message_event_ = false;  // ... at the end of a message
  bool needs_step_ = false;     // the parser may advance without input (after a resume)
  bool input_paused_ = false;
  bool response_started_ = false;
  bool response_done_ = false;
  bool close_after_ = false;
  bool draining_ = false;
  bool client_eof_ = false;
  bool linger_wanted_ = false;
  bool lingering_ = false;
  bool in_process_ = false;
  bool process_again_ = false;
  bool handshaking_ = false;     // TLS: no plaintext has arrived yet
  bool http2_allowed_ = false;   // the first bytes may be the HTTP/2 preface
  bool http2_ = false;           // they were: the connection speaks HTTP/2
  bool decoded_ = false;         // requests come decoded (start_decoded_request), not as text
  bool close_deferred_ = false;  // a stream's connection closed (close_all)
  uint16_t client_port_ = 0;
  size_t stash_offset_ = 0;
  std::string_view direct_;  // input being parsed straight from the read buffer
  std::string stash_;        // input read but not parsed yet
  char client_ip_[46] = "-";
  DeadlineTimer timer_;
  std::optional<TcpTransport> tcp_;    // none on a stream's connection
  std::unique_ptr<TlsTransport> tls_;  // only on a TLS listener
  Parser parser_;
  AddressText client_address_;  // formatted once: the access log writes it for every request
};

}  // namespace waygate::http
