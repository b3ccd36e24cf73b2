// Http2Probe: the connection speaks HTTP/2 through the shared client session and hands the probe
// each outcome only after nghttp2 has returned, so the sink may destroy the probe (and abandon the
// connection) without pulling the session from under nghttp2. Between checks the connection idles,
// as long as the endpoint keeps it open.
#include "health/http2_probe.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <string>

#include "core/handle_owner.h"
#include "core/tcp_transport.h"
#include "core/tls_transport.h"
#include "health/expected_answer.h"
#include "health/grpc_health.h"
#include "http/http2_client_session.h"

namespace waygate::health {
namespace {

// Enough for a health page; the stream's window reopens as the answer is read.
constexpr uint32_t kStreamWindow = 64 * 1024;
// A HealthCheckResponse is a few bytes; one past this is judged on what was read.
constexpr size_t kMaxGrpcBytes = 1024;

nghttp2_nv header(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

class Http2Probe::Attempt final : public HandleOwner,
                                  private TransportSink,
                                  private http::Http2ClientEvents {
 public:
  explicit Attempt(Http2Probe& probe)
      : probe_(&probe),
        grpc_(probe.config_.kind == routing::HealthCheckConfig::Kind::kGrpc),
        tcp_(probe.loop_, *this),
        session_(*this),
        answer_(probe.config_) {}

  int connect() { return tcp_.connect(probe_->address_.get()); }

  // Starts another check on this idle connection. False when it cannot take one (the endpoint
  // is closing it, or the request could not even be written): the probe then opens another.
  bool check_again() {
    if (!probe_ || checking_ || !session_.started() || goaway_ || session_.finished()) {
      return false;
    }
    checking_ = reused_ = true;
    done_ = answered_ = false;
    failure_ = nullptr;
    answer_.reset();
    grpc_status_.clear();
    grpc_messages_.clear();
    body_sent_ = 0;
    send_request();
    return session_.send() == 0 && !done_;
  }

  // The probe is going or gives up: nothing more reaches it.
  void abandon() {
    probe_ = nullptr;
    close_handles({tcp_.handle()});
  }

 private:
  // TransportSink
  void on_transport_connected(int status) override {
    if (!probe_) return;
    if (status < 0) {
      fail_now(tls_ ? "tls" : status == UV_ECONNREFUSED ? "connect-refused" : "connect-failed");
      return;
    }
    if (!tls_ && probe_->new_tls_session_) {
      SSL* ssl = probe_->new_tls_session_();
      if (!ssl) {
        fail_now("tls");
        return;
      }
      http::offer_alpn_h2(ssl);
      tls_ = std::make_unique<TlsTransport>(tcp_, static_cast<TransportSink&>(*this), ssl);
      transport_ = tls_.get();
      tls_->start_client_handshake();
      return;
    }
    if (tls_ && tls_->alpn() != "h2") {
      fail_now("tls-no-h2");  // the endpoint speaks something else there
      return;
    }
    session_.start(*transport_, kStreamWindow);
    send_request();
    transport_->set_reading(true);
    flush();
  }

  void on_transport_read(std::string_view bytes) override {
    if (!probe_) return;
    if (session_.receive(bytes) < 0) {
      fail_now("malformed");
      return;
    }
    flush();
  }

  void on_transport_eof(int) override {
    if (probe_) fail_now("reset");
  }

  void on_transport_drained(int status) override {
    if (!probe_) return;
    if (status < 0) {
      fail_now("reset");
      return;
    }
    flush();
  }

  // http::Http2ClientEvents
  void on_h2_header(int32_t stream_id, std::string_view name, std::string_view value) override {
    if (stream_id != stream_id_) return;
    // In the trailers, or in the head of a trailers-only answer.
    if (name == "grpc-status") grpc_status_ = value;
    if (name != ":status") return;
    int status = 0;
    std::from_chars(value.data(), value.data() + value.size(), status);
    // A 1xx is an interim answer; the final one follows in another HEADERS frame.
    if (status >= 200) answer_.set_status(status);
  }

  void on_h2_headers_end(int32_t stream_id, bool end_stream) override {
    if (stream_id == stream_id_ && end_stream) answer();
  }

  void on_h2_data(int32_t stream_id, std::string_view bytes) override {
    nghttp2_session_consume_stream(session_.get(), stream_id, bytes.size());
    if (stream_id != stream_id_ || done_) return;
    // Judged on what was read; the connection closes rather than reading the rest.
    if (grpc_) {
      grpc_messages_.append(bytes.substr(0, kMaxGrpcBytes - grpc_messages_.size()));
      if (grpc_messages_.size() == kMaxGrpcBytes) outcome(failure());
    } else if (!answer_.add_body(bytes)) {
      outcome(failure());
    }
  }

  void on_h2_data_end(int32_t stream_id) override {
    if (stream_id == stream_id_) answer();
  }

  void on_h2_stream_close(int32_t stream_id, uint32_t) override {
    if (stream_id == stream_id_) outcome("reset");  // before it ended: the answer is incomplete
  }

  void on_h2_goaway(int32_t) override { goaway_ = true; }

  // HandleOwner
  void on_handles_closed() override { std::unique_ptr<Attempt> last(this); }

  // Why the answer fails the check; nullptr when it passes.
  const char* failure() const {
    if (!grpc_) return answer_.failure();
    return grpc_health_failure(answer_.status(), grpc_status_, grpc_messages_);
  }

  void send_request() {
    const routing::HealthCheckConfig& config = probe_->config_;
    std::string_view scheme = tls_ ? "https" : "http";
    std::string_view host = probe_->host_;
    if (!grpc_) {
      const nghttp2_nv headers[] = {
          header(":method", config.method),
          header(":scheme", scheme),
          header(":authority", host),
          header(":path", config.path),
      };
      stream_id_ = nghttp2_submit_request(session_.get(), nullptr, headers, std::size(headers),
                                          nullptr, nullptr);
    } else {
      // grpc-go and grpcio refuse a call without te: trailers.
      const nghttp2_nv headers[] = {
          header(":method", "POST"),
          header(":scheme", scheme),
          header(":authority", host),
          header(":path", kGrpcHealthCheckPath),
          header("content-type", "application/grpc"),
          header("te", "trailers"),
      };
      request_body_ = grpc_health_request(config.grpc_service);
      nghttp2_data_provider body{};
      body.source.ptr = this;
      body.read_callback = &Attempt::read_request_body;
      stream_id_ = nghttp2_submit_request(session_.get(), nullptr, headers, std::size(headers),
                                          &body, nullptr);
    }
    if (stream_id_ < 0) outcome("malformed");
  }

  static ssize_t read_request_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                                   uint32_t* data_flags, nghttp2_data_source* source, void*) {
    auto* self = static_cast<Attempt*>(source->ptr);
    std::string_view rest = std::string_view(self->request_body_).substr(self->body_sent_);
    size_t n = std::min(length, rest.size());
    std::copy_n(rest.data(), n, buf);
    self->body_sent_ += n;
    if (self->body_sent_ == self->request_body_.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  // Writes what the session has to say, then tells the probe the outcome if there is one. An
  // idle connection that the endpoint is closing (or that broke) goes.
  void flush() {
    int rc = session_.send();
    if (rc < 0) outcome(rc == UV_EPROTO ? "malformed" : "reset");
    if (checking_) {
      if (done_) report();
    } else if (rc < 0 || goaway_ || session_.finished()) {
      drop();
    }
  }

  // The stream ended: the answer is whole.
  void answer() {
    if (done_) return;
    answered_ = true;
    outcome(failure());
  }

  // The first outcome of a check counts; the probe hears it once nghttp2 has returned.
  void outcome(const char* failure) {
    if (done_ || !checking_) return;
    done_ = true;
    failure_ = failure;
  }

  void fail_now(const char* failure) {
    if (!checking_) {
      drop();  // an idle connection ended: the next check opens another
      return;
    }
    outcome(failure);
    report();
  }

  void drop() {
    if (probe_) probe_->attempt_ = nullptr;
    abandon();
  }

  void report() {
    Http2Probe* probe = probe_;
    const char* failure = failure_;
    checking_ = false;
    // A connection an earlier check left open may have been closed by the endpoint meanwhile:
    // a reset before any answer is tried once more on a new connection.
    bool retry = reused_ && !answered_ && answer_.status() == 0 && failure != nullptr &&
                 std::strcmp(failure, "reset") == 0;
    if (!answered_ || goaway_ || session_.finished()) drop();
    if (!probe) return;
    if (retry) {
      if (probe->start()) return;  // a new connection, whose outcome reaches the sink
      failure = "connect-failed";
    }
    // Last: the sink may destroy the probe.
    probe->sink_.on_probe_done(failure == nullptr, failure);
  }

  Http2Probe* probe_;
  const bool grpc_;  // a grpc.health.v1 check rather than an HTTP one
  TcpTransport tcp_;
  std::unique_ptr<TlsTransport> tls_;
  Transport* transport_ = &tcp_;
  http::Http2ClientSession session_;
  ExpectedAnswer answer_;
  std::string request_body_;  // gRPC: the HealthCheckRequest
  size_t body_sent_ = 0;
  std::string grpc_status_;
  std::string grpc_messages_;
  int32_t stream_id_ = -1;
  bool checking_ = true;   // a check is under way (the first starts with the connection)
  bool reused_ = false;    // it went on a connection an earlier check left open
  bool done_ = false;      // the check has its outcome
  bool answered_ = false;  // its stream ended: the connection may serve the next check
  bool goaway_ = false;    // the endpoint is closing the connection
  const char* failure_ = nullptr;
};

Http2Probe::Http2Probe(uv_loop_t* loop, const SocketAddress& address,
                       const routing::HealthCheckConfig& config, std::string_view host,
                       ProbeSink& sink, http::Client::TlsSessionFn new_tls_session)
    : loop_(loop),
      address_(address),
      config_(config),
      host_(host),
      sink_(sink),
      new_tls_session_(std::move(new_tls_session)) {}

Http2Probe::~Http2Probe() {
  abandon();
}

bool Http2Probe::start() {
  if (attempt_ && attempt_->check_again()) return true;
  abandon();  // none, or one that cannot take another check
  attempt_ = std::make_unique<Attempt>(*this).release();  // frees itself
  if (attempt_->connect() == 0) return true;
  abandon();
  return false;
}

void Http2Probe::abandon() {
  if (!attempt_) return;
  Attempt* attempt = attempt_;
  attempt_ = nullptr;
  attempt->abandon();
}

}  // namespace waygate::health
