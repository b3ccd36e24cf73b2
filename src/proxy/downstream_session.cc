#include "proxy/downstream_session.h"

#include <llhttp.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "core/hash.h"
#include "core/log.h"
#include "core/tls_context.h"
#include "http/cookies.h"
#include "http/field_syntax.h"
#include "http/grpc_reply.h"
#include "http/grpc_timeout.h"
#include "http/header_names.h"
#include "http/request_target.h"
#include "http/status.h"
#include "lb/pickable.h"
#include "proxy/http2_connection.h"
#include "proxy/http2_stream.h"
#include "proxy/token_bucket.h"
#include "proxy/upstream_pool.h"
#include "proxy/worker.h"

namespace waygate::proxy {
namespace {

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// A pooled connection that the upstream closed meanwhile is retried on a fresh one this often
// (not counted as a retry: nothing reached the upstream).
constexpr uint8_t kMaxStaleRetries = 2;
// Retries in flight that a cluster's budget allows on a worker however few requests it has.
constexpr uint32_t kMinRetryBudget = 3;

bool has_body(const http::MessageHead& request) {
  return request.chunked || request.content_length > 0;
}

// RFC 9110 9.2.2: a retry of these cannot do what the first attempt did not already do.
bool is_idempotent(uint8_t method) {
  switch (method) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
    case HTTP_PUT:
    case HTTP_DELETE:
      return true;
    default:
      return false;
  }
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
    case UpstreamError::kConnectTimeout:
      return "upstream-connect-timeout";
    case UpstreamError::kBusy:
      return "upstream-busy";
    case UpstreamError::kTls:
      return "upstream-tls";
  }
  return "upstream";
}

uint16_t upstream_error_status(UpstreamError error) {
  switch (error) {
    case UpstreamError::kTimeout:
    case UpstreamError::kConnectTimeout:
      return 504;
    case UpstreamError::kBusy:
      return 503;
    default:
      return 502;
  }
}

EndpointEvent::Kind event_for(UpstreamError error) {
  switch (error) {
    case UpstreamError::kRefused:
    case UpstreamError::kConnectTimeout:
    case UpstreamError::kTls:
      return EndpointEvent::Kind::kConnectFailure;
    case UpstreamError::kTimeout:
      return EndpointEvent::Kind::kTimeout;
    default:
      return EndpointEvent::Kind::kReset;
  }
}

// The access log's short name for a request the connection core refused.
const char* refusal_name(uint16_t status) {
  switch (status) {
    case 408:
      return "header-timeout";
    case 414:
      return "uri-too-long";
    case 431:
      return "headers-too-large";
    case 501:
      return "not-implemented";
    case 505:
      return "version-not-supported";
    default:
      return "malformed";
  }
}

// Sticky sessions name an endpoint by its address hash, in 16 hex digits.
bool parse_sticky_value(std::string_view text, uint64_t* hash) {
  if (text.size() != 16) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *hash, 16);
  return ec == std::errc() && end == text.data() + text.size();
}

std::string sticky_cookie_value(const routing::StickyConfig& sticky, uint64_t hash) {
  char digits[17];
  std::snprintf(digits, sizeof(digits), "%016llx", static_cast<unsigned long long>(hash));
  std::string value = sticky.cookie + "=" + digits + "; Path=/; HttpOnly";
  if (sticky.ttl_ms != 0) value += "; Max-Age=" + std::to_string(sticky.ttl_ms / 1000);
  return value;
}

// Whether every protocol the client asks to switch to is one the route allows.
bool upgrade_allowed(std::string_view requested, const std::vector<std::string>& allowed) {
  if (requested.empty()) return false;
  while (!requested.empty()) {
    size_t comma = requested.find(',');
    std::string_view token = requested.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
      token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
      token.remove_suffix(1);
    token = token.substr(0, token.find('/'));  // "websocket/13": the protocol, not its version
    bool known = false;
    for (const std::string& name : allowed)
      known = known || http::equals_ignore_case(token, name);
    if (!known) return false;
    if (comma == std::string_view::npos) break;
    requested.remove_prefix(comma + 1);
  }
  return true;
}

}  // namespace

DownstreamSession::DownstreamSession(Worker& worker)
    : http::ServerConnection(worker.loop()), worker_(worker) {}

DownstreamSession::DownstreamSession(Worker& worker, ForStream for_stream)
    : http::ServerConnection(for_stream), worker_(worker) {}

DownstreamSession::~DownstreamSession() = default;

::waygate::TransportSink& DownstreamSession::start_stream(DownstreamSession& parent,
                                                          Http2Stream& stream) {
  stream_ = &stream;
  client_ = parent.client_;
  listener_slot_ = parent.listener_slot_;
  tls_listener_ = parent.tls_listener_;
  std::string_view subject = parent.client_cert_subject();
  if (!subject.empty()) client_cert_subject_ = std::make_unique<const std::string>(subject);
  client_cert_read_ = true;
  return ServerConnection::start_stream(stream, parent);
}

void DownstreamSession::drain() {
  if (h2_) {
    h2_->begin_drain();
  } else {
    begin_drain();
  }
}

void DownstreamSession::start_tls(std::shared_ptr<const routing::ListenerTls> listener) {
  tls_listener_ = std::move(listener);
  start(tls_listener_->context->new_ssl());
}

std::string_view DownstreamSession::client_cert_subject() {
  if (!tls_listener_ || !tls_listener_->client_certs) return {};
  if (!client_cert_read_) {
    std::string subject = tls()->peer_subject();
    if (!subject.empty()) client_cert_subject_ = std::make_unique<const std::string>(subject);
    client_cert_read_ = true;
  }
  return client_cert_subject_ ? std::string_view(*client_cert_subject_) : std::string_view();
}

http::ServerTimeouts DownstreamSession::timeouts() const {
  const routing::Timeouts& timeouts = worker_.snapshot().timeouts;
  return {timeouts.header_read_ms, timeouts.downstream_idle_ms, timeouts.tls_handshake_ms};
}

http::ParserLimits DownstreamSession::parser_limits() const {
  const routing::Limits& limits = worker_.snapshot().limits;
  return {static_cast<uint32_t>(limits.max_header_bytes),
          static_cast<uint32_t>(limits.max_uri_bytes),
          static_cast<uint32_t>(limits.max_request_headers)};
}

// ---- The request head: where it goes -------------------------------------------------------

http::MessageHead& DownstreamSession::request_head() {
  if (!exchange_) exchange_ = worker_.acquire_exchange();
  exchange_->start_ns = worker_.turn_now_ns();
  return exchange_->request;
}

void DownstreamSession::on_request_head(http::MessageHead&) {
  start_exchange();
}

void DownstreamSession::start_exchange() {
  Exchange& exchange = *exchange_;
  const http::MessageHead& request = exchange.request;
  exchange.snapshot = worker_.hold_snapshot();

  if (request.method == HTTP_CONNECT) return answer_locally(405, "connect-refused");
  if (!resolve_target()) return;
  exchange.route = exchange.snapshot->routes.match(
      routing::MatchInput{exchange.host, exchange.path, exchange.query, request.method, &request,
                          transport().secure()});
  if (!exchange.route) return answer_locally(404, "no-route");
  const routing::RouteAction& route = *exchange.route;
  if (!route.admits(client_.bytes)) return answer_locally(403, "address-refused");
  if (route.rate_limit_slot != 0 || route.client_rate_limit_slot != 0) {
    uint64_t wait_ns = worker_.take_rate_limit(route, client_, exchange.start_ns);
    if (wait_ns != 0) return answer_rate_limited(wait_ns);
  }
  if (route.kind != routing::RouteAction::Kind::kForward) return answer_from_route();
  uint64_t limit = route.max_body_bytes;
  if (limit != 0 && request.has_content_length && request.content_length > limit) {
    return answer_locally(413, "body-too-large");
  }

  // What goes upstream: the normalised path (rewritten when the route says so) and the query.
  if (route.settings->extras->rewrite->prefix) {
    exchange.target_buffer.clear();
    routing::append_rewritten_target(exchange.target_buffer, route, exchange.path, exchange.query);
    exchange.target = exchange.target_buffer;
  } else if (exchange.target.empty()) {
    exchange.target_buffer.assign(exchange.path).append(exchange.query);
    exchange.target = exchange.target_buffer;
  }
  // Only protocols the route allows become a tunnel; any other Upgrade is dropped (it is a
  // per-hop header) and the request goes on as plain HTTP.
  exchange.upgrade =
      request.upgrade && upgrade_allowed(request.find(http::HeaderId::kUpgrade).value_or(""),
                                         route.settings->extras->upgrades->protocols);
  exchange.expect_continue =
      !request.is_http10() && has_body(request) &&
      http::has_token(request.find(http::HeaderId::kExpect).value_or(""), "100-continue");

  uint32_t cluster_pick =
      route.clusters.size() > 1 ? worker_.next_random() % route.total_weight : 0;
  exchange.cluster_index = route.cluster_for(cluster_pick);
  pick_endpoint();
}

// The host it addresses, the normalised path and the query, from the request target and Host.
// Answers 400 itself and returns false when they are not valid.
bool DownstreamSession::resolve_target() {
  Exchange& exchange = *exchange_;
  const http::MessageHead& request = exchange.request;
  http::RequestTarget target;
  if (!http::parse_request_target(request.target(), &target)) {
    answer_locally(400, "bad-target");
    return false;
  }
  std::optional<std::string_view> host_header = request.find(http::HeaderId::kHost);
  if (target.form == http::RequestTarget::Form::kAbsolute) {
    exchange.host = target.authority;  // RFC 9112 3.2.2: the target's authority wins over Host
  } else if (host_header) {
    exchange.host = *host_header;
  } else if (!request.is_http10()) {
    answer_locally(400, "missing-host");
    return false;
  }
  if ((host_header || !exchange.host.empty()) && !http::parse_authority(exchange.host)) {
    answer_locally(400, "bad-host");
    return false;
  }
  exchange.query = target.query;
  exchange.path = target.path;
  if (target.form == http::RequestTarget::Form::kAsterisk) {
    // "OPTIONS *" asks about the server as a whole; no path route matches it.
    if (request.method != HTTP_OPTIONS) {
      answer_locally(400, "bad-target");
      return false;
    }
    exchange.target = request.target();
    return true;
  }
  switch (http::normalize_path(target.path, exchange.snapshot->paths, exchange.path_buffer)) {
    case http::PathStatus::kUnchanged:
      break;
    case http::PathStatus::kNormalized:
      exchange.path = exchange.path_buffer;
      break;
    case http::PathStatus::kEscapedSlash:
      answer_locally(400, "escaped-slash");
      return false;
    case http::PathStatus::kBackslash:
    case http::PathStatus::kBadEscape:
      answer_locally(400, "bad-path");
      return false;
  }
  // The client's target goes upstream as it came when it is already the normal origin form.
  bool as_sent = target.form == http::RequestTarget::Form::kOrigin &&
                 exchange.path.data() == target.path.data() &&
                 request.target().size() == target.path.size() + target.query.size();
  exchange.target = as_sent ? request.target() : std::string_view();
  return true;
}

// Picks an endpoint of the route's cluster, skipping those this request has tried, and gets a
// connection to it.
void DownstreamSession::pick_endpoint() {
  Exchange& exchange = *exchange_;
  const routing::ClusterInfo& cluster = exchange.snapshot->clusters[exchange.cluster_index];
  const routing::HostSet* hosts = worker_.host_set(cluster.id);
  if (!hosts || hosts->hosts.empty()) return answer_locally(503, "no-endpoint");
  Worker::ClusterLoad& load = worker_.cluster_load(cluster.id);
  if (exchange.counted_cluster == Exchange::kNone) {
    // Circuit breaker: a cluster with this many requests in flight on this worker takes no more.
    if (load.requests >= cluster.circuit_breakers.max_requests) {
      return answer_overflow(cluster.id);
    }
    ++load.requests;
    exchange.counted_cluster = cluster.id;
  }
  int32_t index = choose_host(cluster, *hosts);
  if (index < 0) return answer_locally(503, "no-healthy-endpoint");
  const routing::Host& host = hosts->hosts[static_cast<size_t>(index)];
  if (exchange.tries < Exchange::kMaxTries) exchange.tried[exchange.tries++] = host.endpoint_id;
  if (exchange.active_endpoint != Exchange::kNone) {
    worker_.count_active_request(exchange.active_endpoint, -1);
  }
  exchange.active_endpoint = host.endpoint_id;
  worker_.count_active_request(host.endpoint_id, +1);
  exchange.pool = &worker_.pool_for(host);
  size_t length = std::min(host.address_text.size(), sizeof(exchange.endpoint) - 1);
  host.address_text.copy(exchange.endpoint, length);
  exchange.endpoint[length] = '\0';
  connect_upstream(true);
}

// The host for this try: the one a sticky-session cookie names, when it may take traffic, else
// the balancer's pick (keyed by the request's hash for ring_hash and maglev). -1 when none is
// eligible.
int32_t DownstreamSession::choose_host(const routing::ClusterInfo& cluster,
                                       const routing::HostSet& hosts) {
  Exchange& exchange = *exchange_;
  const http::MessageHead& request = exchange.request;
  lb::PickContext context;
  context.excluded = std::span<const uint32_t>(exchange.tried.data(), exchange.tries);
  if (!cluster.sticky.cookie.empty()) {
    std::optional<std::string_view> value = http::find_cookie(request, cluster.sticky.cookie);
    uint64_t named = 0;
    if (value && parse_sticky_value(*value, &named)) {
      int32_t index = hosts.find(named);
      const routing::Host* host = index >= 0 ? &hosts.hosts[static_cast<size_t>(index)] : nullptr;
      if (host && routing::eligible(hosts, *host) && !lb::is_excluded(context, host->endpoint_id)) {
        exchange.sticky_set = false;
        return index;
      }
    }
  }
  if (cluster.hash_on.kind != routing::HashOnConfig::Kind::kNone) {
    std::optional<std::string_view> key;
    switch (cluster.hash_on.kind) {
      case routing::HashOnConfig::Kind::kHeader:
        key = request.find(cluster.hash_on.name);
        break;
      case routing::HashOnConfig::Kind::kCookie:
        key = http::find_cookie(request, cluster.hash_on.name);
        break;
      case routing::HashOnConfig::Kind::kClientAddress:
        key = std::string_view(client_ip());
        break;
      case routing::HashOnConfig::Kind::kNone:
        break;
    }
    if (key) {
      context.hash = hash64(*key);
      context.has_hash = true;
    }
  }
  context.active_requests = worker_.active_requests();
  context.random = worker_.next_random64();
  lb::Policy& balancer = worker_.balancer(cluster.id, cluster.lb);
  int32_t index = balancer.pick(hosts, context);
  if (index < 0) index = lb::pick_last_resort(hosts, context);
  if (index < 0 && exchange.tries > 0) {
    context.excluded = {};  // every host that may serve was tried: go round again
    index = balancer.pick(hosts, context);
  }
  if (index >= 0 && !cluster.sticky.cookie.empty()) {
    exchange.sticky_set = true;
    exchange.sticky_hash = hosts.hosts[static_cast<size_t>(index)].hash;
  }
  return index;
}

void DownstreamSession::connect_upstream(bool allow_idle) {
  Exchange& exchange = *exchange_;
  UpstreamConnection* connection = nullptr;
  const routing::ClusterInfo& cluster = exchange.snapshot->clusters[exchange.cluster_index];
  exchange.connect_started_ns = 0;
  exchange.upstream_connect_ns = exchange.upstream_response_ns = Exchange::kNoTime;
  switch (exchange.pool->acquire(*this, allow_idle, exchange.upgrade, cluster.id,
                                 cluster.circuit_breakers.max_connections, &connection)) {
    case UpstreamPool::Acquired::kReady:
      exchange.upstream_connect_ns = 0;  // an idle connection: no clock read on the busiest path
      on_connection_assigned(connection, true);
      return;
    case UpstreamPool::Acquired::kConnecting:
      exchange.connect_started_ns = worker_.turn_now_ns();
      on_connection_assigned(connection, false);
      return;
    case UpstreamPool::Acquired::kQueued: {
      exchange.connect_started_ns = worker_.turn_now_ns();
      Worker::ClusterLoad& load = worker_.cluster_load(cluster.id);
      // Circuit breaker: only so many requests may wait for a connection.
      if (load.pending >= cluster.circuit_breakers.max_pending) {
        exchange.pool->cancel_wait(*this);
        return answer_overflow(cluster.id);
      }
      ++load.pending;
      exchange.counted_pending = true;
      exchange.waiting_for_connection = true;
      return;
    }
    case UpstreamPool::Acquired::kFailed:
      on_upstream_error(UpstreamError::kRefused);
      return;
    case UpstreamPool::Acquired::kOverflow:
      return answer_overflow(cluster.id);
  }
}

void DownstreamSession::stop_waiting() {
  Exchange& exchange = *exchange_;
  exchange.waiting_for_connection = false;
  if (exchange.counted_pending) {
    --worker_.cluster_load(exchange.counted_cluster).pending;
    exchange.counted_pending = false;
  }
}

void DownstreamSession::on_connection_assigned(UpstreamConnection* connection, bool ready) {
  Exchange& exchange = *exchange_;
  stop_waiting();
  exchange.upstream = connection;
  exchange.upstream_reused = ready;
  const routing::RouteAction& route = *exchange.route;
  uint64_t timeout = route.upstream_response_ms;
  if (route.per_try_timeout_ms != 0) timeout = std::min(timeout, route.per_try_timeout_ms);
  if (std::optional<std::string_view> deadline =
          exchange.request.find(http::HeaderId::kGrpcTimeout)) {
    timeout = std::min(timeout, http::parse_grpc_timeout_ms(*deadline).value_or(timeout));
  }
  connection->set_response_timeout(timeout);
  if (ready) on_upstream_ready();
}

void DownstreamSession::on_upstream_connected() {
  on_upstream_ready();
}

// The connection is ready: send the head, then let the body flow.
void DownstreamSession::on_upstream_ready() {
  Exchange& exchange = *exchange_;
  UpstreamConnection& upstream = *exchange.upstream;
  const http::MessageHead& request = exchange.request;
  const routing::RouteAction& route = *exchange.route;
  upstream.expect_response_to_head(request.method == HTTP_HEAD);
  if (exchange.connect_started_ns != 0) {
    exchange.upstream_connect_ns = worker_.turn_now_ns() - exchange.connect_started_ns;
    exchange.connect_started_ns = 0;
  }

  std::string_view request_id;
  if (!request.find(http::HeaderId::kXRequestId)) {
    if (exchange.generated_id[0] == '\0') worker_.generate_request_id(exchange.generated_id);
    request_id = exchange.generated_id;
  }
  http::ForwardContext context;
  context.client_address = client_ip();
  context.proto = transport().secure() ? "https" : "http";
  context.request_id = request_id;
  context.upgrade = exchange.upgrade;
  context.target = exchange.target;
  // Exactly one Host: the route's, the one the client addressed, or (HTTP/1.0 without one) the
  // endpoint's address.
  context.host = route.settings->extras->rewrite->host
                     ? std::string_view(*route.settings->extras->rewrite->host)
                 : exchange.host.empty() ? std::string_view(exchange.endpoint)
                                         : exchange.host;
  context.forwarded_host = exchange.host;
  context.client_cert_subject = client_cert_subject();
  if (!route.settings->extras->request_headers->empty())
    context.edits = &*route.settings->extras->request_headers;
  std::string& head = worker_.scratch();
  head.clear();
  http::append_upstream_request_head(head, request, context);
  if (upstream.write(head) < 0) {
    upstream.close();
    on_upstream_error(UpstreamError::kReset);
    return;
  }
  exchange.upstream_sent_ns = worker_.turn_now_ns();
  if (exchange.body_forwarded) {
    replay_body();  // a retry: the body was read already, and kept
    return;
  }
  upstream.set_request_body_pending(has_body(request) && !exchange.request_done);
  if (exchange.expect_continue && send_interim(kContinue) < 0) return;
  exchange.expect_continue = false;  // once, whatever retries follow
  read_body();                       // nothing happens when the request was read already (a retry)
}

// ---- The request body ----------------------------------------------------------------------

// Keeps the body as it goes upstream, up to kMaxReplayBytes, while the route may retry.
void DownstreamSession::keep_for_replay(std::string_view bytes) {
  Exchange& exchange = *exchange_;
  if (!exchange.replay_kept) return;
  if (!exchange.route || exchange.route->retry_attempts == 0 ||
      exchange.replay.size() + bytes.size() > Exchange::kMaxReplayBytes) {
    exchange.replay_kept = false;
    std::string().swap(exchange.replay);
    return;
  }
  exchange.replay.append(bytes);
}

// A retry of a request whose body went to an earlier endpoint: the kept body, framed as before.
void DownstreamSession::replay_body() {
  Exchange& exchange = *exchange_;
  UpstreamConnection& upstream = *exchange.upstream;
  if (exchange.request.chunked) {
    std::string& framed = worker_.scratch();
    framed.clear();
    if (!exchange.replay.empty()) {
      http::append_chunk_header(framed, exchange.replay.size());
      framed.append(exchange.replay).append(http::kChunkEnd);
    }
    http::append_last_chunk(framed, request_trailers());
    upstream.write(framed);
  } else {
    upstream.write(exchange.replay);
  }
  upstream.set_request_body_pending(false);
}

void DownstreamSession::on_request_body(std::string_view bytes) {
  Exchange& exchange = *exchange_;
  exchange.body_bytes_received += bytes.size();
  uint64_t limit = exchange.route ? exchange.route->max_body_bytes : 0;
  if (limit != 0 && exchange.body_bytes_received > limit) {
    return answer_locally(413, "body-too-large");
  }
  if (!exchange.upstream) return;
  keep_for_replay(bytes);
  int rc;
  exchange.body_forwarded = true;
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
    exchange.upstream->close();
    on_upstream_error(UpstreamError::kReset);
    return;
  }
  // Backpressure: stop reading the client until the upstream has taken what we hold.
  if (exchange.upstream->write_congested()) pause_input();
}

void DownstreamSession::on_request_complete() {
  Exchange& exchange = *exchange_;
  exchange.request_done = true;
  if (!exchange.upstream) return;
  if (exchange.request.chunked) {
    std::string& last_chunk = worker_.scratch();
    last_chunk.clear();
    http::append_last_chunk(last_chunk, request_trailers());
    exchange.upstream->write(last_chunk);
  }
  exchange.upstream->set_request_body_pending(false);
}

void DownstreamSession::on_upstream_drained() {
  resume_input();
}

// ---- The response --------------------------------------------------------------------------

void DownstreamSession::on_upstream_head(http::MessageHead& response) {
  Exchange& exchange = *exchange_;
  const http::MessageHead& request = exchange.request;
  if (exchange.upstream_sent_ns != 0) {
    exchange.upstream_response_ns = worker_.turn_now_ns() - exchange.upstream_sent_ns;
    worker_.metrics().upstream_response.observe(exchange.upstream_response_ns);
  }
  if (response.status >= 500) {
    worker_.report(*exchange.pool, EndpointEvent::Kind::kServerError);
  } else {
    worker_.report(*exchange.pool, EndpointEvent::Kind::kSuccess);
  }
  if (retry_on_status(response.status)) return;
  exchange.status = response.status;

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
  // RFC 9110 8.6: no Content-Length on a 204 (a client that honoured one would read the next
  // response as this one's body); HEAD and 304 keep theirs, which describe the representation.
  if (response.has_content_length && !response.chunked && response.status != 204) {
    framing.framing = http::BodyFraming::kContentLength;
    framing.content_length = response.content_length;
  } else if (bodiless) {
    framing.framing = http::BodyFraming::kNone;
  } else if (request.is_http10()) {
    framing.framing = http::BodyFraming::kUntilClose;
  } else {
    framing.framing = http::BodyFraming::kChunked;
  }
  if (!keep_alive() || framing.framing == http::BodyFraming::kUntilClose) close_after_response();
  bool close = !keep_alive();
  framing.upgrade = switching;
  if (!exchange.route->settings->extras->response_headers->empty())
    framing.edits = &*exchange.route->settings->extras->response_headers;
  framing.close = close && !switching;
  framing.keep_alive_10 = request.is_http10() && !close;
  exchange.response_framing = bodiless ? http::BodyFraming::kNone : framing.framing;
  std::string sticky_cookie;
  if (exchange.sticky_set) {
    sticky_cookie = sticky_cookie_value(exchange.snapshot->clusters[exchange.cluster_index].sticky,
                                        exchange.sticky_hash);
    framing.set_cookie = sticky_cookie;
  }
  if (tls_listener_) framing.hsts = tls_listener_->hsts;

  if (stream_) {
    // An HTTP/2 stream takes the head as fields, and the body unframed: nothing is written as
    // HTTP/1.1 text for it to parse again.
    stream_->hold_response_head(response, framing);
  } else {
    exchange.response_head.clear();
    http::append_downstream_response_head(exchange.response_head, response, framing);
  }
  exchange.response_head_sent = true;
}

bool DownstreamSession::response_head_held() const {
  return stream_ ? stream_->response_head_held() : !exchange_->response_head.empty();
}

void DownstreamSession::flush_response_head() {
  if (!exchange_ || !response_head_held() || closing()) return;
  write_response({});
}

void DownstreamSession::write_response(std::span<uv_buf_t> bufs) {
  if (stream_) return write_stream_response(bufs);
  Exchange& exchange = *exchange_;
  uv_buf_t all[4];
  size_t count = 0;
  if (!exchange.response_head.empty()) {
    all[count++] = uv_buf_init(exchange.response_head.data(),
                               static_cast<unsigned>(exchange.response_head.size()));
  }
  for (const uv_buf_t& buf : bufs)
    all[count++] = buf;
  send(std::span<const uv_buf_t>(all, count));
  exchange.response_head.clear();
}

// Out of write_response's line, so that the HTTP/1 path stays as small as it was.
void DownstreamSession::write_stream_response(std::span<uv_buf_t> bufs) {
  stream_->send_response_head();  // the held head goes to the stream as fields
  send(bufs);                     // and the bytes are body
}

void DownstreamSession::on_upstream_body(std::string_view bytes) {
  if (closing() || bytes.empty()) return;
  Exchange& exchange = *exchange_;
  exchange.response_bytes_sent += bytes.size();
  uv_buf_t body = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  if (exchange.response_framing == http::BodyFraming::kChunked && !stream_) {
    std::string& header = worker_.scratch();
    header.clear();
    http::append_chunk_header(header, bytes.size());
    uv_buf_t bufs[3] = {uv_buf_init(header.data(), static_cast<unsigned>(header.size())), body,
                        uv_buf_init(const_cast<char*>(http::kChunkEnd.data()), 2)};
    write_response(bufs);
  } else {
    write_response(std::span<uv_buf_t>(&body, 1));
  }
  // Backpressure: stop reading the upstream until the client has taken what we hold. The
  // upstream's response timeout waits meanwhile; the client's idle timeout governs.
  if (!closing() && output_backed_up() && exchange.upstream) exchange.upstream->pause_reading();
}

void DownstreamSession::on_output_drained() {
  if (h2_) return h2_->on_output_drained();
  if (exchange_ && exchange_->upstream) exchange_->upstream->resume_reading();
}

void DownstreamSession::on_upstream_complete(UpstreamConnection* connection, bool reusable) {
  Exchange& exchange = *exchange_;
  bool chunked = exchange.response_framing == http::BodyFraming::kChunked && !stream_;
  std::string_view last = http::kLastChunk;
  if (chunked && !connection->response_trailers().fields.empty()) {
    std::string& with_trailers = worker_.scratch();
    with_trailers.clear();
    http::append_last_chunk(with_trailers, connection->response_trailers());
    last = with_trailers;
  }
  uv_buf_t last_chunk =
      uv_buf_init(const_cast<char*>(last.data()), static_cast<unsigned>(last.size()));
  write_response(std::span<uv_buf_t>(&last_chunk, chunked ? 1 : 0));
  if (stream_ && !closing()) stream_->end_response(connection->response_trailers());
  exchange.upstream = nullptr;
  // Reuse needs the whole request sent too; one cut short leaves the upstream mid-message.
  connection->release(reusable && exchange.request_done);
  finish_exchange();
}

// ---- Failures and retries ------------------------------------------------------------------

void DownstreamSession::on_upstream_error(UpstreamError error) {
  Exchange& exchange = *exchange_;
  exchange.upstream = nullptr;
  stop_waiting();
  // An upgrade reaches an HTTP/2 endpoint in HTTP/1.1 (UpstreamPool::acquire): one that speaks
  // nothing else answers it with HTTP/2 frames or a close, which says nothing of its health.
  bool http1_unspoken = exchange.upgrade && exchange.pool->http2() &&
                        (error == UpstreamError::kReset || error == UpstreamError::kMalformed);
  if (error != UpstreamError::kBusy && !http1_unspoken) {
    worker_.report(*exchange.pool, event_for(error));
  }
  if (retry_after(error)) return;
  exchange.error = upstream_error_name(error);
  if (exchange.response_head_sent && response_head_held()) {
    // The head was held back and never left: the client can still get a proper status.
    exchange.response_head.clear();
    if (stream_) stream_->drop_response_head();
    exchange.response_head_sent = false;
  }
  if (exchange.response_head_sent) {
    // The client has part of a response: closing is the only honest signal left.
    WG_LOG_INFO("%s while streaming a response to %s", exchange.error, client_ip());
    exchange.status = exchange.status ? exchange.status : 502;
    write_access_log();
    worker_.release_exchange(std::move(exchange_));
    close_now();
    return;
  }
  answer_locally(upstream_error_status(error), exchange.error);
}

// Tries again after a failure when it is safe: nothing of the response has reached the client,
// and either nothing reached the upstream (a refused connect) or the request can be repeated
// (idempotent, with no body that has been consumed).
bool DownstreamSession::retry_after(UpstreamError error) {
  Exchange& exchange = *exchange_;
  if (exchange.response_head_sent || closing()) return false;
  bool repeatable = can_repeat();
  // A pooled connection the upstream had closed meanwhile: again on a fresh one, same endpoint.
  if (error == UpstreamError::kReset && exchange.upstream_reused && repeatable &&
      exchange.stale_retries < kMaxStaleRetries) {
    ++exchange.stale_retries;
    connect_upstream(false);
    return true;
  }
  const routing::RouteAction& route = *exchange.route;
  bool wanted = false;
  switch (error) {
    case UpstreamError::kRefused:
    case UpstreamError::kConnectTimeout:
    case UpstreamError::kTls:
      // Nothing reached the upstream: safe for any request whose body is still to be read or
      // was kept.
      wanted = (route.retry_on & routing::kRetryConnectFailure) != 0 &&
               (!exchange.body_forwarded || repeatable);
      break;
    case UpstreamError::kReset:
    case UpstreamError::kMalformed:
      wanted = (route.retry_on & routing::kRetryReset) != 0 && repeatable;
      break;
    case UpstreamError::kTimeout:
      // A per-try timeout exists to move the request on: it retries even without `timeout`.
      wanted = ((route.retry_on & routing::kRetryTimeout) != 0 || route.per_try_timeout_ms != 0) &&
               repeatable;
      break;
    case UpstreamError::kBusy:
      wanted = false;
      break;
  }
  // A refused connect cost the cluster nothing: its retry is outside the budget, so a dead
  // endpoint costs no client an error however many requests it refuses at once.
  if (!wanted || !take_retry(error != UpstreamError::kRefused)) return false;
  pick_endpoint();
  return true;
}

// A response status the route retries on: the response is dropped unseen and another endpoint
// asked, when the request can be repeated.
bool DownstreamSession::retry_on_status(uint16_t status) {
  Exchange& exchange = *exchange_;
  if (!routing::retries_status(*exchange.route, status) || !can_repeat()) return false;
  if (!take_retry(true)) return false;
  exchange.upstream->close();
  exchange.upstream = nullptr;
  pick_endpoint();
  return true;
}

// Whether the request can be sent again: an idempotent method (RFC 9110 9.2.2) or a body kept in
// full, and nothing of the body lost (all of it kept, or none of it read yet).
bool DownstreamSession::can_repeat() const {
  const Exchange& exchange = *exchange_;
  const http::MessageHead& request = exchange.request;
  bool body_safe = !has_body(request) || !exchange.body_forwarded ||
                   (exchange.replay_kept && exchange.request_done);
  return body_safe && (is_idempotent(request.method) || exchange.replay_kept);
}

// One more try, if the route allows another and, when `budgeted`, the retry budget has room: at
// most a fifth of the cluster's requests in flight on this worker may be retries (at least
// three), so retries cannot multiply the load on a cluster that is failing.
bool DownstreamSession::take_retry(bool budgeted) {
  Exchange& exchange = *exchange_;
  if (exchange.tries > exchange.route->retry_attempts) return false;
  Worker::ClusterLoad& load = worker_.cluster_load(exchange.counted_cluster);
  if (budgeted && !exchange.counted_retry) {
    uint32_t budget = std::max<uint32_t>(kMinRetryBudget, load.requests / 5);
    if (load.retries >= budget) {
      WG_LOG_DEBUG("retry budget exhausted for cluster %u (%u retries in flight)",
                   exchange.counted_cluster, load.retries);
      return false;
    }
    ++load.retries;
    exchange.counted_retry = true;
  }
  if (ClusterCounters* counters = worker_.metrics().table()) {
    add(counters->retries(exchange.counted_cluster + 1), 1);
  }
  return true;
}

// ---- Answers from waygate itself -----------------------------------------------------------

// Errors found by waygate itself. The connection core keeps the connection when the request can
// still be read to its end (no body), and closes it gracefully otherwise.
void DownstreamSession::answer_locally(uint16_t status, const char* reason) {
  Exchange& exchange = *exchange_;
  if (response_started()) {
    // Too late for a status of our own: the client has part of a response already.
    exchange.error = reason;
    write_access_log();
    worker_.release_exchange(std::move(exchange_));
    close_now();
    return;
  }
  if (exchange.upstream) {
    exchange.upstream->close();
    exchange.upstream = nullptr;
  }
  exchange.status = status;
  exchange.error = reason;
  if (status == 400 || status == 413) close_after_response();
  std::string& response = worker_.scratch();
  response.clear();
  if (http::is_grpc_request(exchange.request)) {
    // The access log and metrics keep the HTTP status; the gRPC client reads grpc-status.
    std::string message = std::string("waygate: ") + reason;
    http::append_grpc_reply(response, status, message, !keep_alive());
  } else {
    http::append_generated_response(response, status, !keep_alive());
  }
  send_local(response);
}

void DownstreamSession::answer_rate_limited(uint64_t wait_ns) {
  Exchange& exchange = *exchange_;
  exchange.status = 429;
  exchange.error = "rate-limited";
  char seconds[24];
  auto [end, ec] = std::to_chars(seconds, seconds + sizeof(seconds), retry_after_seconds(wait_ns));
  std::string& response = worker_.scratch();
  response.clear();
  http::append_status_line(response, 429);
  http::append_header(response, "Retry-After", std::string_view(seconds, end));
  http::append_local_body(response, "429 Too Many Requests\n", false, !keep_alive());
  send_local(response);
}

void DownstreamSession::answer_overflow(uint32_t cluster_id) {
  if (ClusterCounters* counters = worker_.metrics().table()) {
    add(counters->overflows(cluster_id + 1), 1);
  }
  answer_locally(503, "cluster-overflow");
}

// A route's own answer: a fixed response, or a redirect to a Location built from the request.
void DownstreamSession::answer_from_route() {
  Exchange& exchange = *exchange_;
  const routing::RouteAction& route = *exchange.route;
  bool respond = route.kind == routing::RouteAction::Kind::kRespond;
  exchange.status =
      respond ? route.settings->extras->respond->status : route.settings->extras->redirect->code;
  std::string& out = worker_.scratch();
  out.clear();
  http::append_status_line(out, exchange.status);
  bool has_type = false;
  std::string_view body;
  if (respond) {
    for (const auto& [name, value] : route.settings->extras->respond->headers) {
      has_type = has_type || http::equals_ignore_case(name, "content-type");
      http::append_header(out, name, value);
    }
    body = route.settings->extras->respond->body;
  } else {
    out.append("Location: ");
    routing::append_redirect_location(out, route, exchange.host, exchange.path, exchange.query);
    out.append("\r\n");
    body = route.redirect_body();
  }
  for (const auto& [name, value] : route.settings->extras->response_headers->add) {
    has_type = has_type || http::equals_ignore_case(name, "content-type");
    http::append_header(out, name, value);
  }
  if (tls_listener_ && !tls_listener_->hsts.empty()) {
    http::append_header(out, "Strict-Transport-Security", tls_listener_->hsts);
  }
  http::append_local_body(out, body, has_type, !keep_alive());
  send_local(out);
}

void DownstreamSession::send_local(std::string_view response) {
  exchange_->response_bytes_sent = response.size() - (response.find("\r\n\r\n") + 4);  // body
  send(response);
  finish_exchange();
}

// ---- Ending an exchange --------------------------------------------------------------------

void DownstreamSession::finish_exchange() {
  write_access_log();
  worker_.release_exchange(std::move(exchange_));
  end_response();  // the next pipelined request may start here, and it needs a new exchange
}

void DownstreamSession::drop_exchange(const char* reason) {
  if (!exchange_) return;
  Exchange& exchange = *exchange_;
  if (exchange.waiting_for_connection && exchange.pool) exchange.pool->cancel_wait(*this);
  if (exchange.upstream) {
    exchange.upstream->close();
    exchange.upstream = nullptr;
  }
  if (exchange.start_ns != 0) {
    exchange.error = reason;
    write_access_log();
  }
  worker_.release_exchange(std::move(exchange_));
}

void DownstreamSession::on_handshake_failed(HandshakeFailure failure) {
  add(worker_.metrics().tls_handshake_failures[static_cast<size_t>(failure)], 1);
}

void DownstreamSession::on_request_refused(uint16_t status, const char* reason) {
  WG_LOG_INFO("refused a request from %s with %u: %s", client_ip(), static_cast<unsigned>(status),
              reason);
  WorkerMetrics& metrics = worker_.metrics();
  for (size_t i = 0; i < kRejectionStatuses.size(); ++i) {
    if (kRejectionStatuses[i] == status) add(metrics.rejected[i], 1);
  }
  if (!exchange_) return;
  exchange_->status = status;
  drop_exchange(refusal_name(status));
}

void DownstreamSession::on_connection_lost(const char* reason) {
  if (h2_) h2_->close();
  if (exchange_ && exchange_->status == 0 && std::string_view(reason) == "downstream-timeout") {
    exchange_->status = 408;
  }
  drop_exchange(reason);
}

void DownstreamSession::abandon() {
  if (h2_) h2_->close();
  drop_exchange("drain-timeout");
  close_now();
}

void DownstreamSession::on_closed() {
  drop_exchange("client-closed");
  if (stream_) {
    stream_->on_session_closed();  // frees this
    return;
  }
  handles_closed_ = true;
  if (h2_) {
    h2_->close();
    if (!h2_->idle()) return;  // freed by on_http2_streams_gone
  }
  worker_.destroy_session(*this);  // frees this
}

// ---- HTTP/2 ---------------------------------------------------------------------------------

void DownstreamSession::on_close_deferred() {
  stream_->on_session_closing();  // finish_deferred_close follows from the loop
}

void DownstreamSession::on_http2_start() {
  h2_ = std::make_unique<Http2Connection>(*this, worker_);
}

void DownstreamSession::on_http2_streams_gone() {
  if (handles_closed_) worker_.destroy_session(*this);  // frees this
}

void DownstreamSession::write_access_log() {
  Exchange& exchange = *exchange_;
  if (exchange.start_ns == 0) return;  // logged already
  uint64_t duration_ns = worker_.turn_now_ns() - exchange.start_ns;
  AccessLog& log = worker_.access_log();
  if (log.enabled(listener_slot_)) {
    const http::MessageHead& request = exchange.request;
    std::optional<std::string_view> id = request.find(http::HeaderId::kXRequestId);
    if (!id) {
      // The id sent upstream, or for a request that went nowhere one made now: every line has one.
      if (exchange.generated_id[0] == '\0') worker_.generate_request_id(exchange.generated_id);
      id = exchange.generated_id;
    }
    // A request refused before its head was whole has no method or target worth printing.
    bool head = exchange.snapshot || exchange.route != nullptr;
    bool forwarded = exchange.route && exchange.route->kind == routing::RouteAction::Kind::kForward;
    AccessLogEntry entry;
    entry.request_id = *id;
    entry.client = client_address();
    if (head) {
      entry.method = llhttp_method_name(static_cast<llhttp_method_t>(request.method));
      entry.target = request.target();
    }
    entry.version_minor = request.version_minor;
    entry.http2 = stream_ != nullptr;
    entry.status = exchange.status;
    entry.bytes_sent = exchange.response_bytes_sent;
    entry.bytes_received = request_bytes_received();
    entry.duration_ns = duration_ns;
    entry.upstream_connect_ns = exchange.upstream_connect_ns;
    entry.upstream_response_ns = exchange.upstream_response_ns;
    entry.host = request.find(http::HeaderId::kHost).value_or(std::string_view());
    if (exchange.route) entry.route = exchange.route->log_name;
    if (forwarded) entry.cluster = exchange.snapshot->clusters[exchange.cluster_index].name;
    entry.endpoint = exchange.endpoint;
    entry.error = exchange.error;
    log.write(listener_slot_, entry);
  }
  count_request(exchange, duration_ns);
  exchange.start_ns = 0;
}

// Every request the access log records, in /metrics too: an index into this worker's counters.
void DownstreamSession::count_request(const Exchange& exchange, uint64_t duration_ns) {
  WorkerMetrics& metrics = worker_.metrics();
  add(metrics.request_bytes, request_bytes_received());
  add(metrics.response_bytes, exchange.response_bytes_sent);
  metrics.request_duration.observe(duration_ns);
  ClusterCounters* counters = metrics.table();
  // Status 0: the request ended with no response at all (the client left, a refusal cut short).
  if (!counters || exchange.status < 100 || exchange.status > 599) return;
  uint32_t cluster = exchange.route && exchange.route->kind == routing::RouteAction::Kind::kForward
                         ? exchange.snapshot->clusters[exchange.cluster_index].id + 1
                         : 0;
  size_t code_class = exchange.status / 100 - 1;
  if (exchange.route && exchange.route->metrics_slot != 0 &&
      exchange.route->metrics_slot < counters->routes) {
    add(counters->route_requests(exchange.route->metrics_slot, code_class), 1);
  }
  if (cluster >= counters->clusters || listener_slot_ >= counters->listeners) return;
  add(counters->requests(cluster, listener_slot_, code_class), 1);
}

// ---- Tunnel (after 101 Switching Protocols) ------------------------------------------------

void DownstreamSession::on_upstream_upgrade(std::string_view early_bytes) {
  write_access_log();
  flush_response_head();
  if (!early_bytes.empty()) send(early_bytes);
  start_tunnel();  // what the client sent after its request head goes upstream now
}

void DownstreamSession::on_tunnel_input(std::string_view bytes) {
  if (h2_) return h2_->on_input(bytes);
  if (!exchange_ || !exchange_->upstream) return;
  if (exchange_->upstream->write(bytes) < 0) {
    drop_exchange("upstream-reset");
    close_now();
    return;
  }
  if (exchange_->upstream->write_congested()) pause_input();
}

void DownstreamSession::on_upstream_raw(std::string_view bytes) {
  touch();
  send(bytes);
  if (!closing() && output_backed_up() && exchange_ && exchange_->upstream) {
    exchange_->upstream->pause_reading();
  }
}

void DownstreamSession::on_upstream_tunnel_closed() {
  exchange_->upstream = nullptr;
  worker_.release_exchange(std::move(exchange_));
  finish();
}

}  // namespace waygate::proxy
