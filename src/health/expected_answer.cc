#include "health/expected_answer.h"

#include <algorithm>

namespace waygate::health {
namespace {

constexpr size_t kMaxBodyBytes = 64 * 1024;

}  // namespace

void ExpectedAnswer::reset() {
  status_ = 0;
  body_bytes_ = 0;
  body_.clear();
}

bool ExpectedAnswer::add_body(std::string_view bytes) {
  size_t room = kMaxBodyBytes - body_bytes_;
  if (!config_.body.empty()) body_.append(bytes.substr(0, room));
  body_bytes_ += std::min(bytes.size(), room);
  return body_bytes_ < kMaxBodyBytes;
}

const char* ExpectedAnswer::failure() const {
  bool status_expected = false;
  for (const auto& [low, high] : config_.expect) {
    if (status_ >= low && status_ <= high) status_expected = true;
  }
  if (!status_expected) return "unexpected-status";
  if (!config_.body.empty() && body_.find(config_.body) == std::string::npos)
    return "body-mismatch";
  return nullptr;
}

}  // namespace waygate::health
