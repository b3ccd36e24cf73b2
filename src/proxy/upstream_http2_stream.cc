#include "proxy/upstream_http2_stream.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "http/header_names.h"
#include "http/status.h"
#include "proxy/upstream_http2_connection.h"

namespace waygate::proxy {
namespace {

// The session's request head was checked against the client's limits already; these only bound
// what a stream holds.
constexpr http::ParserLimits kRequestLimits{1024 * 1024, 1024 * 1024, 10000};
// Request body bytes held beyond this make the session wait (backpressure) until nghttp2 takes
// them, as a socket's full send buffer would.
constexpr size_t kMaxUnsentBody = 64 * 1024;
// A body kept for a replay (a refused stream goes again on another connection) up to this size.
constexpr size_t kMaxReplayBytes = 1024 * 1024;
constexpr int kMaxReplays = 3;

// Fields HTTP/2 carries differently or not at all (RFC 9113 8.2.2).
bool is_connection_field(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding",
      "upgrade",    "host",       "http2-settings"};
  return std::any_of(std::begin(kNames), std::end(kNames),
                     [&](std::string_view known) { return http::equals_ignore_case(name, known); });
}

std::string lower(std::string_view name) {
  std::string lowered(name);
  for (char& c : lowered)
    c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return lowered;
}

void append_hex(std::string& out, size_t value) {
  char digits[16];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value, 16);
  (void)ec;
  out.append(digits, end);
}

}  // namespace

UpstreamHttp2Stream::UpstreamHttp2Stream(TransportSink& sink)
    : sink_(&sink), parser_(HTTP_REQUEST, *this, kRequestLimits) {}

UpstreamHttp2Stream::~UpstreamHttp2Stream() {
  cancel();
}

void UpstreamHttp2Stream::cancel() {
  sink_ = nullptr;
  if (!connection_) return;
  if (id_ > 0 && !closed_) {
    nghttp2_submit_rst_stream(connection_->session(), NGHTTP2_FLAG_NONE, id_, NGHTTP2_CANCEL);
  }
  UpstreamHttp2Connection* connection = connection_;
  connection_ = nullptr;
  connection->remove(*this);
}

void UpstreamHttp2Stream::attach(UpstreamHttp2Connection& connection, bool connected) {
  connection_ = &connection;
  connected_ = connected_ || connected;
  if (connected && head_parsed_ && id_ == 0) submit();
}

void UpstreamHttp2Stream::on_connection_ready() {
  if (!connected_) {
    connect_owed_ = true;
    connect_status_ = 0;
    schedule();
  }
  if (head_parsed_ && id_ == 0) submit();
}

void UpstreamHttp2Stream::on_connection_lost(int status, bool tls_failed) {
  connection_ = nullptr;
  scheduled_ = false;
  closed_ = true;
  if (!connected_) {
    connect_owed_ = true;
    connect_status_ = status;
    tls_failed_ = tls_failed;
  } else if (!response_ended_ || !reading_) {
    // A sink that is not reading now could not be told later: nothing pumps a stream whose
    // connection is gone. What it holds is dropped, a whole response too (a rare loss: the
    // upstream closed right after it, while its client was not keeping up).
    end_status_ = UV_ECONNRESET;
    if (!reading_) inbox_.clear();
  }
  pump();
}

bool UpstreamHttp2Stream::can_replay() const {
  return sink_ && !response_started_ && status_ == 0 && inbox_.empty() && replay_kept_ &&
         replays_ < kMaxReplays;
}

void UpstreamHttp2Stream::detach_for_replay() {
  UpstreamHttp2Connection* connection = connection_;
  connection_ = nullptr;
  if (connection) connection->remove(*this);
  id_ = 0;
  closed_ = false;
  scheduled_ = false;
  body_offset_ = 0;
  data_deferred_ = false;
  ++replays_;
}

bool UpstreamHttp2Stream::secure() const {
  return connection_ && connection_->secure();
}

// ---- The request ----------------------------------------------------------------------------

int UpstreamHttp2Stream::write(std::span<const uv_buf_t> bufs) {
  for (const uv_buf_t& buf : bufs) {
    if (buf.len == 0 || request_ended_) continue;
    size_t consumed = 0;
    if (parser_.execute(std::string_view(buf.base, buf.len), &consumed) ==
        http::Parser::Result::kError) {
      return UV_EINVAL;
    }
  }
  if (submit_failed_) return UV_ECONNRESET;
  if (pending_bytes() > 0) drain_owed_ = true;
  return 0;
}

size_t UpstreamHttp2Stream::pending_bytes() const {
  size_t unsent = body_.size() - body_offset_;
  return unsent > kMaxUnsentBody ? unsent - kMaxUnsentBody : 0;
}

http::MessageHead& UpstreamHttp2Stream::on_message_begin() {
  return request_;
}

int UpstreamHttp2Stream::on_headers_complete(http::MessageHead& head) {
  head_request_ = head.method == HTTP_HEAD;
  std::string_view authority;
  if (auto host = head.find(http::HeaderId::kHost)) authority = *host;
  fields_.clear();
  fields_.emplace_back(":method", llhttp_method_name(static_cast<llhttp_method_t>(head.method)));
  fields_.emplace_back(":scheme", secure() ? "https" : "http");
  fields_.emplace_back(":authority", authority);
  fields_.emplace_back(":path", head.target());
  for (const http::HeaderField& field : head.fields) {
    std::string_view name = head.name(field);
    std::string_view value = head.value(field);
    if (is_connection_field(name)) continue;
    // TE is allowed in HTTP/2 with the value "trailers" only.
    if (http::equals_ignore_case(name, "te") && !http::equals_ignore_case(value, "trailers")) {
      continue;
    }
    fields_.emplace_back(lower(name), value);
  }
  head_parsed_ = true;
  request_ended_ = !head.chunked && head.content_length == 0;
  if (connection_ && connection_->state() != UpstreamHttp2Connection::State::kConnecting) {
    submit();
  }
  return http::kHeadContinue;
}

int UpstreamHttp2Stream::on_body(std::string_view bytes) {
  body_.append(bytes);
  if (replay_kept_ && body_.size() > kMaxReplayBytes) replay_kept_ = false;
  if (!replay_kept_ && body_offset_ > 0) {
    body_.erase(0, body_offset_);
    body_offset_ = 0;
  }
  resume_body();
  return 0;
}

int UpstreamHttp2Stream::on_message_complete() {
  request_ended_ = true;
  resume_body();
  return 0;
}

void UpstreamHttp2Stream::resume_body() {
  if (!data_deferred_ || !connection_ || id_ <= 0 || closed_) return;
  data_deferred_ = false;
  nghttp2_session_resume_data(connection_->session(), id_);
  connection_->schedule_flush();
}

void UpstreamHttp2Stream::submit() {
  UpstreamHttp2Connection& connection = *connection_;
  if (connection.state() != UpstreamHttp2Connection::State::kReady) {
    // Told to go away meanwhile: the request goes on another connection, if one can be had.
    if (!connection.replay(*this)) submit_failed_ = true;
    return;
  }
  std::vector<nghttp2_nv> headers;
  headers.reserve(fields_.size());
  for (auto& [name, value] : fields_) {
    headers.push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(name.data()),
                                 reinterpret_cast<uint8_t*>(value.data()), name.size(),
                                 value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider body{};
  body.source.ptr = &connection;
  body.read_callback = &UpstreamHttp2Connection::read_request_body;
  bool bodiless = request_ended_ && body_.size() == body_offset_;
  int32_t id = nghttp2_submit_request(connection.session(), nullptr, headers.data(), headers.size(),
                                      bodiless ? nullptr : &body, nullptr);
  if (id < 0) {
    submit_failed_ = true;
    return;
  }
  id_ = id;
  data_deferred_ = false;
  connection.schedule_flush();
}

ssize_t UpstreamHttp2Stream::read_request_body(uint8_t* buf, size_t length, uint32_t* data_flags) {
  size_t available = body_.size() - body_offset_;
  if (available == 0 && !request_ended_) {
    data_deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  size_t n = std::min(length, available);
  std::memcpy(buf, body_.data() + body_offset_, n);
  body_offset_ += n;
  if (body_offset_ == body_.size()) {
    if (request_ended_) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!replay_kept_) {
      body_.clear();
      body_offset_ = 0;
    }
  }
  if (drain_owed_ && pending_bytes() == 0) {
    drain_owed_ = false;
    drained_ = true;
    schedule();
  }
  return static_cast<ssize_t>(n);
}

// ---- The response ---------------------------------------------------------------------------

void UpstreamHttp2Stream::add_response_header(std::string_view name, std::string_view value) {
  if (name == ":status") {
    std::from_chars(value.data(), value.data() + value.size(), status_);
    return;
  }
  if (!name.empty() && name.front() == ':') return;
  response_fields_.emplace_back(name, value);
}

void UpstreamHttp2Stream::end_response_headers(bool end_stream) {
  if (!response_started_ && status_ >= 100 && status_ < 200) {
    // 100 Continue, 103 Early Hints: the response parser above takes them for what they are.
    write_head();
  } else if (!response_started_) {
    response_started_ = true;
    replay_kept_ = false;
    bool has_length =
        std::any_of(response_fields_.begin(), response_fields_.end(),
                    [](const auto& field) { return field.first == "content-length"; });
    bodiless_ = head_request_ || status_ == 204 || status_ == 304;
    // A head that ends the stream (gRPC's Trailers-Only answer, an empty body) says so by its
    // length, so the client's side can end its own stream with the head too.
    if (end_stream && !has_length && !bodiless_)
      response_fields_.emplace_back("content-length", "0");
    chunked_ = !has_length && !bodiless_ && !end_stream;
    write_head();
  } else if (chunked_ && !trailers_written_) {
    trailers_written_ = true;
    inbox_.append("0\r\n");
    for (const auto& [name, value] : response_fields_)
      inbox_.append(name).append(": ").append(value).append("\r\n");
    inbox_.append("\r\n");
  }
  response_fields_.clear();
  if (end_stream) end_response();
  schedule();
}

void UpstreamHttp2Stream::write_head() {
  inbox_.append("HTTP/1.1 ");
  char digits[8];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), status_);
  (void)ec;
  inbox_.append(digits, end).append(" ").append(http::reason_phrase(status_)).append("\r\n");
  for (const auto& [name, value] : response_fields_) {
    if (is_connection_field(name)) continue;
    inbox_.append(name).append(": ").append(value).append("\r\n");
  }
  if (chunked_ && status_ >= 200) inbox_.append("transfer-encoding: chunked\r\n");
  inbox_.append("\r\n");
  if (status_ < 200) status_ = 0;
}

void UpstreamHttp2Stream::add_response_data(std::string_view bytes) {
  unconsumed_ += bytes.size();
  if (bodiless_ || bytes.empty()) {
    schedule();  // to acknowledge them
    return;
  }
  if (chunked_) {
    append_hex(inbox_, bytes.size());
    inbox_.append("\r\n").append(bytes).append("\r\n");
  } else {
    inbox_.append(bytes);
  }
  schedule();
}

void UpstreamHttp2Stream::end_response() {
  if (response_ended_) return;
  if (!response_started_) {
    end_status_ = UV_EPROTO;  // ended without a final response
    schedule();
    return;
  }
  response_ended_ = true;
  if (chunked_ && !trailers_written_) inbox_.append("0\r\n\r\n");
  schedule();
}

void UpstreamHttp2Stream::on_closed(uint32_t error_code) {
  closed_ = true;
  if (response_ended_) return;
  (void)error_code;
  end_status_ = UV_ECONNRESET;
  schedule();
}

// ---- Toward the sink ------------------------------------------------------------------------

void UpstreamHttp2Stream::set_reading(bool on) {
  reading_ = on;
  if (on && (!inbox_.empty() || unconsumed_ > 0 || end_status_ != 0)) schedule();
}

void UpstreamHttp2Stream::schedule() {
  if (scheduled_ || !connection_) return;
  scheduled_ = true;
  connection_->schedule(*this);
}

void UpstreamHttp2Stream::pump() {
  scheduled_ = false;
  if (!sink_) return;
  if (connect_owed_) {
    connect_owed_ = false;
    connected_ = connect_status_ == 0;
    sink_->on_transport_connected(connect_status_);
    if (!connected_ || !sink_) return;
  }
  if (reading_ && !inbox_.empty()) {
    delivering_.swap(inbox_);
    sink_->on_transport_read(delivering_);
    delivering_.clear();
    if (!sink_) return;
  }
  if (reading_ && unconsumed_ > 0 && connection_ && id_ > 0 && !closed_) {
    // The window opens as the sink takes the bytes: a slow client holds the upstream back.
    nghttp2_session_consume_stream(connection_->session(), id_, unconsumed_);
    connection_->schedule_flush();
  }
  if (reading_) unconsumed_ = 0;
  if (drained_) {
    drained_ = false;
    sink_->on_transport_drained(0);
    if (!sink_) return;
  }
  if (end_status_ != 0 && inbox_.empty()) {
    int status = end_status_;
    end_status_ = 0;
    sink_->on_transport_eof(status);
  }
}

}  // namespace waygate::proxy
