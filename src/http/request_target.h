// The request target as a router and an upstream should see it: split into its forms (RFC 9112
// 3.2) and its path normalised (RFC 3986 6.2.2), so that whatever the upstream decodes stays
// inside the route that matched.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace waygate::http {

// What a path with an encoded slash or backslash (%2F, %5C) gets. Such a path means one thing to
// a router that keeps the escape and another to an upstream that decodes it.
enum class EscapedSlashes : uint8_t {
  kReject,    // 400 (the default)
  kKeep,      // matched and forwarded with the escape in place
  kUnescape,  // decoded to '/' (a backslash too) before normalising, so it is a separator
};

struct PathOptions {
  bool merge_slashes = true;  // "//a///b" is "/a/b"
  EscapedSlashes escaped_slashes = EscapedSlashes::kReject;
};

// A request target's parts, as views into the target.
struct RequestTarget {
  enum class Form : uint8_t { kOrigin, kAbsolute, kAsterisk };
  Form form = Form::kOrigin;
  std::string_view authority;  // absolute-form: host[:port] after "scheme://"; empty otherwise
  std::string_view path;   // from its first '/' up to '?' or '#'; "/" when absolute-form has none;
                           // "*" for the asterisk form
  std::string_view query;  // from '?' (included) up to '#'; empty when there is none
};

// Splits an origin-form ("/p?q"), absolute-form ("http://h:1/p?q", scheme http or https, any
// case) or asterisk-form ("*") target. A fragment is dropped. False for anything else (an
// authority-form target, an empty one, a scheme that is not http(s), userinfo in the authority).
bool parse_request_target(std::string_view target, RequestTarget* out);

enum class PathStatus : uint8_t {
  kUnchanged,     // the path was already normal: use it as it is (no copy was made)
  kNormalized,    // the normal form was written to the output buffer
  kEscapedSlash,  // refused: %2F or %5C under EscapedSlashes::kReject
  kBackslash,     // refused: a raw '\' in the path
  kBadEscape,     // refused: '%' not followed by two hex digits, or an escaped NUL (%00)
};

// Normalises a path (no query): percent-decodes unreserved characters (ALPHA DIGIT - . _ ~),
// upper-cases the hex of the escapes that stay, removes dot segments (RFC 3986 5.2.4; ".." never
// climbs above the root, "%2E" counts as "."), merges slashes when asked, and applies the
// escaped-slash choice. `out` is cleared and filled only for kNormalized; a caller keeps one
// buffer per connection, so normalising costs no allocation once it has grown.
PathStatus normalize_path(std::string_view path, const PathOptions& options, std::string& out);

}  // namespace waygate::http
