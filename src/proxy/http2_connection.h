// The HTTP/2 side of a client connection that opened with the HTTP/2 preface (h2c prior knowledge,
// or h2 chosen by ALPN): nghttp2 is the codec, the connection's DownstreamSession its socket, and
// each request stream an Http2Stream with a session of its own. Output is written from one place
// (flush, run from an idle handle), so nothing re-enters a session from inside its own calls.
#pragma once

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/uv_handle.h"
#include "proxy/http2_stream.h"
#include "proxy/http2_stream_table.h"

namespace waygate::proxy {

class DownstreamSession;
class Worker;

class Http2Connection {
 public:
  // Client resets of streams that had no response yet, within kRapidResetWindowMs, past which the
  // connection is closed (CVE-2023-44487, "rapid reset"): this many times the stream limit.
  static constexpr uint64_t kRapidResetFactor = 2;
  static constexpr uint64_t kRapidResetWindowMs = 1000;
  // PRIORITY frames cost the server work and the client nothing (CVE-2019-9513): this many per
  // stream the client opened, and as many before the first, after which the connection is closed.
  static constexpr uint64_t kPriorityFramesPerStream = 100;
  // DATA frames with no payload that do not end their stream, one after another (CVE-2019-9518).
  static constexpr uint64_t kMaxEmptyDataFrames = 100;

  Http2Connection(DownstreamSession& parent, Worker& worker);
  ~Http2Connection();
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  // Bytes from the client.
  void on_input(std::string_view bytes);
  // The client took the queued output: more may go.
  void on_output_drained();
  // GOAWAY: streams under way finish, no new ones start, then the connection closes.
  void begin_drain();
  // The client connection is gone or going: nothing more is read or written, and every stream's
  // session hears that its client left.
  void close();
  // No stream holds a session any more.
  bool idle() const;

  // ---- For the streams ----
  nghttp2_session* session() { return session_; }
  DownstreamSession& parent() { return parent_; }
  Worker& worker() { return worker_; }
  bool dead() const { return dead_; }
  bool secure() const { return secure_; }
  // Runs stream.pump() and a flush from the loop, outside the caller.
  void schedule(Http2Stream& stream);
  void schedule_flush();
  void note_drained(Http2Stream& stream) { drained_.push_back(stream.id()); }
  // Fields gathered for one nghttp2_submit_* call (which copies them): reused, not allocated.
  std::vector<nghttp2_nv>& field_scratch() { return field_scratch_; }
  // The stream's session closed: its close finishes from the loop (on_idle).
  void defer_session_close(Http2Stream& stream);
  // The stream's session is gone; frees the stream (or keeps it for reuse) when nghttp2 is done
  // with it too.
  void on_stream_finished(Http2Stream& stream);

 private:
  static ssize_t on_send(nghttp2_session*, const uint8_t* data, size_t length, int, void* self);
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* header, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t name_length, const uint8_t* value, size_t value_length, uint8_t,
                       void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                           size_t length, void* self);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* self);
  static void on_idle(uv_idle_t* idle);

  Http2Stream* find(int32_t id);
  void erase(int32_t id);  // frees the stream, or resets it for the next one
  void abort_streams();
  void count_early_reset();
  void count_frame(const nghttp2_frame& frame);
  void count_priority_frame();
  // GOAWAY with ENHANCE_YOUR_CALM, then the connection closes once it has left.
  void calm_down();
  void flush();
  void fail(const char* what, int error);
  void update_idle_timer();
  // Finishes the closes deferred so far. Returns true when the connection was freed with them.
  bool finish_session_closes();

  DownstreamSession& parent_;
  Worker& worker_;
  nghttp2_session* session_ = nullptr;
  Http2StreamTable<Http2Stream> streams_;
  Http2Stream* last_found_ = nullptr;  // find's last answer, while it is in streams_
  std::vector<int32_t> ready_;         // streams with something to pump
  std::vector<int32_t> drained_;       // streams whose held response bytes all went to nghttp2
  std::vector<int32_t> pumping_;       // ready_ or drained_, taken for one flush
  std::vector<int32_t> closing_;       // streams whose session closed, to finish from the loop
  std::vector<int32_t> finishing_;     // closing_, taken for one round
  std::string output_;                 // frames gathered for one write
  std::vector<nghttp2_nv> field_scratch_;
  // Finished streams, reset, for the next ones to reuse: at most max_streams_, none under
  // AddressSanitizer.
  std::vector<std::unique_ptr<Http2Stream>> spare_streams_;
  UvHandle<uv_idle_t> idle_;
  bool flush_scheduled_ = false;
  bool dead_ = false;        // the client connection is closing: nothing more is written
  bool going_away_ = false;  // GOAWAY submitted
  bool secure_;
  uint64_t max_streams_ = 0;
  size_t max_header_bytes_ = 0;
  uint64_t early_resets_ = 0;
  uint64_t reset_window_start_ms_ = 0;
  uint64_t streams_opened_ = 0;
  uint64_t priority_frames_ = 0;
  uint64_t empty_data_frames_ = 0;  // in a row
};

}  // namespace waygate::proxy
