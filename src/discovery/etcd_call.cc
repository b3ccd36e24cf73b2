// call_etcd: an http::Client on the caller's loop per endpoint tried, owned by the call until its
// answer is whole or every endpoint has failed.
#include "discovery/etcd_call.h"

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

class EtcdCall final : public http::ClientHandler {
 public:
  EtcdCall(uv_loop_t* loop, std::vector<std::string> endpoints, std::string_view path,
           std::string body, uint64_t timeout_ms, EtcdAnswerFn done)
      : loop_(loop),
        endpoints_(std::move(endpoints)),
        path_(path),
        body_(std::move(body)),
        timeout_ms_(timeout_ms),
        done_(std::move(done)) {}

  static void start(std::unique_ptr<EtcdCall> call) {
    EtcdCall& self = *call;
    self.self_ = std::move(call);
    self.try_next();
  }

 private:
  // The next endpoint that can be tried gets the request; past the last, the call has failed.
  // The call may be gone on return.
  void try_next() {
    while (next_ < endpoints_.size()) {
      const std::string& endpoint = endpoints_[next_++];
      std::string_view host = endpoint;
      if (host.starts_with("http://")) host.remove_prefix(7);
      if (host.ends_with('/')) host.remove_suffix(1);
      std::optional<SocketAddress> address = parse_socket_address(host);
      if (!address) {
        add_error(endpoint + ": not http://IP:PORT");
        continue;
      }
      host_ = host;
      answer_.clear();
      status_ = 0;
      // Replacing the client is allowed inside its own callbacks.
      client_ = std::make_unique<http::Client>(loop_, *address, *this);
      http::ClientRequest request;
      request.method = "POST";
      request.target = path_;
      request.host = host_;
      request.headers = &kHeaders;
      request.body = body_;
      request.timeout_ms = timeout_ms_;
      client_->send(request);
      return;
    }
    finish(nullptr, errors_.empty() ? "no etcd endpoint" : errors_);
  }

  void on_response_head(const http::MessageHead& head) override { status_ = head.status; }

  void on_response_body(std::string_view bytes) override {
    if (answer_.size() + bytes.size() > kMaxAnswerBytes) {
      add_error(host_ + ": answer too large");
      return finish(nullptr, errors_);
    }
    answer_.append(bytes);
  }

  // An endpoint that answered is not asked again elsewhere: its answer (or refusal) stands.
  void on_response_complete() override {
    if (status_ != 200) {
      std::string message = etcd_error_text(answer_);
      add_error(host_ + ": HTTP " + std::to_string(status_) + ": " +
                (message.empty() ? "no error message" : message));
      return finish(nullptr, errors_);
    }
    nlohmann::json answer = nlohmann::json::parse(answer_, nullptr, false);
    if (answer.is_discarded() || !answer.is_object()) {
      add_error(host_ + ": the answer is not a JSON object");
      return finish(nullptr, errors_);
    }
    finish(&answer, {});
  }

  void on_client_error(const char* reason) override {
    std::string text = reason;
    for (char& c : text) {
      if (c == '-') c = ' ';
    }
    add_error(host_ + ": " + text);
    try_next();
  }

  void add_error(const std::string& error) { errors_ += (errors_.empty() ? "" : "; ") + error; }

  // The call ends here: it is freed once `done` returns.
  void finish(const nlohmann::json* answer, const std::string& error) {
    std::unique_ptr<EtcdCall> self = std::move(self_);
    done_(answer, error);
  }

  static inline const http::HeaderList kHeaders = {{"Content-Type", "application/json"}};

  uv_loop_t* loop_;
  std::vector<std::string> endpoints_;
  std::string path_;
  std::string body_;
  uint64_t timeout_ms_;
  EtcdAnswerFn done_;
  std::unique_ptr<EtcdCall> self_;
  std::unique_ptr<http::Client> client_;
  size_t next_ = 0;
  std::string host_;
  uint16_t status_ = 0;
  std::string answer_;
  std::string errors_;
};

}  // namespace

void call_etcd(uv_loop_t* loop, std::vector<std::string> endpoints, std::string_view path,
               const nlohmann::json& body, uint64_t timeout_ms, EtcdAnswerFn done) {
  EtcdCall::start(std::make_unique<EtcdCall>(loop, std::move(endpoints), path, body.dump(),
                                             timeout_ms, std::move(done)));
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
