#include "admin/admin_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>

#include "admin/dashboard_assets.h"
#include "http/header_names.h"

namespace waygate::admin {
namespace {

std::array<unsigned char, 32> sha256(std::string_view bytes) {
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

}  // namespace

AdminToken::AdminToken(std::string_view token) : required_(!token.empty()) {
  if (required_) digest_ = sha256(token);
}

bool AdminToken::admits(const AdminRequest& request) const {
  return !required_ || is_dashboard_page(request) || is_probe(request) ||
         matches(request.authorization);
}

bool AdminToken::matches(std::string_view authorization) const {
  // RFC 9110 11.1: the scheme is case-insensitive, and one or more spaces follow it.
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() ||
      !http::equals_ignore_case(authorization.substr(0, kScheme.size()), kScheme) ||
      authorization[kScheme.size()] != ' ') {
    return false;
  }
  std::string_view credentials = authorization.substr(kScheme.size());
  credentials.remove_prefix(std::min(credentials.find_first_not_of(' '), credentials.size()));
  std::array<unsigned char, 32> presented = sha256(credentials);
  return CRYPTO_memcmp(presented.data(), digest_.data(), digest_.size()) == 0;
}

bool is_dashboard_page(const AdminRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  return is_dashboard_path(request.path);
}

bool is_probe(const AdminRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  return request.path == "/ready" || request.path == "/live";
}

AdminResponse unauthorized() {
  AdminResponse response = AdminResponse::json(401, "{\"error\":\"unauthorized\"}");
  response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"waygate\"");
  return response;
}

}  // namespace waygate::admin
