// One HTTP/2 request stream, proxied by a DownstreamSession of its own: the stream's request head
// is handed to that session decoded (checked there as the HTTP/1 parser checks a head), its body
// unframed, and the proxied response comes back as fields and body bytes for HEADERS and DATA (only
// waygate's own answers come as HTTP/1.1 text, parsed here). So an h2 request is routed, limited,
// logged and retried by exactly the code an HTTP/1 request is, without being written and parsed
// as HTTP/1.1 on the way.
// Flow control maps onto the session's backpressure both ways: request bytes are acknowledged to
// the client (WINDOW_UPDATE) only as the session takes them, and the session holds its upstream
// while the client's window keeps response bytes here.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/block_pool.h"
#include "core/transport.h"
#include "http/message_head.h"
#include "http/parser.h"
#include "http/serialize.h"

namespace waygate::proxy {

class DownstreamSession;
class Http2Connection;

class Http2Stream final : public Transport, private http::ParserSink {
 public:
  Http2Stream(Http2Connection& connection, int32_t id, size_t max_header_bytes);
  ~Http2Stream();
  Http2Stream(const Http2Stream&) = delete;
  Http2Stream& operator=(const Http2Stream&) = delete;
  // Made and freed with each stream that its connection does not reuse (see reset): their blocks
  // are reused (BlockPool).
  static void* operator new(size_t size) { return Pool::take(size); }
  static void operator delete(void* block) { Pool::give(block); }
  // Frees the pooled blocks past `count` (after a burst).
  static void keep_pooled_blocks(size_t count) { Pool::keep_at_most(count); }

  int32_t id() const { return id_; }
  // A finished stream becomes as if constructed anew, with no id, for its connection to reuse as
  // the next one (reopen): every member below is reset here, so nothing of one request reaches
  // the next. The room its buffers grew is kept, up to kMaxKeptBytes each, so that the next
  // stream's head and body go into buffers grown already rather than allocated again.
  void reset();
  // A new stream, or one reset: it is stream `id` from now on.
  void reopen(int32_t id) { id_ = id; }

  // ---- From the HTTP/2 side (nghttp2's callbacks) ----
  void add_header(std::string_view name, std::string_view value);
  // The request head is whole: its session starts. `end_stream`: it has no body.
  void start_request(bool end_stream);
  void add_body(std::string_view bytes);
  void end_request();
  // nghttp2 closed the stream (sent or received its end, or a reset).
  void on_stream_closed();
  // The connection is going away: the session hears that its client left.
  void abort();
  // The data provider: copies response bytes into a DATA frame.
  ssize_t read_response(uint8_t* buf, size_t length, uint32_t* data_flags);
  // Delivers what waits for the session: request bytes, the end of its output.
  void pump();
  // The response's bytes held here were all handed to nghttp2: tell the session.
  void notify_drained();

  // ---- The proxied response, from the session, as fields rather than HTTP/1.1 text ----
  // The response head, kept until send_response_head (the session holds a head back until its
  // first body bytes, and drops it for an answer of its own when the upstream fails before them).
  void hold_response_head(const http::MessageHead& response, const http::ResponseFraming& framing);
  bool response_head_held() const { return head_held_; }
  void drop_response_head() { head_held_ = false; }
  // Submits the held head; body bytes written after it are DATA as they are.
  void send_response_head();
  // The response is whole; its trailer fields, if any, end the stream after the last DATA.
  void end_response(const http::MessageHead& trailers);

  bool response_started() const { return response_submitted_; }
  bool has_session() const { return session_ != nullptr; }
  // Both sides are done with it: the connection may free it (or free it anyway once nghttp2 is
  // done with the whole connection).
  bool finished() const { return h2_closed_ && !session_; }
  // The session closed (it has no handles to wait for): the connection finishes the close from
  // the loop (finish_session_close), outside the session's own calls.
  void on_session_closing();
  void finish_session_close();
  // The session's close finished: it is freed here (called from its on_closed).
  void on_session_closed();

  // ---- Transport, for the session ----
  int write(std::span<const uv_buf_t> bufs) override;
  using Transport::write;
  size_t pending_bytes() const override { return outbound_.size() - outbound_offset_; }
  void set_reading(bool on) override;
  void shutdown() override;
  bool secure() const override;

 private:
  // Blocks for the streams ten HTTP/2 connections have in flight at the default limit of 100.
  using Pool = BlockPool<Http2Stream, 1024>;

  // http::ParserSink: waygate's own answers, which the session writes as HTTP/1.1, turned into
  // HTTP/2 (a proxied response comes as fields: hold_response_head).
  http::MessageHead& on_message_begin() override;
  int on_headers_complete(http::MessageHead& head) override;
  int on_body(std::string_view bytes) override;
  int on_message_complete() override;

  void add_trailer(std::string_view name, std::string_view value);
  void set_target(std::string_view target);
  void add_authority(std::string_view authority);
  static void append_field(http::MessageHead& head, std::string_view name, std::string_view value,
                           http::HeaderId id);
  void submit_head(const http::MessageHead& head, bool final_response, bool bodiless);
  void submit_final(std::vector<nghttp2_nv>& fields, bool bodiless);
  void submit_trailers();
  // The trailer fields of the response: parsed from the session's text, or handed over whole.
  const http::MessageHead& response_trailers() const;
  void respond_locally(uint16_t status);
  void resume_data();

  // A buffer a reused stream keeps up to this size; past it, it is freed (as Exchange::reset does).
  static constexpr size_t kMaxKeptBytes = 4096;
  static constexpr size_t kMaxKeptFields = 64;

  // The connection's, for as long as the stream lives.
  Http2Connection& connection_;
  size_t max_header_bytes_;
  // The stream's own, each reset by reset(): a member added here is reset there too.
  int32_t id_;
  http::MessageHead request_;  // the request as it is decoded, handed to the session whole
  std::string held_fields_;    // the proxied response's head (hold_response_head)
  std::vector<uint32_t> held_lengths_;
  std::string outbound_;  // response body bytes for the data provider
  std::unique_ptr<DownstreamSession> session_;
  TransportSink* sink_ = nullptr;
  http::MessageHead request_trailers_;  // after a body of unknown length
  std::string method_;
  std::string cookie_;    // RFC 9113 8.2.3: cookie crumbs are one field again
  size_t head_size_ = 0;  // the head's size as HTTP/1.1 lines, against max_header_bytes
  bool has_authority_ = false;
  bool has_content_length_ = false;
  bool head_too_large_ = false;
  bool chunked_ = false;  // no content-length given: the body's length is known at its end
  bool head_delivered_ = false;
  bool end_delivered_ = false;
  // Request body bytes for the session, and how many of them are still to acknowledge.
  std::string inbound_;
  std::string delivering_;
  size_t unacknowledged_ = 0;
  bool reading_ = false;
  bool request_ended_ = false;
  bool eof_pending_ = false;  // the session asked to end its output: it hears EOF next
  // The response: parsed from the session's output (made at its first bytes: most responses come
  // as fields, with no parser), body bytes held for the data provider.
  std::optional<http::Parser> parser_;
  http::MessageHead response_;
  size_t outbound_offset_ = 0;
  // The proxied response's head is held_fields_, as HTTP/2 fields (lowercase names, values) in
  // one buffer, and held_lengths_, their name and value lengths in turn. nghttp2 reads them in
  // place (NGHTTP2_NV_FLAG_NO_COPY_*) until the HEADERS frame is out, so they stay as they are
  // once submitted; so does status_.
  uint16_t held_status_ = 0;
  char status_[4] = {};
  bool held_bodiless_ = false;
  bool head_held_ = false;
  bool raw_body_ = false;       // the head went as fields: what the session writes is body
  http::MessageHead trailers_;  // the proxied response's trailers
  bool head_request_ = false;
  bool response_submitted_ = false;
  bool response_ended_ = false;
  bool data_deferred_ = false;
  bool h2_closed_ = false;
  bool client_gone_told_ = false;  // the session heard UV_ECONNRESET
};

}  // namespace waygate::proxy
