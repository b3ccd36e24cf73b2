#include "discovery/kubernetes/ingress_status.h"

#include <arpa/inet.h>

#include <algorithm>

#include "core/log.h"
#include "discovery/json_member.h"

namespace waygate::discovery::kubernetes {
namespace {

using Json = nlohmann::json;

constexpr uint64_t kMinBackoffMs = 500;
constexpr uint64_t kMaxBackoffMs = 30'000;

bool is_ip_address(const std::string& text) {
  unsigned char bytes[16];
  return inet_pton(AF_INET, text.c_str(), bytes) == 1 ||
         inet_pton(AF_INET6, text.c_str(), bytes) == 1;
}

// status.loadBalancer.ingress, or null.
const Json* published(const Json& ingress) {
  const Json* at = &ingress;
  for (const char* name : {"status", "loadBalancer", "ingress"}) {
    at = json_member(*at, name);
    if (!at) return nullptr;
  }
  return at;
}

}  // namespace

IngressStatusWriter::IngressStatusWriter(uv_loop_t* loop, std::shared_ptr<const ApiClient> api,
                                         std::string address, std::string describe)
    : loop_(loop),
      api_(std::move(api)),
      wanted_(Json::array({{{is_ip_address(address) ? "ip" : "hostname", address}}})),
      describe_(std::move(describe)),
      backoff_ms_(kMinBackoffMs),
      random_(static_cast<uint32_t>(uv_hrtime())) {
  timer_.init(uv_timer_init, loop_, this);
}

IngressStatusWriter::~IngressStatusWriter() = default;

void IngressStatusWriter::update(const std::set<std::string>& routed,
                                 const std::map<std::string, Json>& ingresses) {
  for (const std::string& key : routed) {
    auto it = ingresses.find(key);
    if (it == ingresses.end()) continue;
    const Json* now = published(it->second);
    if (now && *now == wanted_) continue;
    if (key == in_flight_ || !queued_.insert(key).second) continue;
    queue_.push_back(key);
  }
  // An Ingress no longer routed (or gone) is not patched.
  std::erase_if(queue_, [&](const std::string& key) {
    bool drop = !routed.count(key) || !ingresses.count(key);
    if (drop) queued_.erase(key);
    return drop;
  });
  if (in_flight_.empty() && !uv_is_active(timer_.handle())) send_next();
}

void IngressStatusWriter::send_next() {
  if (queue_.empty()) return;
  in_flight_ = queue_.front();
  queue_.pop_front();
  queued_.erase(in_flight_);
  std::string error;
  if (!api_->error().empty() || !api_->request_headers(&headers_, &error)) {
    retry_later(api_->error().empty() ? error : api_->error());
    return;
  }
  // RFC 7386 merge patch: only status.loadBalancer.ingress changes. The status subresource
  // ignores anything but status.
  headers_.emplace_back("Content-Type", "application/merge-patch+json");
  size_t slash = in_flight_.find('/');
  target_ = "/apis/networking.k8s.io/v1/namespaces/" + in_flight_.substr(0, slash) + "/ingresses/" +
            in_flight_.substr(slash + 1) + "/status";
  request_body_ = Json{{"status", {{"loadBalancer", {{"ingress", wanted_}}}}}}.dump();
  if (!client_) client_ = api_->connect(loop_, *this);
  status_ = 0;
  body_.clear();
  http::ClientRequest request;
  request.method = "PATCH";
  request.target = target_;
  request.host = api_->access().host;
  request.headers = &headers_;
  request.body = request_body_;
  request.timeout_ms = 10'000;
  client_->send(request);
}

void IngressStatusWriter::retry_later(const std::string& error) {
  std::string ingress = std::move(in_flight_);
  in_flight_.clear();
  client_.reset();
  // Tried again first, unless an update has dropped it meanwhile.
  if (queued_.insert(ingress).second) queue_.push_front(ingress);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  auto delay_ms = static_cast<uint64_t>(static_cast<double>(backoff_ms_) * jitter(random_));
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
  WG_LOG_WARN("routes_source %s: status of Ingress %s not written to %s: %s (next try in %llu ms)",
              describe_.c_str(), ingress.c_str(), api_->access().server.c_str(), error.c_str(),
              static_cast<unsigned long long>(delay_ms));
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* timer) {
        auto* self = static_cast<IngressStatusWriter*>(timer->data);
        if (self->in_flight_.empty()) self->send_next();
      },
      delay_ms, 0);
}

void IngressStatusWriter::on_response_head(const http::MessageHead& head) {
  status_ = head.status;
}

void IngressStatusWriter::on_response_body(std::string_view bytes) {
  if (body_.size() < 4096) body_.append(bytes.substr(0, 4096 - body_.size()));
}

void IngressStatusWriter::on_response_complete() {
  if (status_ == 404) {
    in_flight_.clear();  // deleted meanwhile: nothing to write
  } else if (status_ != 200) {
    Json answer = Json::parse(body_, nullptr, false);
    const Json* message = answer.is_discarded() ? nullptr : json_member(answer, "message");
    retry_later("HTTP " + std::to_string(status_) + ": " +
                (message && message->is_string() ? message->get<std::string>() : body_));
    return;
  } else {
    in_flight_.clear();
    backoff_ms_ = kMinBackoffMs;
  }
  send_next();
}

void IngressStatusWriter::on_client_error(const char* reason) {
  retry_later(reason);
}

}  // namespace waygate::discovery::kubernetes
