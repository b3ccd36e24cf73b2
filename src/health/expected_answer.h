// The answer to one HTTP check, HTTP/1.1 or HTTP/2 alike: its status and as much of its body as
// the check looks at, judged against the check's `expect` ranges and `body` text.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "routing/config.h"

namespace waygate::health {

class ExpectedAnswer {
 public:
  // `config` must outlive the answer (the checker replaces probes when it changes).
  explicit ExpectedAnswer(const routing::HealthCheckConfig& config) : config_(config) {}

  void reset();
  void set_status(int status) { status_ = status; }
  int status() const { return status_; }  // 0 until the head arrives
  // Takes body bytes. False once the check has read all it reads of a body (a health page is
  // small; reading past that would only cost time): judge it on that, and drop the rest.
  bool add_body(std::string_view bytes);
  // Why the answer fails the check ("unexpected-status", "body-mismatch"); nullptr when it passes.
  const char* failure() const;

 private:
  const routing::HealthCheckConfig& config_;
  int status_ = 0;
  size_t body_bytes_ = 0;
  std::string body_;  // kept only when the config looks for a substring
};

}  // namespace waygate::health
