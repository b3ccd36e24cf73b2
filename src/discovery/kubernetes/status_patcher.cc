#include "discovery/kubernetes/status_patcher.h"

#include <algorithm>
#include <utility>

#include "core/log.h"
#include "discovery/json_member.h"

namespace waygate::discovery::kubernetes {
namespace {

constexpr uint64_t kMinBackoffMs = 500;
constexpr uint64_t kMaxBackoffMs = 30'000;

}  // namespace

StatusPatcher::StatusPatcher(uv_loop_t* loop, std::shared_ptr<const ApiClient> api,
                             std::string describe, std::string kind)
    : loop_(loop),
      api_(std::move(api)),
      describe_(std::move(describe)),
      kind_(std::move(kind)),
      backoff_ms_(kMinBackoffMs),
      random_(static_cast<uint32_t>(uv_hrtime())) {
  timer_.init(uv_timer_init, loop_, this);
}

StatusPatcher::~StatusPatcher() = default;

void StatusPatcher::patch(const std::string& key, std::string target, std::string body) {
  if (key == in_flight_ && body == sending_.body) return;
  auto [queued, added] = queued_.insert_or_assign(key, Patch{std::move(target), std::move(body)});
  if (added) queue_.push_back(key);
  if (in_flight_.empty() && !uv_is_active(timer_.handle())) send_next();
}

void StatusPatcher::retain(const std::function<bool(const std::string& key)>& keep) {
  std::erase_if(queue_, [&](const std::string& key) {
    if (keep(key)) return false;
    queued_.erase(key);
    return true;
  });
}

void StatusPatcher::send_next() {
  if (queue_.empty()) return;
  in_flight_ = queue_.front();
  queue_.pop_front();
  auto queued = queued_.find(in_flight_);
  sending_ = std::move(queued->second);
  queued_.erase(queued);
  std::string error;
  if (!api_->error().empty() || !api_->request_headers(&headers_, &error)) {
    retry_later(api_->error().empty() ? error : api_->error());
    return;
  }
  // RFC 7386 merge patch: the status subresource ignores anything but status (and a
  // metadata.resourceVersion, which it checks).
  headers_.emplace_back("Content-Type", "application/merge-patch+json");
  if (!client_) client_ = api_->connect(loop_, *this);
  status_ = 0;
  body_.clear();
  http::ClientRequest request;
  request.method = "PATCH";
  request.target = sending_.target;
  request.host = api_->access().host;
  request.headers = &headers_;
  request.body = sending_.body;
  request.timeout_ms = 10'000;
  client_->send(request);
}

void StatusPatcher::retry_later(const std::string& error) {
  std::string key = std::move(in_flight_);
  in_flight_.clear();
  client_.reset();
  // Tried again first, unless a newer patch of it is queued meanwhile.
  if (queued_.try_emplace(key, std::move(sending_)).second) queue_.push_front(key);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  auto delay_ms = static_cast<uint64_t>(static_cast<double>(backoff_ms_) * jitter(random_));
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
  WG_LOG_WARN("routes_source %s: status of %s %s not written to %s: %s (next try in %llu ms)",
              describe_.c_str(), kind_.c_str(), key.c_str(), api_->access().server.c_str(),
              error.c_str(), static_cast<unsigned long long>(delay_ms));
  uv_timer_start(
      timer_.get(),
      [](uv_timer_t* timer) {
        auto* self = static_cast<StatusPatcher*>(timer->data);
        if (self->in_flight_.empty()) self->send_next();
      },
      delay_ms, 0);
}

void StatusPatcher::on_response_head(const http::MessageHead& head) {
  status_ = head.status;
}

void StatusPatcher::on_response_body(std::string_view bytes) {
  if (body_.size() < 4096) body_.append(bytes.substr(0, 4096 - body_.size()));
}

void StatusPatcher::on_response_complete() {
  if (status_ != 200 && status_ != 404 && status_ != 409) {
    nlohmann::json answer = nlohmann::json::parse(body_, nullptr, false);
    const nlohmann::json* message =
        answer.is_discarded() ? nullptr : json_member(answer, "message");
    retry_later("HTTP " + std::to_string(status_) + ": " +
                (message && message->is_string() ? message->get<std::string>() : body_));
    return;
  }
  // 404: deleted meanwhile, nothing to write. 409: changed meanwhile; its next version is patched.
  in_flight_.clear();
  if (status_ == 200) backoff_ms_ = kMinBackoffMs;
  send_next();
}

void StatusPatcher::on_client_error(const char* reason) {
  retry_later(reason);
}

}  // namespace waygate::discovery::kubernetes
