// Connections to one Kubernetes API server with its credentials: an http::Client over TLS (with
// the CA and client certificate of the ApiAccess) or plain HTTP, and the headers every request
// carries (the bearer token, read again from its file each time: projected tokens rotate).
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "discovery/kubernetes/api_access.h"
#include "http/client.h"

namespace waygate::discovery::kubernetes {

class ApiClient {
 public:
  // Builds the TLS context now; error() says why it cannot (a CA that does not parse).
  explicit ApiClient(ApiAccess access);

  const std::string& error() const { return error_; }
  const ApiAccess& access() const { return access_; }

  // A client for one connection to the server; requests go out with request_headers().
  std::unique_ptr<http::Client> connect(uv_loop_t* loop, http::ClientHandler& handler) const;
  // Accept and Authorization (when there is a token); false with *error when the token file
  // cannot be read.
  bool request_headers(http::HeaderList* headers, std::string* error) const;

 private:
  ApiAccess access_;
  std::shared_ptr<const tls::ClientContext> context_;
  std::string error_;
};

}  // namespace waygate::discovery::kubernetes
