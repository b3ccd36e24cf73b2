#include "proxy/downstream_session.h"

#include <llhttp.h>

#include <cstdio>

#include "core/log.h"
#include "core/socket_address.h"
#include "http/header_names.h"
#include "http/status.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"

namespace waygate::proxy {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// Input read ahead of the parser (pipelined requests) is bounded; past this, reading stops.
constexpr size_t kMaxStashBytes = 64 * 1024;

bool has_body(const http::MessageHead& request) {
  return request.chunked || request.content_length > 0;
}

const char* upstream_error_name(UpstreamError error) {
  switch (error) {
    case UpstreamError::kRefused:
      return "upstream-refused";
    case UpstreamError::kReset:
      return "upstream-reset";
    case UpstreamError::kMalformed:
      return "upstream-malformed";
    case UpstreamError::kTimeout:
      return "upstream-timeout";
  }
  return "upstream";
}

}  // namespace

DownstreamSession::DownstreamSession(Worker& worker)
    : worker_(worker),
      writer_(&DownstreamSession::on_written, this),
      parser_(HTTP_REQUEST, *this,
              http::ParserLimits{static_cast<uint32_t>(worker.snapshot().limits.max_header_bytes),
                                 static_cast<uint32_t>(worker.snapshot().limits.max_uri_bytes)}) {
  uv_tcp_init(worker.loop(), &tcp_);
  tcp_.data = this;
  timer_.init(worker.loop(), &DownstreamSession::on_timeout, this);
  writer_.attach(stream());
  open_handles_ = 2;
}

DownstreamSession::~DownstreamSession() = default;

void DownstreamSession::start() {
  sockaddr_storage peer{};
  int length = sizeof(peer);
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&peer), &length) == 0) {
    std::string ip = format_ip(peer);
    ip.copy(client_ip_, sizeof(client_ip_) - 1);
    client_ip_[std::min(ip.size(), sizeof(client_ip_) - 1)] = '\0';
    client_port_ = socket_port(peer);
  }
  uv_tcp_nodelay(&tcp_, 1);
  timer_.set(worker_.snapshot().timeouts.header_read_ms);
  update_reading();
}

// ---- Reading and parsing the request -------------------------------------------------------

void DownstreamSession::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<DownstreamSession*>(stream->data);
  if (nread == 0) return;
  if (nread < 0) {
    self->on_client_eof();
    return;
  }
  std::string_view bytes(buf->base, static_cast<size_t>(nread));
  if (self->tunnel_) {
    self->timer_.set(self->worker_.snapshot().timeouts.downstream_idle_ms);
    if (self->exchange_->upstream->write(bytes) < 0) {
      self->close();
      return;
    }
    self->update_reading();
    return;
  }
  if (self->pause_ != Pause::kNone) {
    // A pipelined request, or body bytes before the upstream is ready: parsed when allowed.
    // Reading on (rather than stopping) costs no epoll change per request.
    self->stash_input(bytes);
    self->update_reading();
    return;
  }
  self->parse(bytes, false);
}

void DownstreamSession::on_client_eof() {
  // The client closed or half-closed. A response still owed is written if it can be.
  client_eof_ = true;
  update_reading();
  if (tunnel_ || !exchange_) {
    close_when_flushed();
    return;
  }
  // Requests already read (the current one, pipelined ones in the stash) are still answered;
  // finish_exchange closes once none is left.
  bool request_can_finish =
      exchange_->request_done || (pause_ == Pause::kHead && stash_offset_ < stash_.size());
  if (request_can_finish) return;
  exchange_->error = "client-closed";
  close();
}

void DownstreamSession::stash_input(std::string_view bytes) {
  if (stash_offset_ > 0) {
    stash_.erase(0, stash_offset_);
    stash_offset_ = 0;
  }
  stash_.append(bytes);
}

void DownstreamSession::parse(std::string_view bytes, bool from_stash) {
  size_t consumed = 0;
  http::Parser::Result result = parser_.execute(bytes, &consumed);
  if (closing_) return;
  if (result == http::Parser::Result::kError) {
    if (exchange_ && exchange_->pending_status != 0) {
      // on_body refused the body (too large): answer what it decided.
      uint16_t status = exchange_->pending_status;
      exchange_->close_after = true;
      respond_local(status, exchange_->error);
      return;
    }
    WG_LOG_INFO("malformed request from %s: %s", client_ip_, parser_.error_reason());
    if (!exchange_) exchange_ = worker_.acquire_exchange();
    exchange_->close_after = true;
    uint16_t status = parser_.error_status();
    respond_local(status, status == 414   ? "uri-too-long"
                          : status == 431 ? "headers-too-large"
                                          : "malformed");
    return;
  }
  if (result == http::Parser::Result::kOk) {
    if (from_stash) {
      stash_.clear();
      stash_offset_ = 0;
    }
    update_reading();
    return;
  }
  // Paused (or switching protocols): keep the unparsed rest for later.
  if (from_stash) {
    stash_offset_ += consumed;
  } else {
    stash_.assign(bytes.substr(consumed));
    stash_offset_ = 0;
  }
  update_reading();
  if (result == http::Parser::Result::kUpgrade) {
    // The upstream declined to switch protocols: what follows is HTTP again.
    resume_parsing();
  } else if (pause_ == Pause::kHead) {
    start_exchange();
  } else if (pause_ == Pause::kMessageEnd && exchange_ && exchange_->pending_status != 0) {
    respond_local(exchange_->pending_status, exchange_->error);
  }
}

void DownstreamSession::resume_parsing() {
  pause_ = Pause::kNone;
  parser_.resume();
  // Even with nothing stashed, the parser may have a step to take (the end of a bodiless message).
  std::string_view pending(stash_.data() + stash_offset_, stash_.size() - stash_offset_);
  parse(pending, true);
}

http::MessageHead& DownstreamSession::on_message_begin() {
  if (!exchange_) exchange_ = worker_.acquire_exchange();
  exchange_->start_ns = uv_hrtime();
  timer_.set(worker_.snapshot().timeouts.header_read_ms);
  return exchange_->request;
}

int DownstreamSession::on_headers_complete(http::MessageHead&) {
  pause_ = Pause::kHead;
  return http::kHeadPause;
}

int DownstreamSession::on_body(std::string_view bytes) {
  Exchange& exchange = *exchange_;
  exchange.body_bytes_received += bytes.size();
  uint64_t limit = exchange.route ? exchange.route->max_body_bytes : 0;
  if (limit != 0 && exchange.body_bytes_received > limit) {
    exchange.pending_status = 413;
    exchange.error = "body-too-large";
    return -1;
  }
  if (!exchange.upstream) return 0;  // answered locally: the body is read and dropped
  timer_.set(worker_.snapshot().timeouts.downstream_idle_ms);
  int rc;
  if (exchange.request.chunked) {
    std::string& header = worker_.scratch();
    header.clear();
    http::append_chunk_header(header, bytes.size());
    uv_buf_t bufs[3] = {
        uv_buf_init(header.data(), static_cast<unsigned>(header.size())),
        uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size())),
        uv_buf_init(const_cast<char*>(http::kChunkEnd.data()), 2)};
    rc = exchange.upstream->write(bufs);
  } else {
    rc = exchange.upstream->write(bytes);
  }
  if (rc < 0) {
    exchange.pending_status = 502;
    exchange.error = "upstream-reset";
    return -1;
  }
  return 0;
}

int DownstreamSession::on_message_complete() {
  Exchange& exchange = *exchange_;
  exchange.request_done = true;
  if (exchange.upstream && exchange.request.chunked) exchange.upstream->write(http::kLastChunk);
  if (exchange.upstream) timer_.clear();  // now it is the upstream's turn; its timer governs
  pause_ = Pause::kMessageEnd;
  return HPE_PAUSED;
}

// ---- Routing and the upstream connection ---------------------------------------------------

void DownstreamSession::start_exchange() {
  Exchange& exchange = *exchange_;
  const http::MessageHead& request = exchange.request;
  exchange.snapshot = worker_.snapshot_ptr();
  timer_.clear();

  std::optional<std::string_view> host = request.find("host");
  if (!host && !request.is_http10()) return answer_locally(400, "malformed");
  if (request.method == HTTP_CONNECT) return answer_locally(405, "connect-refused");

  exchange.route = exchange.snapshot->routes.match(request);
  if (!exchange.route) return answer_locally(404, "no-route");
  const routing::RouteAction& route = *exchange.route;
  if (route.kind != routing::RouteAction::Kind::kForward) {
    exchange.routed_response = true;
    bool respond = route.kind == routing::RouteAction::Kind::kRespond;
    return answer_locally(respond ? route.respond.status : route.redirect.code, "-");
  }
  uint64_t limit = route.max_body_bytes;
  if (limit != 0 && request.has_content_length && request.content_length > limit) {
    return answer_locally(413, "body-too-large");
  }
  uint32_t cluster_pick =
      route.clusters.size() > 1 ? worker_.next_random() % route.total_weight : 0;
  uint32_t cluster_index = route.cluster_for(cluster_pick);
  exchange.cluster = &exchange.snapshot->clusters[cluster_index];
  if (exchange.cluster->endpoints.empty()) return answer_locally(503, "no-endpoint");

  exchange.upgrade = request.upgrade;
  exchange.expect_continue = !request.is_http10() && has_body(request) &&
                             http::has_token(request.find("expect").value_or(""), "100-continue");
  uint32_t pick = worker_.next_round_robin(cluster_index) %
                  static_cast<uint32_t>(exchange.cluster->endpoints.size());
  exchange.pool = &worker_.pool_for(exchange.cluster->endpoints[pick]);
  connect_upstream(true);
}

// Answers found before any upstream is involved (errors, redirects, fixed responses). A bodiless
// request is parsed to its end first, so the connection can stay open; one with a body is answered
// and closed.
void DownstreamSession::answer_locally(uint16_t status, const char* reason) {
  Exchange& exchange = *exchange_;
  exchange.error = reason;
  if (has_body(exchange.request) || status == 400) {
    exchange.close_after = true;
    respond_local(status, reason);
    return;
  }
  exchange.pending_status = status;
  resume_parsing();
}

void DownstreamSession::connect_upstream(bool allow_idle) {
  Exchange& exchange = *exchange_;
  ++exchange.attempts;
  if (UpstreamConnection* idle = allow_idle ? exchange.pool->take_idle(*this) : nullptr) {
    exchange.upstream = idle;
    exchange.upstream_reused = true;
    on_upstream_ready();
    return;
  }
  UpstreamConnection& connection = exchange.pool->create();
  connection.set_response_timeout(exchange.route->upstream_response_ms);
  exchange.upstream_reused = false;
  if (!connection.connect(*this)) {
    exchange.error = "upstream-refused";
    respond_local(502, exchange.error);
    return;
  }
  exchange.upstream = &connection;
}

void DownstreamSession::on_upstream_connected() {
  on_upstream_ready();
}

void DownstreamSession::on_upstream_ready() {
  Exchange& exchange = *exchange_;
  UpstreamConnection& upstream = *exchange.upstream;
  const http::MessageHead& request = exchange.request;
  upstream.set_response_timeout(exchange.route->upstream_response_ms);
  upstream.expect_response_to_head(request.method == HTTP_HEAD);

  std::string_view request_id;
  if (!request.find("x-request-id")) {
    worker_.generate_request_id(exchange.generated_id);
    request_id = exchange.generated_id;
  }
  const routing::RouteAction& route = *exchange.route;
  http::ForwardContext context;
  context.client_address = client_ip_;
  context.proto = "http";
  context.request_id = request_id;
  context.upgrade = exchange.upgrade;
  if (route.rewrite_prefix) {
    exchange.upstream_target = routing::rewrite_target(route, request.target());
    context.target = exchange.upstream_target;
  }
  if (route.rewrite_host) context.host = *route.rewrite_host;
  if (!route.request_headers.empty()) context.edits = &route.request_headers;
  std::string& head = worker_.scratch();
  head.clear();
  http::append_upstream_request_head(head, request, context);
  if (upstream.write(head) < 0) {
    upstream.close();
    on_upstream_error(UpstreamError::kReset);
    return;
  }
  if (exchange.expect_continue) write_downstream(kContinue);
  if (pause_ != Pause::kHead) return;  // a retry after the request was parsed to its end
  timer_.set(worker_.snapshot().timeouts.downstream_idle_ms);
  resume_parsing();
}

// ---- The response --------------------------------------------------------------------------

void DownstreamSession::on_upstream_head(http::MessageHead& response) {
  Exchange& exchange = *exchange_;
  const http::MessageHead& request = exchange.request;
  exchange.status = response.status;
  timer_.set(worker_.snapshot().timeouts.downstream_idle_ms);

  http::ResponseFraming framing;
  bool switching = response.status == 101;
  if (switching && !exchange.upgrade) {
    // An upstream may not switch protocols unasked; treat it as a broken response.
    exchange.upstream->close();
    on_upstream_error(UpstreamError::kMalformed);
    return;
  }
  bool bodiless =
      request.method == HTTP_HEAD || response.status == 204 || response.status == 304 || switching;
  if (response.has_content_length && !response.chunked) {
    framing.framing = http::BodyFraming::kContentLength;
    framing.content_length = response.content_length;
  } else if (bodiless) {
    framing.framing = http::BodyFraming::kNone;
  } else if (request.is_http10()) {
    framing.framing = http::BodyFraming::kUntilClose;
  } else {
    framing.framing = http::BodyFraming::kChunked;
  }
  if (!exchange.request_done || worker_.draining() || !request.keep_alive ||
      framing.framing == http::BodyFraming::kUntilClose) {
    exchange.close_after = true;
  }
  framing.upgrade = switching;
  if (!exchange.route->response_headers.empty()) framing.edits = &exchange.route->response_headers;
  framing.close = exchange.close_after && !switching;
  framing.keep_alive_10 = request.is_http10() && !exchange.close_after;
  exchange.response_framing = bodiless ? http::BodyFraming::kNone : framing.framing;

  exchange.response_head.clear();
  http::append_downstream_response_head(exchange.response_head, response, framing);
  exchange.response_head_sent = true;
}

void DownstreamSession::flush_response_head() {
  if (!exchange_ || exchange_->response_head.empty() || closing_) return;
  write_downstream(exchange_->response_head);
  exchange_->response_head.clear();
}

void DownstreamSession::write_response(std::span<uv_buf_t> bufs) {
  Exchange& exchange = *exchange_;
  uv_buf_t all[4];
  size_t count = 0;
  if (!exchange.response_head.empty()) {
    all[count++] = uv_buf_init(exchange.response_head.data(),
                               static_cast<unsigned>(exchange.response_head.size()));
  }
  for (const uv_buf_t& buf : bufs)
    all[count++] = buf;
  int rc = writer_.write(std::span<const uv_buf_t>(all, count));
  exchange.response_head.clear();
  if (rc < 0) close();
}

void DownstreamSession::on_upstream_body(std::string_view bytes) {
  if (closing_ || bytes.empty()) return;
  Exchange& exchange = *exchange_;
  exchange.response_bytes_sent += bytes.size();
  timer_.set(worker_.snapshot().timeouts.downstream_idle_ms);
  uv_buf_t body = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  if (exchange.response_framing == http::BodyFraming::kChunked) {
    std::string& header = worker_.scratch();
    header.clear();
    http::append_chunk_header(header, bytes.size());
    uv_buf_t bufs[3] = {uv_buf_init(header.data(), static_cast<unsigned>(header.size())), body,
                        uv_buf_init(const_cast<char*>(http::kChunkEnd.data()), 2)};
    write_response(bufs);
  } else {
    write_response(std::span<uv_buf_t>(&body, 1));
  }
  // Backpressure: stop reading the upstream until the client has taken what we hold.
  if (!closing_ && !writer_.idle() && exchange.upstream) exchange.upstream->pause_reading();
}

void DownstreamSession::on_upstream_complete(UpstreamConnection* connection, bool reusable) {
  Exchange& exchange = *exchange_;
  uv_buf_t last_chunk = uv_buf_init(const_cast<char*>(http::kLastChunk.data()),
                                    static_cast<unsigned>(http::kLastChunk.size()));
  bool chunked = exchange.response_framing == http::BodyFraming::kChunked;
  write_response(std::span<uv_buf_t>(&last_chunk, chunked ? 1 : 0));
  exchange.response_done = true;
  exchange.upstream = nullptr;
  // Reuse needs the whole request sent too; one cut short leaves the upstream mid-message.
  connection->release(reusable && exchange.request_done);
  finish_exchange();
}

void DownstreamSession::on_upstream_error(UpstreamError error) {
  Exchange& exchange = *exchange_;
  exchange.upstream = nullptr;
  // A pooled connection the upstream had closed meanwhile: try once more on a new one, when
  // nothing of the request beyond its head can have been lost.
  bool retriable = exchange.upstream_reused && error == UpstreamError::kReset &&
                   !exchange.response_head_sent && !has_body(exchange.request) &&
                   exchange.attempts < 2;
  if (retriable) {
    connect_upstream(false);
    return;
  }
  exchange.error = upstream_error_name(error);
  if (exchange.response_head_sent && !exchange.response_head.empty()) {
    // The head was held back and never left: the client can still get a proper 502.
    exchange.response_head.clear();
    exchange.response_head_sent = false;
  }
  if (exchange.response_head_sent) {
    // The client has part of a response: closing is the only honest signal left.
    WG_LOG_INFO("%s while streaming a response to %s", exchange.error, client_ip_);
    exchange.status = exchange.status ? exchange.status : 502;
    write_access_log();
    close();
    return;
  }
  if (!exchange.request_done) exchange.close_after = true;
  respond_local(error == UpstreamError::kTimeout ? 504 : 502, exchange.error);
}

void DownstreamSession::on_upstream_drained() {
  update_reading();
}

// ---- Tunnel (after 101 Switching Protocols) ------------------------------------------------

void DownstreamSession::on_upstream_upgrade(std::string_view early_bytes) {
  Exchange& exchange = *exchange_;
  exchange.response_done = true;
  write_access_log();
  flush_response_head();
  tunnel_ = true;
  if (!early_bytes.empty()) write_downstream(early_bytes);
  // Whatever the client sent after its request head already belongs to the tunnel.
  if (stash_offset_ < stash_.size()) {
    exchange.upstream->write(std::string_view(stash_).substr(stash_offset_));
  }
  stash_.clear();
  stash_offset_ = 0;
  timer_.set(worker_.snapshot().timeouts.downstream_idle_ms);
  update_reading();
}

void DownstreamSession::on_upstream_raw(std::string_view bytes) {
  timer_.set(worker_.snapshot().timeouts.downstream_idle_ms);
  write_downstream(bytes);
  if (!writer_.idle() && exchange_ && exchange_->upstream) exchange_->upstream->pause_reading();
}

void DownstreamSession::on_upstream_tunnel_closed() {
  exchange_->upstream = nullptr;
  close_when_flushed();
}

// ---- Ending an exchange --------------------------------------------------------------------

void DownstreamSession::respond_local(uint16_t status, const char* reason) {
  Exchange& exchange = *exchange_;
  if (exchange.response_head_sent) {
    // Too late for a status of our own: the client has part of a response already.
    exchange.error = reason;
    write_access_log();
    close();
    return;
  }
  if (exchange.upstream) {
    exchange.upstream->close();
    exchange.upstream = nullptr;
  }
  exchange.status = status;
  exchange.error = reason;
  exchange.pending_status = 0;
  if (!exchange.request_done || draining_ || !exchange.request.keep_alive) {
    exchange.close_after = true;
  }
  std::string& response = worker_.scratch();
  response.clear();
  if (exchange.routed_response) {
    append_route_response(response);
  } else {
    http::append_generated_response(response, status, exchange.close_after);
  }
  exchange.response_head_sent = true;
  exchange.response_done = true;
  exchange.response_bytes_sent = response.size() - (response.find("\r\n\r\n") + 4);  // body only
  write_downstream(response);
  finish_exchange();
}

// A route's own answer: a fixed response, or a redirect to a Location built from the request.
void DownstreamSession::append_route_response(std::string& out) {
  Exchange& exchange = *exchange_;
  const routing::RouteAction& route = *exchange.route;
  http::HeaderList headers;
  std::string body;
  if (route.kind == routing::RouteAction::Kind::kRespond) {
    headers = route.respond.headers;
    body = route.respond.body;
  } else {
    const http::MessageHead& request = exchange.request;
    headers.emplace_back(
        "Location",
        routing::redirect_location(route, request.find("host").value_or(""), request.target()));
    body = std::to_string(route.redirect.code) + " " +
           std::string(http::reason_phrase(route.redirect.code)) + "\n";
  }
  for (const auto& added : route.response_headers.add)
    headers.push_back(added);
  http::append_local_response(out, exchange.status, body, headers, exchange.close_after);
}

void DownstreamSession::finish_exchange() {
  if (closing_) return;
  write_access_log();
  bool more_input = !client_eof_ || stash_offset_ < stash_.size();
  bool keep_alive = !exchange_->close_after && exchange_->request_done && !draining_ && more_input;
  release_exchange();
  if (!keep_alive) {
    close_when_flushed();
    return;
  }
  timer_.set(worker_.snapshot().timeouts.downstream_idle_ms);
  resume_parsing();  // the next pipelined request, if one is waiting
}

void DownstreamSession::write_access_log() {
  Exchange& exchange = *exchange_;
  if (exchange.start_ns == 0) return;  // logged already
  const http::MessageHead& request = exchange.request;
  std::string_view id = request.find("x-request-id").value_or(exchange.generated_id);
  char client[64];
  bool v6 = std::string_view(client_ip_).find(':') != std::string_view::npos;
  int length = std::snprintf(client, sizeof(client), v6 ? "[%s]:%u" : "%s:%u", client_ip_,
                             static_cast<unsigned>(client_port_));
  // A request refused before its head was whole has no method or target worth printing.
  bool head = parser_.head_complete() || exchange.route != nullptr;
  worker_.access_log().write(
      AccessLogEntry{std::string_view(client, static_cast<size_t>(std::max(length, 0))),
                     head ? llhttp_method_name(static_cast<llhttp_method_t>(request.method)) : "-",
                     head ? request.target() : "-", request.version_minor, exchange.status,
                     exchange.response_bytes_sent, uv_hrtime() - exchange.start_ns,
                     request.find("host").value_or("-"),
                     exchange.cluster ? std::string_view(exchange.cluster->name) : "-",
                     exchange.pool ? std::string_view(exchange.pool->address_text()) : "-",
                     id.empty() ? "-" : id, exchange.error});
  exchange.start_ns = 0;
}

void DownstreamSession::release_exchange() {
  if (!exchange_) return;
  if (exchange_->upstream) {
    exchange_->upstream->close();
    exchange_->upstream = nullptr;
  }
  worker_.release_exchange(std::move(exchange_));
}

// ---- Connection plumbing -------------------------------------------------------------------

void DownstreamSession::update_reading() {
  bool want = !closing_ && !close_on_drain_;
  if (tunnel_) {
    want = want && exchange_ && exchange_->upstream && !exchange_->upstream->write_congested();
  } else {
    bool upstream_busy = exchange_ && exchange_->upstream && exchange_->upstream->write_congested();
    want = want && !client_eof_ && stash_.size() - stash_offset_ < kMaxStashBytes && !upstream_busy;
  }
  if (want == reading_) return;
  if (want) {
    uv_read_start(stream(), &Worker::allocate_read_buffer, &DownstreamSession::on_read);
  } else {
    uv_read_stop(stream());
  }
  reading_ = want;
}

void DownstreamSession::write_downstream(std::string_view bytes) {
  if (writer_.write(bytes) < 0) close();
}

void DownstreamSession::close_when_flushed() {
  close_on_drain_ = true;
  update_reading();
  if (writer_.idle()) close();
}

void DownstreamSession::begin_drain() {
  draining_ = true;
  bool idle = !exchange_ && !tunnel_ && !parser_.in_message();
  if (idle) close_when_flushed();
}

void DownstreamSession::close() {
  if (closing_) return;
  closing_ = true;
  if (exchange_) {
    if (exchange_->start_ns != 0 && exchange_->status == 0) {
      exchange_->error = "client-closed";
      write_access_log();
    }
    release_exchange();
  }
  stash_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &DownstreamSession::on_closed);
  uv_close(timer_.handle(), &DownstreamSession::on_closed);
}

void DownstreamSession::on_closed(uv_handle_t* handle) {
  auto* self =
      handle->type == UV_TCP
          ? static_cast<DownstreamSession*>(handle->data)
          : static_cast<DownstreamSession*>(static_cast<DeadlineTimer*>(handle->data)->owner());
  if (--self->open_handles_ == 0) self->worker_.destroy_session(*self);
}

void DownstreamSession::on_written(void* self_ptr, int status) {
  auto* self = static_cast<DownstreamSession*>(self_ptr);
  if (self->closing_) return;
  if (status < 0 || self->close_on_drain_) {
    self->close();
    return;
  }
  if (self->exchange_ && self->exchange_->upstream) self->exchange_->upstream->resume_reading();
}

void DownstreamSession::on_timeout(void* self_ptr) {
  auto* self = static_cast<DownstreamSession*>(self_ptr);
  if (self->closing_) return;
  Exchange* exchange = self->exchange_.get();
  if (exchange && !self->parser_.head_complete() && self->parser_.in_message()) {
    // Slowloris: the head did not arrive in time.
    exchange->close_after = true;
    self->respond_local(408, "header-timeout");
    return;
  }
  if (exchange && exchange->start_ns != 0) {
    exchange->status = exchange->status ? exchange->status : 408;
    exchange->error = "downstream-timeout";
    self->write_access_log();
  }
  self->close();
}

}  // namespace waygate::proxy
