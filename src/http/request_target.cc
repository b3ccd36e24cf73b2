// Request-target splitting and path normalisation (see request_target.h). Normalising is two
// steps: a validating scan that also finds the first byte needing a change, and, only when there
// is one, a rewrite of the path from the segment holding that byte onwards.
#include "http/request_target.h"

#include <optional>

#include "http/field_syntax.h"

namespace waygate::http {
namespace {

constexpr size_t kNone = std::string_view::npos;

// The value of a hex digit, or -1.
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool is_unreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool is_slash_or_backslash(unsigned char decoded) {
  return decoded == '/' || decoded == '\\';
}

// The byte "%XY" at `at` stands for; the scan has already checked both digits.
unsigned char escaped_byte(std::string_view path, size_t at) {
  return static_cast<unsigned char>(hex_value(path[at + 1]) * 16 + hex_value(path[at + 2]));
}

bool has_lower_hex(std::string_view path, size_t at) {
  return (path[at + 1] >= 'a' && path[at + 1] <= 'f') ||
         (path[at + 2] >= 'a' && path[at + 2] <= 'f');
}

bool starts_dot_segment(std::string_view path, size_t at) {
  // "." or ".." followed by the end or a '/'.
  size_t dots = 0;
  while (dots < 2 && at + dots < path.size() && path[at + dots] == '.')
    ++dots;
  return dots > 0 && (at + dots == path.size() || path[at + dots] == '/');
}

struct Scan {
  std::optional<PathStatus> refusal;
  size_t first_change = kNone;
};

// Validates the whole path, so that the rewrite cannot fail and `out` is untouched on refusal,
// and notes the first byte that the normal form changes.
Scan scan_path(std::string_view path, const PathOptions& options) {
  Scan scan;
  if (path.empty() || path.front() != '/') scan.first_change = 0;
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '/') {
      if (scan.first_change == kNone &&
          ((options.merge_slashes && i + 1 < path.size() && path[i + 1] == '/') ||
           starts_dot_segment(path, i + 1))) {
        scan.first_change = i;
      }
    } else if (c == '\\') {
      scan.refusal = PathStatus::kBackslash;
      return scan;
    } else if (c == '%') {
      if (i + 2 >= path.size() || hex_value(path[i + 1]) < 0 || hex_value(path[i + 2]) < 0) {
        scan.refusal = PathStatus::kBadEscape;
        return scan;
      }
      unsigned char decoded = escaped_byte(path, i);
      if (decoded == 0) {
        scan.refusal = PathStatus::kBadEscape;
        return scan;
      }
      bool changes = is_unreserved(decoded) || has_lower_hex(path, i);
      if (is_slash_or_backslash(decoded)) {
        if (options.escaped_slashes == EscapedSlashes::kReject) {
          scan.refusal = PathStatus::kEscapedSlash;
          return scan;
        }
        changes = changes || options.escaped_slashes == EscapedSlashes::kUnescape;
      }
      if (changes && scan.first_change == kNone) scan.first_change = i;
      i += 2;
    }
  }
  return scan;
}

// Appends one segment of `path` starting at `i` to `out` (decoded, escapes upper-cased) and
// returns the index just past the separator that ends it, or path.size() at the end.
size_t append_segment(std::string_view path, size_t i, const PathOptions& options, std::string& out,
                      bool* last) {
  constexpr char kHexDigits[] = "0123456789ABCDEF";
  while (i < path.size()) {
    char c = path[i];
    if (c == '/') {
      *last = false;
      return i + 1;
    }
    if (c != '%') {
      out.push_back(c);
      ++i;
      continue;
    }
    unsigned char decoded = escaped_byte(path, i);
    if (is_slash_or_backslash(decoded) && options.escaped_slashes == EscapedSlashes::kUnescape) {
      *last = false;
      return i + 3;
    }
    if (is_unreserved(decoded)) {
      out.push_back(static_cast<char>(decoded));
    } else {
      out.push_back('%');
      out.push_back(kHexDigits[decoded >> 4]);
      out.push_back(kHexDigits[decoded & 0xf]);
    }
    i += 3;
  }
  *last = true;
  return i;
}

// RFC 3986 5.2.4 over segments: `out` always reads "/seg/seg...", so dropping the last segment is
// cutting at its last '/' (escapes that stay never hold a raw '/').
void rewrite_from(std::string_view path, size_t start, const PathOptions& options,
                  std::string& out) {
  size_t i = start;
  if (i < path.size() && path[i] == '/') ++i;
  bool last = false;
  while (!last) {
    size_t slash = out.size();
    out.push_back('/');
    i = append_segment(path, i, options, out, &last);
    std::string_view segment = std::string_view(out).substr(slash + 1);
    bool dot = segment == ".";
    bool dot_dot = segment == "..";
    if (dot || dot_dot || (segment.empty() && options.merge_slashes && !last)) {
      out.resize(slash);
      if (dot_dot) {
        size_t parent = out.rfind('/');
        out.resize(parent == std::string::npos ? 0 : parent);
      }
      // "/a/.." is "/", "/a/." is "/a/": the directory stays a directory.
      if (last) out.push_back('/');
    }
  }
  if (out.empty()) out.push_back('/');
}

// Takes "http://authority" or "https://authority" (scheme in any case) off the front of `rest`.
bool take_absolute_prefix(std::string_view& rest, std::string_view* authority) {
  size_t scheme_end = rest.find("://");
  if (scheme_end == kNone) return false;
  std::string_view scheme = rest.substr(0, scheme_end);
  auto is_scheme = [scheme](std::string_view lower) {
    if (scheme.size() != lower.size()) return false;
    for (size_t i = 0; i < lower.size(); ++i) {
      if ((scheme[i] | 0x20) != lower[i]) return false;
    }
    return true;
  };
  if (!is_scheme("http") && !is_scheme("https")) return false;
  std::string_view after_scheme = rest.substr(scheme_end + 3);
  std::string_view text = after_scheme.substr(0, after_scheme.find_first_of("/?"));
  // Userinfo is refused rather than dropped: "http://good@evil/" reads one way to a person and
  // another to a program.
  if (text.empty() || text.find('@') != kNone || !parse_authority(text)) return false;
  *authority = text;
  rest = after_scheme.substr(text.size());
  return true;
}

}  // namespace

bool parse_request_target(std::string_view target, RequestTarget* out) {
  RequestTarget parsed;
  if (target == "*") {
    parsed.form = RequestTarget::Form::kAsterisk;
    parsed.path = target;
    *out = parsed;
    return true;
  }
  std::string_view rest = target.substr(0, target.find('#'));
  if (rest.starts_with('/')) {
    parsed.form = RequestTarget::Form::kOrigin;
  } else if (take_absolute_prefix(rest, &parsed.authority)) {
    parsed.form = RequestTarget::Form::kAbsolute;
  } else {
    return false;
  }
  size_t question = rest.find('?');
  parsed.path = rest.substr(0, question);
  if (parsed.path.empty()) parsed.path = "/";  // "http://h" and "http://h?q"
  if (question != kNone) parsed.query = rest.substr(question);
  *out = parsed;
  return true;
}

PathStatus normalize_path(std::string_view path, const PathOptions& options, std::string& out) {
  Scan scan = scan_path(path, options);
  if (scan.refusal) return *scan.refusal;
  if (scan.first_change == kNone) return PathStatus::kUnchanged;
  // Everything before the segment holding the first change is already normal: copy it as it is.
  size_t start = scan.first_change == 0 ? 0 : path.rfind('/', scan.first_change);
  out.assign(path.substr(0, start));
  rewrite_from(path, start, options, out);
  return PathStatus::kNormalized;
}

}  // namespace waygate::http
