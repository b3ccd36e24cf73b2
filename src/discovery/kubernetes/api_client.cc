#include "discovery/kubernetes/api_client.h"

#include "core/file_bytes.h"

namespace waygate::discovery::kubernetes {

ApiClient::ApiClient(ApiAccess access) : access_(std::move(access)) {
  if (access_.tls) context_ = tls::ClientContext::create(access_.tls_settings, &error_);
}

std::unique_ptr<http::Client> ApiClient::connect(uv_loop_t* loop,
                                                 http::ClientHandler& handler) const {
  http::Client::TlsSessionFn new_tls_session;
  if (context_) {
    // No session resumption: one long-lived connection at a time gains nothing from it.
    new_tls_session = [context = context_, name = access_.server_name] {
      return context->new_ssl({}, name, name);
    };
  }
  return std::make_unique<http::Client>(loop, access_.address, handler, std::move(new_tls_session));
}

bool ApiClient::request_headers(http::HeaderList* headers, std::string* error) const {
  headers->clear();
  headers->emplace_back("Accept", "application/json");
  std::string token = access_.token;
  if (!access_.token_file.empty()) {
    std::optional<std::string> bytes = read_file_bytes(access_.token_file);
    if (!bytes) {
      *error = "cannot read the token file " + access_.token_file;
      return false;
    }
    token = std::move(*bytes);
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
      token.pop_back();
  }
  if (!token.empty()) headers->emplace_back("Authorization", "Bearer " + token);
  return true;
}

}  // namespace waygate::discovery::kubernetes
