// Who may use the admin API. With admin.token set, every request but the dashboard's static pages
// and the probes must carry `Authorization: Bearer <token>`; the check takes the same time
// whatever the guess.
#pragma once

#include <array>
#include <string_view>

#include "admin/admin_server.h"

namespace waygate::admin {

class AdminToken {
 public:
  // An empty token lets every request in (the admin address is loopback then).
  explicit AdminToken(std::string_view token = {});

  bool required() const { return required_; }
  // Whether the request may be answered: no token is set, it asks for a page that holds no data
  // (GET / and /dashboard/..., the probes), or it carries the token.
  bool admits(const AdminRequest& request) const;
  // Whether an Authorization header value is "Bearer <the token>".
  bool matches(std::string_view authorization) const;

 private:
  // Only the token's SHA-256 is kept: comparing digests of a fixed length tells a guess nothing
  // about the token's length, and CRYPTO_memcmp nothing about where the bytes differ.
  std::array<unsigned char, 32> digest_{};
  bool required_ = false;
};

// GET / and everything under /dashboard/: the dashboard's HTML, CSS and JavaScript, which read
// the JSON endpoints (and send the token) themselves.
bool is_dashboard_page(const AdminRequest& request);

// GET /ready and /live: a load balancer's or a kubelet's probe, which holds no secret (and learns
// only whether waygate is up).
bool is_probe(const AdminRequest& request);

// 401 with `WWW-Authenticate: Bearer realm="waygate"` and {"error":"unauthorized"}.
AdminResponse unauthorized();

}  // namespace waygate::admin
