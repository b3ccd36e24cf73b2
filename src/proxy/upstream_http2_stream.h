// One request on an upstream HTTP/2 connection, as the Transport of the UpstreamConnection that
// carries it: the HTTP/1.1 request its session writes is parsed into HEADERS and DATA, and the
// stream's response comes back as HTTP/1.1 bytes (chunked when it has no length, trailers as
// chunked trailer fields), so the session and the response parser never know HTTP/2 is beneath.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/transport.h"
#include "http/message_head.h"
#include "http/parser.h"

namespace waygate::proxy {

class UpstreamHttp2Connection;

class UpstreamHttp2Stream final : public Transport, private http::ParserSink {
 public:
  explicit UpstreamHttp2Stream(TransportSink& sink);
  ~UpstreamHttp2Stream();
  UpstreamHttp2Stream(const UpstreamHttp2Stream&) = delete;
  UpstreamHttp2Stream& operator=(const UpstreamHttp2Stream&) = delete;

  // The cluster the request is for and its max_connections: kept so that a stream the upstream
  // did not process can be placed again within the same caps.
  void set_cluster(uint32_t cluster_id, uint64_t max_connections) {
    cluster_id_ = cluster_id;
    max_connections_ = max_connections;
  }
  uint32_t cluster_id() const { return cluster_id_; }
  uint64_t max_connections() const { return max_connections_; }

  // The UpstreamConnection above is done with it: the stream is reset if it is still open, and
  // nothing more reaches the sink. Idempotent.
  void cancel();
  // The connection under it failed in its TLS handshake (or without ALPN h2): UpstreamError::kTls.
  bool tls_failed() const { return tls_failed_; }

  // ---- For the connection ----
  UpstreamHttp2Connection* connection() const { return connection_; }
  int32_t id() const { return id_; }
  // Placed on `connection`; `connected`: it is up already and the sink needs no connect news.
  void attach(UpstreamHttp2Connection& connection, bool connected);
  // The connection is up: the sink hears it (once), and the request goes when its head is known.
  void on_connection_ready();
  // The connection failed or closed: the sink hears a failed connect or a reset.
  void on_connection_lost(int status, bool tls_failed);
  // Unprocessed (refused, or above a GOAWAY's last stream): whether it can go again elsewhere.
  bool can_replay() const;
  // Leaves its connection without a word to the sink, to be placed on another.
  void detach_for_replay();
  void add_response_header(std::string_view name, std::string_view value);
  // A header block ended: a 1xx, the final head, or trailers.
  void end_response_headers(bool end_stream);
  void add_response_data(std::string_view bytes);
  void end_response();
  void on_closed(uint32_t error_code);
  // The data provider: copies request body bytes into a DATA frame.
  ssize_t read_request_body(uint8_t* buf, size_t length, uint32_t* data_flags);
  // Hands the sink what waits for it. Runs from the loop (the connection's flush).
  void pump();

  // ---- Transport, for the UpstreamConnection ----
  int write(std::span<const uv_buf_t> bufs) override;
  using Transport::write;
  size_t pending_bytes() const override;
  void set_reading(bool on) override;
  void shutdown() override {}
  bool secure() const override;

 private:
  // http::ParserSink: the session's HTTP/1.1 request, turned into HTTP/2.
  http::MessageHead& on_message_begin() override;
  int on_headers_complete(http::MessageHead& head) override;
  int on_body(std::string_view bytes) override;
  int on_message_complete() override;

  void submit();
  void resume_body();
  void schedule();
  void write_head();

  TransportSink* sink_;
  UpstreamHttp2Connection* connection_ = nullptr;
  int32_t id_ = 0;  // 0 until submitted
  uint32_t cluster_id_ = 0;
  uint64_t max_connections_ = 0;

  // The request: parsed from the session's bytes, kept as HTTP/2 fields until submitted.
  http::Parser parser_;
  http::MessageHead request_;
  std::vector<std::pair<std::string, std::string>> fields_;  // pseudo-headers first
  std::string body_;          // request body bytes; kept whole while a replay may need them
  size_t body_offset_ = 0;    // how much of body_ went to nghttp2
  bool replay_kept_ = true;   // body_ still holds every byte sent
  bool head_parsed_ = false;  // fields_ are complete
  bool request_ended_ = false;
  bool data_deferred_ = false;
  bool head_request_ = false;
  bool submit_failed_ = false;  // the session hears it from its next write
  int replays_ = 0;

  // The response, as HTTP/1.1 bytes for the sink.
  std::vector<std::pair<std::string, std::string>> response_fields_;
  std::string inbox_;
  std::string delivering_;
  size_t unconsumed_ = 0;  // DATA payload delivered but not yet acknowledged to the upstream
  uint16_t status_ = 0;
  bool response_started_ = false;  // the final head arrived
  bool chunked_ = false;           // no content-length: the sink gets it chunked
  bool bodiless_ = false;          // HEAD, 204, 304: nothing follows the head
  bool response_ended_ = false;
  bool trailers_written_ = false;

  // What the sink is owed.
  bool connected_ = false;  // the sink heard its connect succeed (or never needed to)
  bool connect_owed_ = false;
  int connect_status_ = 0;
  bool drain_owed_ = false;  // the sink saw pending bytes and waits to hear them drained
  bool drained_ = false;
  int end_status_ = 0;  // a reset to report once inbox_ is out
  bool reading_ = false;
  bool tls_failed_ = false;
  bool closed_ = false;     // nghttp2 closed it (or it never opened and never will)
  bool scheduled_ = false;  // in the connection's list of streams to pump
};

}  // namespace waygate::proxy
