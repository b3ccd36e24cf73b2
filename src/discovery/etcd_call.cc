// call_etcd: an http::Client on a private uv loop, run until the answer is whole or the client
// gives up (its timeout bounds every step of the exchange).
#include "discovery/etcd_call.h"

#include <uv.h>

#include <charconv>
#include <memory>

#include "core/socket_address.h"
#include "discovery/etcd_messages.h"
#include "discovery/json_member.h"
#include "http/client.h"

namespace waygate::discovery {
namespace {

// An edit's answer is a few kilobytes; a server that sends more is not etcd.
constexpr size_t kMaxAnswerBytes = 16 * 1024 * 1024;

class Exchange final : public http::ClientHandler {
 public:
  void on_response_head(const http::MessageHead& head) override { status_ = head.status; }
  void on_response_body(std::string_view bytes) override {
    if (body_.size() + bytes.size() > kMaxAnswerBytes) {
      error_ = "answer too large";
      done_ = true;
      return;
    }
    body_.append(bytes);
  }
  void on_response_complete() override { done_ = true; }
  void on_client_error(const char* reason) override {
    error_ = reason;
    done_ = true;
  }

  bool done() const { return done_; }
  uint16_t status() const { return status_; }
  const std::string& body() const { return body_; }
  const std::string& error() const { return error_; }

 private:
  bool done_ = false;
  uint16_t status_ = 0;
  std::string body_;
  std::string error_;
};

// One endpoint's answer; *retry: another endpoint may do better (it could not be reached).
std::optional<nlohmann::json> call_one(const std::string& endpoint, std::string_view path,
                                       const std::string& body, uint64_t timeout_ms,
                                       std::string* error, bool* retry) {
  std::string_view host = endpoint;
  if (host.starts_with("http://")) host.remove_prefix(7);
  if (host.ends_with('/')) host.remove_suffix(1);
  std::optional<SocketAddress> address = parse_socket_address(host);
  *retry = true;
  if (!address) {
    *error = endpoint + ": not http://IP:PORT";
    return std::nullopt;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  Exchange exchange;
  const http::HeaderList headers = {{"Content-Type", "application/json"}};
  {
    http::Client client(&loop, *address, exchange);
    http::ClientRequest request;
    request.method = "POST";
    request.target = path;
    request.host = host;
    request.headers = &headers;
    request.body = body;
    request.timeout_ms = timeout_ms;
    client.send(request);
    while (!exchange.done() && uv_run(&loop, UV_RUN_ONCE) != 0) {
    }
  }
  uv_run(&loop, UV_RUN_DEFAULT);  // the connection's handles close
  uv_loop_close(&loop);
  std::string name(host);
  if (!exchange.done() || !exchange.error().empty()) {
    std::string reason = exchange.done() ? exchange.error() : "no answer";
    for (char& c : reason) {
      if (c == '-') c = ' ';
    }
    *error = name + ": " + reason;
    return std::nullopt;
  }
  *retry = false;
  if (exchange.status() != 200) {
    std::string message = etcd_error_text(exchange.body());
    *error = name + ": HTTP " + std::to_string(exchange.status()) + ": " +
             (message.empty() ? "no error message" : message);
    return std::nullopt;
  }
  nlohmann::json answer = nlohmann::json::parse(exchange.body(), nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    *error = name + ": the answer is not a JSON object";
    return std::nullopt;
  }
  return answer;
}

}  // namespace

std::optional<nlohmann::json> call_etcd(const std::vector<std::string>& endpoints,
                                        std::string_view path, const nlohmann::json& body,
                                        uint64_t timeout_ms, std::string* error) {
  std::string text = body.dump();
  std::string errors;
  for (const std::string& endpoint : endpoints) {
    bool retry = false;
    std::string failed;
    std::optional<nlohmann::json> answer =
        call_one(endpoint, path, text, timeout_ms, &failed, &retry);
    if (answer) return answer;
    errors += (errors.empty() ? "" : "; ") + failed;
    if (!retry) break;
  }
  *error = errors.empty() ? "no etcd endpoint" : errors;
  return std::nullopt;
}

uint64_t etcd_revision(const nlohmann::json* object, const char* name) {
  const nlohmann::json* value = object ? json_member(*object, name) : nullptr;
  if (!value) return 0;
  if (value->is_number_unsigned()) return value->get<uint64_t>();
  if (!value->is_string()) return 0;
  const std::string& text = value->get_ref<const std::string&>();
  uint64_t number = 0;
  std::from_chars(text.data(), text.data() + text.size(), number);
  return number;
}

}  // namespace waygate::discovery
