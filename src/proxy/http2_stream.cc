#include "proxy/http2_stream.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

#include "core/log.h"
#include "core/reused_buffer.h"
#include "http/head_writer.h"
#include "http/header_names.h"
#include "proxy/downstream_session.h"
#include "proxy/http2_connection.h"
#include "routing/route_loader.h"

namespace waygate::proxy {
namespace {

// RFC 9113 8.2.2: connection-specific fields have no place in an HTTP/2 message.
bool connection_specific(http::HeaderId id) {
  switch (id) {
    case http::HeaderId::kConnection:
    case http::HeaderId::kTransferEncoding:
    case http::HeaderId::kUpgrade:
    case http::HeaderId::kKeepAlive:
    case http::HeaderId::kProxyConnection:
    case http::HeaderId::kTe:
      return true;
    default:
      return false;
  }
}

nghttp2_nv header(std::string_view name, std::string_view value,
                  uint8_t flags = NGHTTP2_NV_FLAG_NONE) {
  return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                    reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                    value.size(), flags};
}

// A head's fields as HTTP/2 has them: names lowercase (RFC 9113 8.2.1), connection-specific ones
// left out. `names` holds the lowercase copies, and must live until the fields are submitted.
void append_fields(const http::MessageHead& head, std::string& names,
                   std::vector<nghttp2_nv>& fields) {
  {
    // Every name first: the fields point into `names` only once writing it can no longer move it.
    http::HeadWriter lowercase_names(names, head.bytes.size());
    for (const http::HeaderField& field : head.fields)
      lowercase_names.put_lowercase(head.name(field));
  }
  size_t offset = 0;
  for (const http::HeaderField& field : head.fields) {
    std::string_view name = std::string_view(names).substr(offset, field.name_length);
    offset += field.name_length;
    if (connection_specific(field.id)) continue;
    fields.push_back(header(name, head.value(field)));
  }
}

ssize_t read_response_callback(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                               uint32_t* data_flags, nghttp2_data_source* source, void*) {
  return static_cast<Http2Stream*>(source->ptr)->read_response(buf, length, data_flags);
}

}  // namespace

Http2Stream::Http2Stream(Http2Connection& connection, int32_t id, size_t max_header_bytes)
    : connection_(connection), max_header_bytes_(max_header_bytes), id_(id) {
  // Room for a usual head at once, rather than growing field by field.
  request_.bytes.reserve(256);
  request_.fields.reserve(16);
}

Http2Stream::~Http2Stream() = default;

// Every member as the constructor leaves it (in their order), the buffers emptied.
void Http2Stream::reset() {
  id_ = 0;
  request_.clear_keeping(kMaxKeptBytes, kMaxKeptFields);
  empty_for_reuse(held_fields_, kMaxKeptBytes);
  empty_for_reuse(held_lengths_, 2 * kMaxKeptFields);
  empty_for_reuse(outbound_, kMaxKeptBytes);
  session_.reset();
  sink_ = nullptr;
  request_trailers_.clear_keeping(kMaxKeptBytes, kMaxKeptFields);
  empty_for_reuse(method_, kMaxKeptBytes);
  empty_for_reuse(cookie_, kMaxKeptBytes);
  head_size_ = 0;
  has_authority_ = false;
  has_content_length_ = false;
  head_too_large_ = false;
  chunked_ = false;
  head_delivered_ = false;
  end_delivered_ = false;
  empty_for_reuse(inbound_, kMaxKeptBytes);
  empty_for_reuse(delivering_, kMaxKeptBytes);
  unacknowledged_ = 0;
  reading_ = false;
  request_ended_ = false;
  eof_pending_ = false;
  parser_.reset();
  response_.clear_keeping(kMaxKeptBytes, kMaxKeptFields);
  outbound_offset_ = 0;
  held_status_ = 0;
  std::memset(status_, 0, sizeof(status_));
  held_bodiless_ = false;
  head_held_ = false;
  raw_body_ = false;
  trailers_.clear_keeping(kMaxKeptBytes, kMaxKeptFields);
  head_request_ = false;
  response_submitted_ = false;
  response_ended_ = false;
  data_deferred_ = false;
  h2_closed_ = false;
  client_gone_told_ = false;
}

// ---- The request, from HTTP/2 frames to a decoded head for the session ---------------------

void Http2Stream::add_header(std::string_view name, std::string_view value) {
  if (session_) return add_trailer(name, value);
  if (head_too_large_) return;
  // Counted as the head's HTTP/1.1 lines would be ("name: value\r\n").
  size_t size = head_size_ + name.size() + value.size() + 4;
  if (size > max_header_bytes_) {
    head_too_large_ = true;
    return;
  }
  // nghttp2 has checked the fields (RFC 9113 8.2 and 8.3): lowercase names, no connection-specific
  // fields, pseudo-headers first and each once, no CR or LF in a value.
  if (name == ":method") {
    method_ = value;
    head_size_ += value.size();
  } else if (name == ":path") {
    set_target(value);
    head_size_ += value.size();
  } else if (name == ":authority") {
    add_authority(value);
  } else if (name.starts_with(':')) {
    // :scheme is what the listener says; :protocol (extended CONNECT) is not offered.
  } else if (name == "host") {
    if (!has_authority_) add_authority(value);  // RFC 9113 8.3.1: :authority wins
  } else if (name == "cookie") {
    if (!cookie_.empty()) cookie_.append("; ");
    cookie_.append(value);
    head_size_ += value.size() + 2;
  } else {
    http::HeaderId id = http::classify_header(name);
    if (id == http::HeaderId::kContentLength) {
      // nghttp2 has checked it is one number, and will check the body against it.
      uint64_t length = 0;
      std::from_chars(value.data(), value.data() + value.size(), length);
      has_content_length_ = request_.has_content_length = true;
      request_.content_length = length;
    }
    append_field(request_, name, value, id);
    head_size_ = size;
  }
}

// The target as the request line has it.
void Http2Stream::set_target(std::string_view target) {
  request_.target_offset = static_cast<uint32_t>(request_.bytes.size());
  request_.target_length = static_cast<uint32_t>(target.size());
  request_.bytes.append(target);
}

// :authority (or Host without it) is the request's one Host.
void Http2Stream::add_authority(std::string_view authority) {
  has_authority_ = true;
  head_size_ += authority.size();
  append_field(request_, "Host", authority, http::HeaderId::kHost);
}

void Http2Stream::append_field(http::MessageHead& head, std::string_view name,
                               std::string_view value, http::HeaderId id) {
  http::HeaderField field;
  field.name_offset = static_cast<uint32_t>(head.bytes.size());
  field.name_length = static_cast<uint32_t>(name.size());
  head.bytes.append(name);
  field.value_offset = static_cast<uint32_t>(head.bytes.size());
  field.value_length = static_cast<uint32_t>(value.size());
  head.bytes.append(value);
  field.id = id;
  head.fields.push_back(field);
}

void Http2Stream::start_request(bool end_stream) {
  request_ended_ = end_stream;
  if (head_too_large_) {
    // Its fields were dropped as they came (an HPACK bomb decodes to far more than it sends).
    WG_LOG_INFO("http2: refused stream %d from %s with 431: header list past max_header_bytes", id_,
                connection_.parent().client_ip());
    return respond_locally(431);
  }
  int method = routing::method_id(method_);
  head_request_ = method == HTTP_HEAD;
  // One the parser would not take either: the session refuses it (check_decoded_head).
  request_.method =
      method < 0 ? http::ServerConnection::kUnknownMethod : static_cast<uint8_t>(method);
  if (method == HTTP_CONNECT) {
    // Its target is the authority (RFC 9113 8.5), as an HTTP/1.1 CONNECT names it.
    auto host =
        std::find_if(request_.fields.begin(), request_.fields.end(),
                     [](const http::HeaderField& f) { return f.id == http::HeaderId::kHost; });
    request_.target_offset = host == request_.fields.end() ? 0 : host->value_offset;
    request_.target_length = host == request_.fields.end() ? 0 : host->value_length;
  }
  if (!cookie_.empty()) append_field(request_, "Cookie", cookie_, http::HeaderId::kCookie);
  if (!end_stream && !has_content_length_) {
    append_field(request_, "Transfer-Encoding", "chunked", http::HeaderId::kTransferEncoding);
    request_.chunked = request_.transfer_encoding = chunked_ = true;
  }
  // One request per session: it closes once its response is written. Said by the flag alone, not
  // by a Connection field the client never sent (which would count against its field limit).
  request_.keep_alive = false;
  std::string().swap(cookie_);
  session_ =
      std::make_unique<DownstreamSession>(connection_.worker(), DownstreamSession::ForStream{});
  sink_ = &session_->start_stream(connection_.parent(), *this);
  connection_.schedule(*this);
}

// A request's trailer fields go to the session at its end; a body with a length has no place for
// them in HTTP/1.1, so there they are dropped. Past max_header_bytes the session refuses them
// (431), as it would a head that large.
void Http2Stream::add_trailer(std::string_view name, std::string_view value) {
  if (!chunked_ || request_ended_ || request_trailers_.bytes.size() > max_header_bytes_) return;
  append_field(request_trailers_, name, value, http::classify_header(name));
}

void Http2Stream::add_body(std::string_view bytes) {
  if (!session_ || request_ended_) {
    // Nobody takes it (the session has answered and gone): acknowledged and dropped.
    nghttp2_session_consume_stream(connection_.session(), id_, bytes.size());
    return;
  }
  inbound_.append(bytes);
  unacknowledged_ += bytes.size();
  if (reading_) connection_.schedule(*this);
}

void Http2Stream::end_request() {
  if (request_ended_) return;
  request_ended_ = true;
  if (!session_) return;
  connection_.schedule(*this);
}

void Http2Stream::pump() {
  if (!sink_) return;
  if (!head_delivered_) {
    head_delivered_ = true;
    session_->start_decoded_request(request_);
  }
  if (!inbound_.empty() && session_->takes_decoded_body()) {
    delivering_.swap(inbound_);
    size_t acknowledged = unacknowledged_;
    unacknowledged_ = 0;
    session_->deliver_decoded_body(delivering_);
    delivering_.clear();
    // The session has the bytes: the client may send as many more (WINDOW_UPDATE).
    if (acknowledged != 0 && !connection_.dead()) {
      nghttp2_session_consume_stream(connection_.session(), id_, acknowledged);
      connection_.schedule_flush();
    }
  }
  if (request_ended_ && !end_delivered_ && inbound_.empty() && session_->takes_decoded_body()) {
    end_delivered_ = true;
    session_->end_decoded_request(request_trailers_);
  }
  if (eof_pending_ && sink_) {
    eof_pending_ = false;
    sink_->on_transport_eof(UV_EOF);
  }
}

void Http2Stream::set_reading(bool on) {
  reading_ = on;
  if (on && (!inbound_.empty() || (request_ended_ && !end_delivered_))) connection_.schedule(*this);
}

void Http2Stream::shutdown() {
  // The session lingers for its client's end; a stream has nothing more to say once it closes.
  eof_pending_ = true;
  connection_.schedule(*this);
}

bool Http2Stream::secure() const {
  return connection_.secure();
}

// ---- The response, from HTTP/1.1 bytes to HTTP/2 frames -------------------------------------

int Http2Stream::write(std::span<const uv_buf_t> bufs) {
  if (connection_.dead() || h2_closed_) return UV_EPIPE;
  if (raw_body_) {
    // The head went as fields (send_response_head): these are body bytes, already unframed.
    if (!response_ended_) {
      for (const uv_buf_t& buf : bufs)
        outbound_.append(buf.base, buf.len);
    }
    resume_data();
    connection_.schedule_flush();
    return 0;
  }
  if (!parser_) parser_.emplace(HTTP_RESPONSE, static_cast<http::ParserSink&>(*this));
  for (const uv_buf_t& buf : bufs) {
    std::string_view bytes(buf.base, buf.len);
    while (!bytes.empty()) {
      size_t consumed = 0;
      http::Parser::Result result = parser_->execute(bytes, &consumed);
      bytes.remove_prefix(std::min(consumed, bytes.size()));
      if (result == http::Parser::Result::kPaused) {
        parser_->resume();
        continue;
      }
      if (result != http::Parser::Result::kOk) {
        // Our own serializer wrote it: a failure here is a bug, and the stream cannot go on.
        WG_LOG_ERROR("http2: stream %d: unreadable response from the proxy: %s", id_,
                     parser_->error_reason());
        nghttp2_submit_rst_stream(connection_.session(), NGHTTP2_FLAG_NONE, id_,
                                  NGHTTP2_INTERNAL_ERROR);
        connection_.schedule_flush();
        return UV_EPROTO;
      }
    }
  }
  resume_data();
  connection_.schedule_flush();
  return 0;
}

http::MessageHead& Http2Stream::on_message_begin() {
  response_.clear();
  return response_;
}

int Http2Stream::on_headers_complete(http::MessageHead& head) {
  if (head.status < 200) {
    submit_head(head, false, false);  // 100 Continue: the client may send its body
    return http::kHeadContinue;
  }
  // A response with no body ends its stream with its head: gRPC clients read a head that ends the
  // stream as the call's status (Trailers-Only), and a head followed by an empty DATA as a
  // protocol error.
  bool bodiless = head_request_ || head.status == 204 || head.status == 304 ||
                  (head.has_content_length && head.content_length == 0);
  submit_head(head, true, bodiless);
  return head_request_ ? http::kHeadSkipBody : http::kHeadContinue;
}

int Http2Stream::on_body(std::string_view bytes) {
  outbound_.append(bytes);
  return 0;
}

int Http2Stream::on_message_complete() {
  if (response_.status >= 200) response_ended_ = true;
  return HPE_PAUSED;  // the parser checks each head from its start (see http::Parser)
}

void Http2Stream::submit_head(const http::MessageHead& head, bool final_response, bool bodiless) {
  char status[4];
  auto [end, ec] = std::to_chars(status, status + sizeof(status), head.status);
  std::string names;
  std::vector<nghttp2_nv> fields;
  fields.reserve(head.fields.size() + 1);
  fields.push_back(header(":status", std::string_view(status, end)));
  append_fields(head, names, fields);
  nghttp2_session* session = connection_.session();
  if (!final_response) {
    nghttp2_submit_headers(session, NGHTTP2_FLAG_NONE, id_, nullptr, fields.data(), fields.size(),
                           nullptr);
    return;
  }
  submit_final(fields, bodiless);
}

void Http2Stream::submit_final(std::vector<nghttp2_nv>& fields, bool bodiless) {
  nghttp2_session* session = connection_.session();
  response_submitted_ = true;
  if (bodiless) {
    response_ended_ = true;
    nghttp2_submit_response(session, id_, fields.data(), fields.size(), nullptr);
    return;
  }
  nghttp2_data_provider provider;
  provider.source.ptr = this;
  provider.read_callback = &read_response_callback;
  nghttp2_submit_response(session, id_, fields.data(), fields.size(), &provider);
}

// ---- The proxied response, as fields ----------------------------------------------------------

void Http2Stream::hold_response_head(const http::MessageHead& response,
                                     const http::ResponseFraming& framing) {
  if (raw_body_) return;  // the head went: nghttp2 may still read held_fields_
  held_fields_.clear();
  held_lengths_.clear();
  held_lengths_.reserve(2 * response.fields.size() + 16);
  {
    // Room for it all at once: the fields as they came, and a few of waygate's own.
    http::HeadWriter held(held_fields_, response.bytes.size() + 256);
    http::for_each_downstream_response_field(
        response, framing,
        [this, &held](http::HeaderId id, std::string_view name, std::string_view value) {
          if (connection_specific(id)) return;
          held.put_lowercase(name);  // RFC 9113 8.2.1
          held.put(value);
          held_lengths_.push_back(static_cast<uint32_t>(name.size()));
          held_lengths_.push_back(static_cast<uint32_t>(value.size()));
        });
  }
  held_status_ = response.status;
  // A response with no body ends its stream with its head (see on_headers_complete).
  held_bodiless_ =
      head_request_ || response.status == 204 || response.status == 304 ||
      (framing.framing == http::BodyFraming::kContentLength && framing.content_length == 0);
  head_held_ = true;
}

void Http2Stream::send_response_head() {
  if (!head_held_) return;
  head_held_ = false;
  raw_body_ = true;
  auto [end, ec] = std::to_chars(status_, status_ + sizeof(status_), held_status_);
  std::vector<nghttp2_nv>& fields = connection_.field_scratch();
  fields.clear();
  // Names are lowercase already, and the bytes stay put: nghttp2 copies none of them.
  constexpr uint8_t kInPlace = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
  fields.push_back(header(":status", std::string_view(status_, end), kInPlace));
  std::string_view text = held_fields_;
  for (size_t i = 0; i + 1 < held_lengths_.size(); i += 2) {
    std::string_view name = text.substr(0, held_lengths_[i]);
    text.remove_prefix(name.size());
    std::string_view value = text.substr(0, held_lengths_[i + 1]);
    text.remove_prefix(value.size());
    fields.push_back(header(name, value, kInPlace));
  }
  submit_final(fields, held_bodiless_);
}

void Http2Stream::end_response(const http::MessageHead& trailers) {
  if (connection_.dead() || h2_closed_) return;
  if (!trailers.fields.empty()) trailers_ = trailers;
  response_ended_ = true;
  resume_data();
  connection_.schedule_flush();
}

// Trailer fields the session wrote after its last chunk (gRPC's status) end the stream in a
// HEADERS frame of their own, after the last DATA.
void Http2Stream::submit_trailers() {
  std::string names;
  std::vector<nghttp2_nv> fields;
  const http::MessageHead& trailers = response_trailers();
  fields.reserve(trailers.fields.size());
  append_fields(trailers, names, fields);
  if (raw_body_) {
    // As the HTTP/1 last chunk carries them: what may not come from a trailer stays behind.
    std::erase_if(fields, [](const nghttp2_nv& field) {
      return !http::is_forwarded_trailer(
          std::string_view(reinterpret_cast<const char*>(field.name), field.namelen));
    });
  }
  nghttp2_submit_trailer(connection_.session(), id_, fields.data(), fields.size());
}

const http::MessageHead& Http2Stream::response_trailers() const {
  return raw_body_ || !parser_ ? trailers_ : parser_->trailers();
}

ssize_t Http2Stream::read_response(uint8_t* buf, size_t length, uint32_t* data_flags) {
  size_t n = std::min(length, pending_bytes());
  if (n != 0) std::memcpy(buf, outbound_.data() + outbound_offset_, n);
  outbound_offset_ += n;
  if (pending_bytes() == 0) {
    outbound_.clear();
    outbound_offset_ = 0;
    if (response_ended_) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      if (!response_trailers().fields.empty()) {
        *data_flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;  // the trailers' HEADERS ends it
        submit_trailers();
      }
    } else if (n == 0) {
      data_deferred_ = true;  // resumed when the session writes more
      return NGHTTP2_ERR_DEFERRED;
    }
    if (n != 0) connection_.note_drained(*this);
  }
  return static_cast<ssize_t>(n);
}

void Http2Stream::resume_data() {
  if (!data_deferred_ || (pending_bytes() == 0 && !response_ended_)) return;
  data_deferred_ = false;
  nghttp2_session_resume_data(connection_.session(), id_);
}

void Http2Stream::notify_drained() {
  if (sink_ && pending_bytes() == 0) sink_->on_transport_drained(0);
}

// A response waygate gives without a session (a head past the limits).
void Http2Stream::respond_locally(uint16_t status) {
  char digits[4];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), status);
  nghttp2_nv fields[] = {header(":status", std::string_view(digits, end))};
  response_submitted_ = response_ended_ = true;
  nghttp2_submit_response(connection_.session(), id_, fields, 1, nullptr);
  connection_.schedule_flush();
}

// ---- Ending ---------------------------------------------------------------------------------

void Http2Stream::on_stream_closed() {
  h2_closed_ = true;
  // Closed before the whole response was handed over: the client reset it.
  if (!response_ended_ || pending_bytes() > 0) abort();
}

// The session hears that its client left.
void Http2Stream::abort() {
  if (!sink_ || client_gone_told_) return;
  client_gone_told_ = true;
  sink_->on_transport_eof(UV_ECONNRESET);
}

void Http2Stream::on_session_closing() {
  connection_.defer_session_close(*this);
}

void Http2Stream::finish_session_close() {
  session_->finish_deferred_close();  // on_closed, then on_session_closed: may free or reset this
}

void Http2Stream::on_session_closed() {
  if (!h2_closed_ && !response_ended_ && !connection_.dead()) {
    // The session gave up part way (the upstream failed mid-response, a timeout): a reset is the
    // only honest end, as closing the connection is for HTTP/1.
    nghttp2_submit_rst_stream(connection_.session(), NGHTTP2_FLAG_NONE, id_,
                              NGHTTP2_INTERNAL_ERROR);
    connection_.schedule_flush();
  }
  sink_ = nullptr;
  // Freed at the end of this function: the session is inside its own on_closed.
  std::unique_ptr<DownstreamSession> closed = std::move(session_);
  connection_.on_stream_finished(*this);  // may free or reset this
}

}  // namespace waygate::proxy
