// One HTTP/2 connection to an upstream endpoint (h2 by ALPN over TLS, else h2c by prior knowledge),
// owned by its UpstreamPool and shared by many UpstreamHttp2Streams, up to the peer's
// SETTINGS_MAX_CONCURRENT_STREAMS. Output is written from one place (flush, run from an idle
// handle), so a stream's sink is never re-entered from inside its own calls.
#pragma once

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/deadline_timer.h"
#include "core/handle_owner.h"
#include "core/intrusive_list.h"
#include "core/tcp_transport.h"
#include "core/tls_transport.h"
#include "http/http2_client_session.h"

namespace waygate::proxy {

class UpstreamPool;
class UpstreamHttp2Stream;

class UpstreamHttp2Connection final : public HandleOwner,
                                      private TransportSink,
                                      private http::Http2ClientEvents {
 public:
  enum class State : uint8_t { kConnecting, kReady, kGoingAway, kClosed };

  UpstreamHttp2Connection(UpstreamPool& pool, uv_loop_t* loop);
  ~UpstreamHttp2Connection();

  // False when the connect could not even start (the connection has closed itself).
  bool connect(uint64_t connect_timeout_ms);
  State state() const { return state_; }
  // Takes new streams: up or coming up, and not told to go away.
  bool usable() const { return state_ == State::kConnecting || state_ == State::kReady; }
  // Streams it may take now: the peer's limit (assumed generous until its SETTINGS arrive) less
  // those under way.
  size_t room() const;
  size_t streams() const { return streams_.size(); }

  void add(UpstreamHttp2Stream& stream);
  // The stream leaves (done, cancelled or moved): a connection left without streams idles, or
  // closes if it is going away.
  void remove(UpstreamHttp2Stream& stream);
  // Closes now; its streams hear a reset.
  void close();
  // The stream goes again on another connection (it was not processed here). False when none
  // could be had: the stream is then on none, and the caller tells its sink.
  bool replay(UpstreamHttp2Stream& stream);

  uint32_t opened_for_cluster() const { return opened_for_cluster_; }
  void set_opened_for_cluster(uint32_t cluster_id) { opened_for_cluster_ = cluster_id; }

  // ---- For the streams ----
  nghttp2_session* session() const { return session_.get(); }
  bool secure() const { return tls_ != nullptr; }
  // Runs stream.pump() and a flush from the loop, outside the caller.
  void schedule(UpstreamHttp2Stream& stream);
  void schedule_flush();
  // The data provider of every request body on this connection (source: the connection).
  static ssize_t read_request_body(nghttp2_session*, int32_t stream_id, uint8_t* buf, size_t length,
                                   uint32_t* data_flags, nghttp2_data_source* source, void*);

  ListLink<UpstreamHttp2Connection> link;  // in the pool's list

 private:
  // TransportSink
  void on_transport_read(std::string_view bytes) override;
  void on_transport_eof(int status) override;
  void on_transport_drained(int status) override;
  void on_transport_connected(int status) override;
  // HandleOwner
  void on_handles_closed() override;

  // http::Http2ClientEvents
  void on_h2_header(int32_t stream_id, std::string_view name, std::string_view value) override;
  void on_h2_headers_end(int32_t stream_id, bool end_stream) override;
  void on_h2_data(int32_t stream_id, std::string_view bytes) override;
  void on_h2_data_end(int32_t stream_id) override;
  void on_h2_stream_close(int32_t stream_id, uint32_t error_code) override;
  void on_h2_goaway(int32_t last_stream_id) override;

  static void on_idle(uv_idle_t* idle);
  static void on_timeout(void* self);

  UpstreamHttp2Stream* find(int32_t id);
  void flush();
  void fail(int status, bool tls_failed);
  void update_idle();

  UpstreamPool& pool_;
  uint32_t opened_for_cluster_ = 0;
  TcpTransport tcp_;
  std::unique_ptr<TlsTransport> tls_;
  Transport* transport_ = &tcp_;
  DeadlineTimer timer_;  // the connect, then the idle deadline
  uv_idle_t idle_;
  http::Http2ClientSession session_{*this};
  std::vector<UpstreamHttp2Stream*> streams_;  // every stream placed here, submitted or not
  std::vector<UpstreamHttp2Stream*> ready_;    // streams with something for their sink
  std::vector<UpstreamHttp2Stream*> pumping_;
  int32_t goaway_last_id_ = -1;  // the peer's GOAWAY: streams above it were not processed
  State state_ = State::kConnecting;
  bool flush_scheduled_ = false;
};

}  // namespace waygate::proxy
