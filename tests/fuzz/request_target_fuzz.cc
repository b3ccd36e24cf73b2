// Fuzzes request-target splitting and path normalisation (http/request_target): the path a route
// is matched on and the upstream is sent. Normalising a normal path gives it back unchanged, a
// normal path has no dot segment, no escape that should have been decoded and (when merging) no
// empty segment, and a refusal names something really in the path.
//
// Input: byte 0 picks the options (bit 0: merge slashes; bits 1-2: escaped slashes), the rest is
// a request target.
#include <string>

#include "fuzz_check.h"
#include "http/request_target.h"

namespace waygate::fuzz {
namespace {

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

bool is_unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  return (c | 0x20) - 'a' + 10;
}

void check_normal(std::string_view path, const http::PathOptions& options) {
  FUZZ_CHECK(!path.empty() && path.front() == '/');
  FUZZ_CHECK(path.find('\\') == std::string_view::npos);
  // No "." or ".." segment, and no empty one inside when slashes are merged.
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view segment = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    FUZZ_CHECK(segment != "." && segment != "..");
    if (options.merge_slashes && slash != std::string_view::npos) FUZZ_CHECK(!segment.empty());
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  // Every escape is upper-case hex, stands for a byte that must stay escaped, and is never NUL.
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') continue;
    FUZZ_CHECK(i + 2 < path.size() && is_hex(path[i + 1]) && is_hex(path[i + 2]));
    FUZZ_CHECK(!(path[i + 1] >= 'a' && path[i + 1] <= 'f'));
    FUZZ_CHECK(!(path[i + 2] >= 'a' && path[i + 2] <= 'f'));
    char decoded = static_cast<char>(hex_value(path[i + 1]) * 16 + hex_value(path[i + 2]));
    FUZZ_CHECK(decoded != 0 && !is_unreserved(decoded));
    if (options.escaped_slashes == http::EscapedSlashes::kUnescape) {
      FUZZ_CHECK(decoded != '/' && decoded != '\\');
    }
    i += 2;
  }
}

void check_target(std::string_view target, const http::RequestTarget& parts) {
  // The parts are views into the target, in order.
  auto inside = [target](std::string_view part) {
    return part.empty() || (part.data() >= target.data() &&
                            part.data() + part.size() <= target.data() + target.size());
  };
  FUZZ_CHECK(parts.path == "/" || inside(parts.path));
  FUZZ_CHECK(inside(parts.query) && inside(parts.authority));
  FUZZ_CHECK(parts.query.empty() || parts.query.front() == '?');
  FUZZ_CHECK(parts.path.find('?') == std::string_view::npos);
  FUZZ_CHECK(parts.path.find('#') == std::string_view::npos || parts.path == "*");
  FUZZ_CHECK(parts.query.find('#') == std::string_view::npos);
  switch (parts.form) {
    case http::RequestTarget::Form::kOrigin:
      FUZZ_CHECK(target.front() == '/' && parts.path.front() == '/' && parts.authority.empty());
      break;
    case http::RequestTarget::Form::kAbsolute:
      FUZZ_CHECK(!parts.authority.empty() && parts.path.front() == '/');
      FUZZ_CHECK(parts.authority.find('@') == std::string_view::npos);
      break;
    case http::RequestTarget::Form::kAsterisk:
      FUZZ_CHECK(target == "*");
      break;
  }
}

}  // namespace
}  // namespace waygate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace waygate;
  if (size == 0) return 0;
  http::PathOptions options;
  options.merge_slashes = (data[0] & 1) != 0;
  switch ((data[0] >> 1) & 3) {
    case 0:
      options.escaped_slashes = http::EscapedSlashes::kReject;
      break;
    case 1:
      options.escaped_slashes = http::EscapedSlashes::kKeep;
      break;
    default:
      options.escaped_slashes = http::EscapedSlashes::kUnescape;
      break;
  }
  std::string_view target = fuzz::as_text(data + 1, size - 1);

  http::RequestTarget parts;
  // The path alone is normalised too: a router may hand any path over, split or not.
  std::string_view path = target;
  if (http::parse_request_target(target, &parts)) {
    fuzz::check_target(target, parts);
    if (parts.form == http::RequestTarget::Form::kAsterisk) return 0;
    path = parts.path;
  }

  std::string out = "left over from an earlier request";
  http::PathStatus status = http::normalize_path(path, options, out);
  switch (status) {
    case http::PathStatus::kUnchanged:
      fuzz::check_normal(path, options);
      return 0;
    case http::PathStatus::kNormalized: {
      fuzz::check_normal(out, options);
      FUZZ_CHECK(out != path);
      // Idempotent: the normal form is its own normal form.
      std::string again;
      FUZZ_CHECK(http::normalize_path(out, options, again) == http::PathStatus::kUnchanged);
      return 0;
    }
    case http::PathStatus::kEscapedSlash:
      FUZZ_CHECK(options.escaped_slashes == http::EscapedSlashes::kReject);
      FUZZ_CHECK(path.find('%') != std::string_view::npos);
      return 0;
    case http::PathStatus::kBackslash:
      FUZZ_CHECK(path.find('\\') != std::string_view::npos);
      return 0;
    case http::PathStatus::kBadEscape:
      FUZZ_CHECK(path.find('%') != std::string_view::npos);
      return 0;
  }
  return 0;
}
