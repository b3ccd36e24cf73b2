#include "proxy/http2_connection.h"

#include <algorithm>

#include "core/block_pool.h"
#include "core/log.h"
#include "http/server_connection.h"
#include "proxy/downstream_session.h"
#include "proxy/http2_memory.h"
#include "proxy/worker.h"

namespace waygate::proxy {
namespace {

// How much output nghttp2 may queue toward the client before it waits for the socket.
constexpr size_t kMaxQueuedOutput = http::ServerConnection::kMaxPendingOutput;

}  // namespace

Http2Connection::Http2Connection(DownstreamSession& parent, Worker& worker)
    : parent_(parent), worker_(worker), secure_(parent.transport().secure()) {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_send_callback(callbacks, &Http2Connection::on_send);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks,
                                                          &Http2Connection::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &Http2Connection::on_header);
  nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks,
                                                        &Http2Connection::on_begin_frame);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &Http2Connection::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks,
                                                            &Http2Connection::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks,
                                                         &Http2Connection::on_stream_close);
  nghttp2_option* options = nullptr;
  nghttp2_option_new(&options);
  // Request bytes are acknowledged as the sessions take them (Http2Stream::pump), not on receipt.
  nghttp2_option_set_no_auto_window_update(options, 1);
  nghttp2_session_server_new3(&session_, callbacks, this, options, http2_memory());
  nghttp2_option_del(options);
  nghttp2_session_callbacks_del(callbacks);

  const routing::Limits& limits = worker.snapshot().limits;
  max_streams_ = limits.http2_max_concurrent_streams;
  max_header_bytes_ = limits.max_header_bytes;
  auto window = static_cast<uint32_t>(limits.http2_initial_window_bytes);
  nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, static_cast<uint32_t>(max_streams_)},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(max_header_bytes_)},
      // RFC 9218: the priority tree of RFC 7540 is not kept, which costs nghttp2 work on every
      // stream; PRIORITY frames are then only counted (on_begin_frame).
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  // The connection's window is acknowledged on receipt (each stream's bounds what is held), and
  // sized for every stream's at once, so a stream whose upstream is slow stalls no other upload.
  uint64_t connection_window = std::min<uint64_t>(uint64_t{window} * max_streams_, 0x7fffffff);
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(connection_window));
  idle_.init(uv_idle_init, worker.loop(), this);
}

Http2Connection::~Http2Connection() {
  last_found_ = nullptr;
  streams_.clear();
  nghttp2_session_del(session_);
}

// ---- Input ----------------------------------------------------------------------------------

void Http2Connection::on_input(std::string_view bytes) {
  if (dead_) return;
  // Streams whose sessions closed are freed before these bytes open new ones: otherwise, when the
  // loop reads a client's next requests before its idle turn (as it does under load), the
  // connection holds its closed streams beside as many new ones, twice the streams in flight, and
  // the pools sized for the streams in flight (BlockPool, spare streams, nghttp2's blocks) churn.
  if (!closing_.empty() && finish_session_closes()) return;
  ssize_t rc = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(bytes.data()),
                                        bytes.size());
  if (rc < 0) return fail("reading", static_cast<int>(rc));
  flush();  // the streams' new bytes, and what nghttp2 answers (SETTINGS ack, PING, GOAWAY)
}

Http2Stream* Http2Connection::find(int32_t id) {
  // nghttp2 calls back for one stream many times in a row (a field each): one lookup for them all.
  if (last_found_ && last_found_->id() == id) return last_found_;
  Http2Stream* stream = streams_.find(id);
  if (stream) last_found_ = stream;
  return stream;
}

void Http2Connection::erase(int32_t id) {
  if (last_found_ && last_found_->id() == id) last_found_ = nullptr;
  std::unique_ptr<Http2Stream> stream = streams_.take(id);
  // Kept for the next stream rather than freed and made again, as many as may be open at once
  // (on_input finishes the closes due before new streams open). Not on a dead connection, whose
  // unsent frames may still point into its buffers; and not under AddressSanitizer, which must
  // see a finished stream freed to catch a use of it after.
  if (!stream || !kReuseFreedBlocks || dead_ || spare_streams_.size() >= max_streams_) return;
  stream->reset();
  spare_streams_.push_back(std::move(stream));
}

int Http2Connection::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto* connection = static_cast<Http2Connection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  int32_t id = frame->hd.stream_id;
  ++connection->streams_opened_;
  std::vector<std::unique_ptr<Http2Stream>>& spares = connection->spare_streams_;
  if (spares.empty()) {
    connection->streams_.insert(
        id, std::make_unique<Http2Stream>(*connection, id, connection->max_header_bytes_));
    return 0;
  }
  spares.back()->reopen(id);
  connection->streams_.insert(id, std::move(spares.back()));
  spares.pop_back();
  return 0;
}

// Every frame's header, before its payload: PRIORITY frames are counted here, since nghttp2 skips
// them unread once RFC 7540 priorities are off.
int Http2Connection::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* header, void* self) {
  if (header->type == NGHTTP2_PRIORITY) static_cast<Http2Connection*>(self)->count_priority_frame();
  return 0;
}

int Http2Connection::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                               size_t name_length, const uint8_t* value, size_t value_length,
                               uint8_t, void* self) {
  auto* connection = static_cast<Http2Connection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  if (Http2Stream* stream = connection->find(frame->hd.stream_id)) {
    stream->add_header(std::string_view(reinterpret_cast<const char*>(name), name_length),
                       std::string_view(reinterpret_cast<const char*>(value), value_length));
  }
  return 0;
}

int Http2Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto* connection = static_cast<Http2Connection*>(self);
  connection->count_frame(*frame);
  Http2Stream* stream = connection->find(frame->hd.stream_id);
  if (!stream) return 0;
  bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
      if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
        stream->start_request(end_stream);
      } else if (end_stream) {
        stream->end_request();  // after trailers, which go with the last chunk
      }
      break;
    case NGHTTP2_DATA:
      if (end_stream) stream->end_request();
      break;
    case NGHTTP2_RST_STREAM:
      if (!stream->response_started()) connection->count_early_reset();
      break;
    default:
      break;
  }
  return 0;
}

int Http2Connection::on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id,
                                   const uint8_t* data, size_t length, void* self) {
  auto* connection = static_cast<Http2Connection*>(self);
  nghttp2_session_consume_connection(connection->session_, length);
  std::string_view bytes(reinterpret_cast<const char*>(data), length);
  if (Http2Stream* stream = connection->find(stream_id)) {
    stream->add_body(bytes);
  } else {
    nghttp2_session_consume_stream(connection->session_, stream_id, length);
  }
  return 0;
}

int Http2Connection::on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t, void* self) {
  auto* connection = static_cast<Http2Connection*>(self);
  Http2Stream* stream = connection->find(stream_id);
  if (!stream) return 0;
  stream->on_stream_closed();
  if (stream->finished()) connection->erase(stream_id);
  return 0;
}

// CVE-2023-44487: a client that opens streams and resets them at once makes the server start
// work it never finishes, for free. Streams reset before their response began are counted; past
// the limit the connection gets GOAWAY (ENHANCE_YOUR_CALM) and closes.
void Http2Connection::count_early_reset() {
  uint64_t now = uv_now(worker_.loop());
  if (now - reset_window_start_ms_ > kRapidResetWindowMs) {
    reset_window_start_ms_ = now;
    early_resets_ = 0;
  }
  if (++early_resets_ <= kRapidResetFactor * max_streams_ || going_away_) return;
  WG_LOG_WARN("http2: %s reset %llu streams within %llu ms (rapid reset): closing the connection",
              parent_.client_ip(), static_cast<unsigned long long>(early_resets_),
              static_cast<unsigned long long>(kRapidResetWindowMs));
  calm_down();
}

// Frames that are cheap to send and not to receive, counted as Envoy counts them: too many, and
// the connection gets GOAWAY (ENHANCE_YOUR_CALM). PING and SETTINGS floods and endless
// CONTINUATION frames are nghttp2's own to refuse (see fail).
void Http2Connection::count_priority_frame() {
  if (going_away_) return;
  if (++priority_frames_ <= kPriorityFramesPerStream * (streams_opened_ + 1)) return;
  WG_LOG_WARN(
      "http2: %s sent %llu PRIORITY frames for %llu streams (a flood): closing the connection",
      parent_.client_ip(), static_cast<unsigned long long>(priority_frames_),
      static_cast<unsigned long long>(streams_opened_));
  calm_down();
}

void Http2Connection::count_frame(const nghttp2_frame& frame) {
  if (going_away_) return;
  bool empty_data = frame.hd.type == NGHTTP2_DATA && frame.hd.length == 0 &&
                    (frame.hd.flags & NGHTTP2_FLAG_END_STREAM) == 0;
  if (!empty_data) {
    empty_data_frames_ = 0;
    return;
  }
  if (++empty_data_frames_ <= kMaxEmptyDataFrames) return;
  WG_LOG_WARN("http2: %s sent %llu empty DATA frames in a row (a flood): closing the connection",
              parent_.client_ip(), static_cast<unsigned long long>(empty_data_frames_));
  calm_down();
}

void Http2Connection::calm_down() {
  going_away_ = true;
  // The streams are dropped once the GOAWAY has left (flush).
  nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
}

// ---- Output ---------------------------------------------------------------------------------

ssize_t Http2Connection::on_send(nghttp2_session*, const uint8_t* data, size_t length, int,
                                 void* self) {
  auto* connection = static_cast<Http2Connection*>(self);
  // Frames gather here and leave in one write per flush, not one write each.
  if (connection->output_.size() + connection->parent_.pending_output() > kMaxQueuedOutput) {
    return NGHTTP2_ERR_WOULDBLOCK;
  }
  connection->output_.append(reinterpret_cast<const char*>(data), length);
  return static_cast<ssize_t>(length);
}

void Http2Connection::schedule(Http2Stream& stream) {
  ready_.push_back(stream.id());
  schedule_flush();
}

void Http2Connection::schedule_flush() {
  if (flush_scheduled_ || dead_) return;
  flush_scheduled_ = true;
  uv_idle_start(idle_.get(), &Http2Connection::on_idle);
}

void Http2Connection::on_idle(uv_idle_t* idle) {
  auto* connection = static_cast<Http2Connection*>(idle->data);
  if (!connection->closing_.empty() && connection->finish_session_closes()) return;  // freed
  uv_idle_stop(idle);
  connection->flush();
}

// Hands the streams what waits for them, then writes what nghttp2 has to send, then tells the
// streams whose held response bytes left. Runs from the loop, never inside a session's own call.
void Http2Connection::flush() {
  flush_scheduled_ = false;
  if (dead_) return;
  pumping_.swap(ready_);
  for (int32_t id : pumping_) {
    if (Http2Stream* stream = find(id)) stream->pump();
  }
  pumping_.clear();
  // nghttp2 stops at kMaxQueuedOutput; a socket that takes it all at once gets more at once.
  for (int round = 0; round < 8 && !dead_; ++round) {
    int rc = nghttp2_session_send(session_);
    if (rc != 0) return fail("sending", rc);
    if (output_.empty()) break;
    parent_.send(output_);
    output_.clear();
    if (parent_.pending_output() > 0) break;  // on_output_drained goes on
  }
  if (dead_) return;
  if (parent_.pending_output() == 0 && nghttp2_session_want_write(session_)) schedule_flush();
  pumping_.swap(drained_);
  for (int32_t id : pumping_) {
    if (Http2Stream* stream = find(id)) stream->notify_drained();
  }
  pumping_.clear();
  if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_) &&
      output_.empty()) {
    // GOAWAY went and every stream is done (a drain), or the client said GOAWAY itself.
    close();
    parent_.finish();
    return;
  }
  update_idle_timer();
}

void Http2Connection::on_output_drained() {
  if (dead_) return;
  flush();
}

void Http2Connection::update_idle_timer() {
  if (streams_.empty()) {
    parent_.touch();  // downstream_idle: a connection with nothing in flight
  } else {
    parent_.stop_idle_timer();
  }
}

// ---- Ending ---------------------------------------------------------------------------------

void Http2Connection::begin_drain() {
  if (dead_ || going_away_) return;
  going_away_ = true;
  // Streams the client opened up to now are served; later ones are refused by the GOAWAY.
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  schedule_flush();
}

void Http2Connection::fail(const char* what, int error) {
  // nghttp2's own protections end here too: a flood of frames that need an answer (PING,
  // SETTINGS), too many CONTINUATION frames, a bad preface, a protocol error.
  WG_LOG_INFO("http2: closing the connection from %s: %s: %s", parent_.client_ip(), what,
              nghttp2_strerror(error));
  if (error != NGHTTP2_ERR_BAD_CLIENT_MAGIC) {
    // The client is told why. The frame is written here: nghttp2 takes nothing more from a
    // session that failed, and a flood fills its queue on purpose.
    uint32_t code = error == NGHTTP2_ERR_FLOODED || error == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                        ? NGHTTP2_ENHANCE_YOUR_CALM
                        : NGHTTP2_PROTOCOL_ERROR;
    auto last = static_cast<uint32_t>(nghttp2_session_get_last_proc_stream_id(session_));
    const char goaway[17] = {0,
                             0,
                             8,
                             NGHTTP2_GOAWAY,
                             0,
                             0,
                             0,
                             0,
                             0,
                             static_cast<char>(last >> 24),
                             static_cast<char>(last >> 16),
                             static_cast<char>(last >> 8),
                             static_cast<char>(last),
                             static_cast<char>(code >> 24),
                             static_cast<char>(code >> 16),
                             static_cast<char>(code >> 8),
                             static_cast<char>(code)};
    parent_.send(std::string_view(goaway, sizeof(goaway)));
  }
  close();
  parent_.finish();  // once the GOAWAY has left
}

void Http2Connection::close() {
  dead_ = true;
  abort_streams();
}

void Http2Connection::abort_streams() {
  streams_.for_each([](Http2Stream& stream) { stream.abort(); });
}

void Http2Connection::defer_session_close(Http2Stream& stream) {
  closing_.push_back(stream.id());
  // Even on a dead connection: the sessions' closes free the streams, and then the connection.
  uv_idle_start(idle_.get(), &Http2Connection::on_idle);
}

bool Http2Connection::finish_session_closes() {
  finishing_.swap(closing_);
  for (int32_t id : finishing_) {
    if (Http2Stream* stream = find(id)) stream->finish_session_close();  // may free or reset it
  }
  finishing_.clear();
  if (!dead_ || !idle()) return false;
  bool freed = parent_.handles_closed_;
  parent_.on_http2_streams_gone();  // frees this when the client connection's handles are closed
  return freed;
}

void Http2Connection::on_stream_finished(Http2Stream& stream) {
  if (stream.finished() || dead_) erase(stream.id());  // frees or resets stream
}

bool Http2Connection::idle() const {
  return !streams_.any_of([](const Http2Stream& stream) { return stream.has_session(); });
}

}  // namespace waygate::proxy
