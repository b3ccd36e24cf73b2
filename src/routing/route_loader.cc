#include "routing/route_loader.h"

#include <llhttp.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <tuple>

#include "http/field_syntax.h"

namespace waygate::routing {
namespace {

// Headers whose framing or hop-by-hop meaning waygate sets itself; a route that added one could
// contradict the framing waygate writes (a second Content-Length) or smuggle a request.
constexpr std::array<std::string_view, 9> kManagedOnAdd = {
    "content-length", "transfer-encoding", "connection", "host",
    "keep-alive",     "proxy-connection",  "te",         "trailer",
    "upgrade"};
// Of those, the ones a message cannot do without or that waygate passes on by its own rules.
constexpr std::array<std::string_view, 5> kManagedOnRemove = {
    "host", "content-length", "transfer-encoding", "connection", "upgrade"};

constexpr const char* kTokenChars = "letters, digits and !#$%&'*+-.^_`|~";
constexpr const char* kPathChars = "letters, digits, -._~!$&'()*+,;=:@/ and %XX escapes";

bool valid_host_pattern(const std::string& host) {
  if (host == "*") return true;
  std::string_view rest = host;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (rest.empty()) return false;
  for (char c : rest) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string lower(std::string text) {
  for (char& c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

template <size_t N>
bool names_one_of(const std::string& name, const std::array<std::string_view, N>& names) {
  std::string lowered = lower(name);
  return std::find(names.begin(), names.end(), lowered) != names.end();
}

bool is_hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// pchar and '/' (RFC 3986 3.3), '%' aside: it must start an escape.
bool is_path_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("-._~!$&'()*+,;=:@/").find(c) != std::string_view::npos;
}

// A path that waygate writes into a request target or a Location header: an absolute path of
// RFC 3986 path characters, so no space, control byte, '?' or '#' can change what it means.
void check_url_path(Reader& r, const yaml::Node& at, const std::string& what,
                    const std::string& path) {
  if (!path.starts_with('/')) {
    r.error(at, what + " must start with '/'");
    return;
  }
  for (size_t i = 0; i < path.size(); ++i) {
    char c = path[i];
    if (c == '%') {
      if (i + 2 < path.size() && is_hex(path[i + 1]) && is_hex(path[i + 2])) {
        i += 2;
        continue;
      }
      r.error(at, what + " " + quoted_value(path) + ": '%' must start a %XX escape");
      return;
    }
    if (!is_path_char(c)) {
      r.error(at, what + " " + quoted_value(path) + ": " +
                      quoted_value(std::string_view(&path[i], 1)) + " is not a path character (" +
                      kPathChars + ")");
      return;
    }
  }
}

bool check_regex(Reader& r, const yaml::Node& at, const std::string& pattern) {
  RE2 regex(pattern, RE2::Quiet);
  if (regex.ok()) return true;
  r.error(at, "invalid regex " + quoted_value(pattern) + ": " + regex.error());
  return false;
}

// A single key of `keys` present in the map, or an error when none or several are.
const char* one_of(Reader& r, const yaml::Node& item, std::initializer_list<const char*> keys,
                   const std::string& what) {
  const char* found = nullptr;
  int count = 0;
  for (const char* key : keys) {
    if (item[key]) {
      found = found ? found : key;
      ++count;
    }
  }
  if (count == 1) return found;
  std::string names;
  for (const char* key : keys)
    names += names.empty() ? key : std::string(", ") + key;
  r.error(item, what + (count == 0 ? " needs one of: " : " takes only one of: ") + names);
  return nullptr;
}

std::vector<ValueMatcher> read_matchers(Reader& r, const yaml::Node& node, const std::string& what,
                                        bool lower_names) {
  std::vector<ValueMatcher> matchers;
  for (const yaml::Node& item : r.sequence(node, what)) {
    if (!r.check_map(item, what + " matcher", {"name", "present", "exact", "regex"})) continue;
    ValueMatcher matcher;
    if (!item["name"]) {
      r.error(item, what + " matcher needs a name");
    } else if (auto name = r.string(item["name"], "name")) {
      matcher.name = lower_names ? lower(*name) : *name;
    }
    const char* key = one_of(r, item, {"present", "exact", "regex"}, what + " matcher");
    if (!key) continue;
    std::string_view which = key;
    if (which == "present") {
      auto value = r.boolean(item["present"], "present");
      matcher.kind =
          value.value_or(true) ? ValueMatcher::Kind::kPresent : ValueMatcher::Kind::kAbsent;
    } else if (auto value = r.string(item[key], key)) {
      matcher.kind = which == "exact" ? ValueMatcher::Kind::kExact : ValueMatcher::Kind::kRegex;
      matcher.value = *value;
      if (matcher.kind == ValueMatcher::Kind::kRegex) check_regex(r, item[key], *value);
    }
    matchers.push_back(std::move(matcher));
  }
  return matchers;
}

// A header name a route adds or removes: written to the wire as it is, so held to the grammar a
// client's header is held to.
bool check_header_name(Reader& r, const yaml::Node& at, const std::string& what,
                       const std::string& name) {
  if (http::is_token(name)) return true;
  r.error(at,
          what + ": header name " + quoted_value(name) + " is not a token (" + kTokenChars + ")");
  return false;
}

// The hint for Host: request_headers is where a user would try to change it.
std::string managed_message(const std::string& what, const std::string& name, const char* verb) {
  std::string message =
      what + ": " + quoted_value(name) + " is managed by waygate and cannot be " + verb;
  if (lower(name) == "host" && what.starts_with("request_headers")) {
    message += "; a route changes Host with rewrite.host";
  }
  return message;
}

// A mapping of header names to values, in file order, that a route adds to a message.
http::HeaderList read_added_headers(Reader& r, const yaml::Node& node, const std::string& what) {
  http::HeaderList headers;
  if (!node.IsMap()) {
    r.error(node, what + " must be a mapping of header names to values");
    return headers;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    auto name = r.string(it->first, "header name");
    auto value = r.string(it->second, "header value");
    bool name_ok = name && check_header_name(r, it->first, what, *name);
    if (name_ok && names_one_of(*name, kManagedOnAdd)) {
      r.error(it->first, managed_message(what, *name, "added"));
      name_ok = false;
    }
    bool value_ok = value && http::is_field_value(*value);
    if (value && !value_ok) {
      r.error(it->second, what + ": the value of " + quoted_value(name.value_or("")) + ", " +
                              quoted_value(*value) +
                              ", has a control byte (CR, LF, NUL and the like; HTAB is allowed)");
    }
    if (name_ok && value_ok) headers.emplace_back(*name, *value);
  }
  return headers;
}

http::HeaderEdits read_header_edits(Reader& r, const yaml::Node& node, const std::string& what) {
  http::HeaderEdits edits;
  if (!r.check_map(node, what, {"add", "remove"})) return edits;
  if (node["add"]) edits.add = read_added_headers(r, node["add"], what + ".add");
  if (const yaml::Node& remove = node["remove"]) {
    std::string what_remove = what + ".remove";
    for (const yaml::Node& item : r.sequence(remove, what_remove)) {
      auto name = r.string(item, "header name");
      if (!name || !check_header_name(r, item, what_remove, *name)) continue;
      if (names_one_of(*name, kManagedOnRemove)) {
        r.error(item, managed_message(what_remove, *name, "removed"));
        continue;
      }
      edits.remove.push_back(*name);
    }
  }
  return edits;
}

void read_forward(Reader& r, const yaml::Node& item, const char* key,
                  const std::set<std::string>& clusters, PathConfig& path) {
  auto check_cluster = [&](const yaml::Node& at, const std::string& name) {
    if (!clusters.contains(name)) r.error(at, "unknown cluster " + quoted_value(name));
  };
  if (std::string_view(key) == "cluster") {
    if (auto name = r.string(item["cluster"], "cluster")) {
      check_cluster(item["cluster"], *name);
      path.clusters.edit().push_back(WeightedCluster{*name, 1});
    }
    return;
  }
  for (const yaml::Node& entry : r.sequence(item["clusters"], "clusters")) {
    if (!r.check_map(entry, "weighted cluster", {"name", "weight"})) continue;
    WeightedCluster weighted;
    if (!entry["name"]) {
      r.error(entry, "a weighted cluster needs a name");
    } else if (auto name = r.string(entry["name"], "name")) {
      check_cluster(entry["name"], *name);
      weighted.name = *name;
    }
    if (entry["weight"]) {
      auto weight = r.count_between(entry["weight"], "weight", 1, 1'000'000);
      if (weight) weighted.weight = static_cast<uint32_t>(*weight);
    }
    path.clusters.edit().push_back(std::move(weighted));
  }
  if (item["clusters"].IsSequence() && path.clusters->empty()) {
    r.error(item["clusters"], "clusters must not be empty");
  }
}

void read_redirect(Reader& r, const yaml::Node& node, PathConfig& path) {
  RedirectConfig& redirect = path.extras.edit().redirect.edit();
  if (!r.check_map(node, "redirect", {"scheme", "host", "port", "path", "prefix", "code"})) return;
  if (node["scheme"]) {
    redirect.scheme = r.string(node["scheme"], "scheme");
    if (redirect.scheme && *redirect.scheme != "http" && *redirect.scheme != "https") {
      r.error(node["scheme"], "redirect scheme must be http or https");
    }
  }
  if (node["host"]) {
    redirect.host = r.string(node["host"], "host");
    auto authority = redirect.host ? http::parse_authority(*redirect.host) : std::nullopt;
    if (redirect.host && !authority) {
      r.error(node["host"], "redirect host " + quoted_value(*redirect.host) +
                                " is not a host name, an IPv4 address or a bracketed IPv6 address");
    } else if (authority && authority->host.size() != redirect.host->size()) {
      r.error(node["host"], "redirect host " + quoted_value(*redirect.host) +
                                " must not carry a port (set redirect.port)");
    }
  }
  if (node["port"]) {
    auto port = r.count_between(node["port"], "port", 1, 65535);
    if (port) redirect.port = static_cast<uint16_t>(*port);
  }
  if (node["path"] && node["prefix"]) r.error(node, "redirect takes path or prefix, not both");
  for (const char* key : {"path", "prefix"}) {
    if (!node[key]) continue;
    auto value = r.string(node[key], key);
    if (value) check_url_path(r, node[key], std::string("redirect ") + key, *value);
    (std::string_view(key) == "path" ? redirect.path : redirect.prefix) = value;
  }
  if (node["prefix"] && path.match != PathConfig::Match::kPrefix) {
    r.error(node["prefix"], "redirect prefix needs a prefix path match");
  }
  if (node["code"]) {
    auto code = r.count(node["code"], "code");
    if (code && *code != 301 && *code != 302 && *code != 303 && *code != 307 && *code != 308) {
      r.error(node["code"], "redirect code must be 301, 302, 303, 307 or 308");
    } else if (code) {
      redirect.code = static_cast<uint16_t>(*code);
    }
  }
}

void read_respond(Reader& r, const yaml::Node& node, PathConfig& path) {
  RespondConfig& respond = path.extras.edit().respond.edit();
  if (!r.check_map(node, "respond", {"status", "body", "headers"})) return;
  if (node["status"]) {
    auto status = r.count_between(node["status"], "status", 200, 599);
    if (status) respond.status = static_cast<uint16_t>(*status);
  }
  if (node["body"]) respond.body = r.string(node["body"], "body").value_or("");
  if (node["headers"]) respond.headers = read_added_headers(r, node["headers"], "respond.headers");
}

void read_retry(Reader& r, const yaml::Node& node, RetryConfig& retry) {
  if (!r.check_map(node, "retry", {"attempts", "on", "per_try_timeout"})) return;
  if (node["attempts"]) {
    auto attempts = r.count_between(node["attempts"], "retry attempts", 0, 10);
    if (attempts) retry.attempts = static_cast<uint32_t>(*attempts);
  }
  if (node["per_try_timeout"]) {
    auto ms = r.duration(node["per_try_timeout"], "retry per_try_timeout");
    if (ms == 0u)
      r.error(node["per_try_timeout"], "retry per_try_timeout must be greater than zero");
    if (ms) retry.per_try_timeout_ms = *ms;
  }
  if (node["on"]) {
    retry.on.clear();
    static const std::set<std::string> kConditions = {
        "connect-failure", "reset", "timeout", "5xx", "502", "503", "504"};
    for (const yaml::Node& item : r.sequence(node["on"], "retry on")) {
      auto condition = r.string(item, "retry condition");
      if (!condition) continue;
      if (!kConditions.contains(*condition)) {
        r.error(item, "retry condition " + quoted_value(*condition) +
                          " is not one of connect-failure, reset, timeout, 5xx, 502, 503, 504");
        continue;
      }
      retry.on.push_back(*condition);
    }
  }
}

// A rate in requests per second: a plain decimal number ("100", "0.5"), above 0 and at most a
// million (a bucket that refills faster limits nothing a worker can serve).
std::optional<double> read_rate(Reader& r, const yaml::Node& node, const std::string& what) {
  auto text = r.string(node, what);
  if (!text) return std::nullopt;
  std::string_view digits = *text;
  double value = 0;
  bool plain = !digits.empty() && digits.find_first_not_of("0123456789.") == std::string_view::npos;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (!plain || ec != std::errc() || end != digits.data() + digits.size()) {
    r.error(node, what + ": " + quoted_value(*text) + " is not a number (like 10 or 0.5)");
    return std::nullopt;
  }
  if (value <= 0 || value > 1e6) {
    r.error(node, what + " must be above 0 and at most 1000000");
    return std::nullopt;
  }
  return value;
}

// One bucket's `requests_per_second` (required) and `burst` (default: one second's worth, at
// least 1).
void read_bucket(Reader& r, const yaml::Node& node, const std::string& what, RateLimitConfig& out) {
  if (!node["requests_per_second"]) {
    r.error(node, what + " needs requests_per_second");
    return;
  }
  auto rate = read_rate(r, node["requests_per_second"], what + ".requests_per_second");
  if (!rate) return;
  out.requests_per_second = *rate;
  out.burst = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(*rate)));
  if (const yaml::Node& burst = node["burst"]) {
    auto value = r.count_between(burst, what + ".burst", 1, 1'000'000'000);
    if (value) out.burst = *value;
  }
}

// `rate_limit: { requests_per_second, burst, per_client: { requests_per_second, burst } }`: the
// first two for every client of the path together, `per_client` for each client address.
void read_rate_limit(Reader& r, const yaml::Node& node, PathConfig& path) {
  if (!r.check_map(node, "rate_limit", {"requests_per_second", "burst", "per_client"})) return;
  if (!node["requests_per_second"] && !node["per_client"]) {
    r.error(node, "rate_limit needs requests_per_second, per_client, or both");
    return;
  }
  if (node["requests_per_second"]) {
    read_bucket(r, node, "rate_limit", path.extras.edit().rate_limits.edit().route);
  } else if (node["burst"]) {
    r.error(node["burst"], "rate_limit.burst needs rate_limit.requests_per_second");
  }
  if (const yaml::Node& per_client = node["per_client"]) {
    if (r.check_map(per_client, "rate_limit.per_client", {"requests_per_second", "burst"})) {
      read_bucket(r, per_client, "rate_limit.per_client",
                  path.extras.edit().rate_limits.edit().client);
    }
  }
}

// The protocols a route lets a client switch to, lower-cased (Upgrade tokens are
// case-insensitive, RFC 9110 7.8).
std::vector<std::string> read_upgrades(Reader& r, const yaml::Node& node) {
  std::vector<std::string> upgrades;
  for (const yaml::Node& item : r.sequence(node, "upgrades")) {
    auto name = r.string(item, "upgrade");
    if (!name) continue;
    std::string protocol = lower(*name);
    if (!http::is_token(protocol)) {
      r.error(item, "upgrade " + quoted_value(*name) + " is not a token (" + kTokenChars + ")");
    } else if (protocol == "h2c") {
      r.error(item,
              "upgrade 'h2c' is refused: HTTP/2 comes by its own codec, not through an "
              "upgrade tunnel");
    } else if (std::find(upgrades.begin(), upgrades.end(), protocol) != upgrades.end()) {
      r.error(item, "upgrade " + quoted_value(*name) + " is listed twice");
    } else {
      upgrades.push_back(std::move(protocol));
    }
  }
  return upgrades;
}

PathConfig read_path(Reader& r, const yaml::Node& item, const std::set<std::string>& clusters) {
  PathConfig path;
  if (!r.check_map(item, "path",
                   {"name",     "prefix",         "exact",   "regex",           "segments",
                    "methods",  "headers",        "query",   "cluster",         "clusters",
                    "redirect", "respond",        "rewrite", "request_headers", "response_headers",
                    "timeout",  "max_body_bytes", "retry",   "upgrades",        "rate_limit",
                    "scheme",   "allow_from"})) {
    return path;
  }
  if (const yaml::Node& name = item["name"]) {
    auto text = r.string(name, "name");
    if (text && text->empty()) r.error(name, "a path's name must not be empty");
    if (text) path.extras.edit().name.edit() = *text;
  }
  if (const char* key = one_of(r, item, {"prefix", "exact", "regex"}, "a path")) {
    std::string_view which = key;
    path.match = which == "prefix"  ? PathConfig::Match::kPrefix
                 : which == "exact" ? PathConfig::Match::kExact
                                    : PathConfig::Match::kRegex;
    if (auto text = r.string(item[key], key)) {
      path.path = *text;
      if (path.match == PathConfig::Match::kRegex) {
        check_regex(r, item[key], *text);
      } else if (text->empty() || text->front() != '/') {
        r.error(item[key], "path " + quoted_value(*text) + " must start with '/'");
      }
    }
  }
  if (item["segments"]) {
    path.segments = r.boolean(item["segments"], "segments").value_or(false);
    if (path.match != PathConfig::Match::kPrefix) {
      r.error(item["segments"], "segments applies to a prefix match only");
    }
  }
  if (item["methods"]) {
    for (const yaml::Node& method : r.sequence(item["methods"], "methods")) {
      auto name = r.string(method, "method");
      if (!name) continue;
      std::string upper = *name;
      for (char& c : upper)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (method_id(upper) < 0) {
        r.error(method, "unknown method " + quoted_value(*name));
      } else {
        path.extras.edit().matchers.edit().methods.push_back(upper);
      }
    }
  }
  if (item["headers"]) {
    path.extras.edit().matchers.edit().headers = read_matchers(r, item["headers"], "headers", true);
  }
  if (item["query"])
    path.extras.edit().matchers.edit().query = read_matchers(r, item["query"], "query", false);
  if (const yaml::Node& scheme = item["scheme"]) {
    auto text = r.string(scheme, "scheme");
    if (text && *text != "http" && *text != "https") {
      r.error(scheme, "scheme must be http or https");
    } else if (text) {
      path.extras.edit().matchers.edit().over_tls = *text == "https";
    }
  }
  if (const yaml::Node& allow_from = item["allow_from"]) {
    std::vector<AddressRange>& ranges = path.extras.edit().allow_from.edit();
    for (const yaml::Node& entry : r.sequence(allow_from, "allow_from")) {
      auto text = r.string(entry, "allow_from entry");
      if (!text) continue;
      std::optional<AddressRange> range = AddressRange::parse(*text);
      if (!range) {
        r.error(entry, "allow_from entry " + quoted_value(*text) +
                           " is not an address or a CIDR block (10.0.0.0/8, 2001:db8::/32) "
                           "without host bits");
      } else {
        ranges.push_back(*range);
      }
    }
    if (allow_from.IsSequence() && ranges.empty()) {
      r.error(allow_from, "allow_from must not be empty");
    }
  }

  if (const char* key = one_of(r, item, {"cluster", "clusters", "redirect", "respond"}, "a path")) {
    std::string_view which = key;
    if (which == "cluster" || which == "clusters") {
      path.action = PathConfig::Action::kForward;
      read_forward(r, item, key, clusters, path);
    } else if (which == "redirect") {
      path.action = PathConfig::Action::kRedirect;
      read_redirect(r, item["redirect"], path);
    } else {
      path.action = PathConfig::Action::kRespond;
      read_respond(r, item["respond"], path);
    }
  }
  bool forwards = path.action == PathConfig::Action::kForward;
  if (const yaml::Node& rewrite = item["rewrite"]) {
    if (!forwards) r.error(rewrite, "rewrite applies to cluster or clusters only");
    if (r.check_map(rewrite, "rewrite", {"prefix", "host"})) {
      if (rewrite["prefix"]) {
        std::optional<std::string>& prefix = path.extras.edit().rewrite.edit().prefix;
        prefix = r.string(rewrite["prefix"], "rewrite prefix");
        if (path.match != PathConfig::Match::kPrefix) {
          r.error(rewrite["prefix"], "rewrite prefix needs a prefix path match");
        } else if (prefix) {
          check_url_path(r, rewrite["prefix"], "rewrite prefix", *prefix);
        }
      }
      if (rewrite["host"]) {
        std::optional<std::string>& host = path.extras.edit().rewrite.edit().host;
        host = r.string(rewrite["host"], "rewrite host");
        if (host && !http::parse_authority(*host)) {
          r.error(rewrite["host"], "rewrite host " + quoted_value(*host) +
                                       " is not host[:port] (a host name, an IPv4 address or a "
                                       "bracketed IPv6 address, and a port up to 65535)");
        }
      }
    }
  }
  if (item["request_headers"]) {
    if (!forwards)
      r.error(item["request_headers"], "request_headers applies to cluster or clusters only");
    path.extras.edit().request_headers.edit() =
        read_header_edits(r, item["request_headers"], "request_headers");
  }
  if (item["response_headers"]) {
    path.extras.edit().response_headers.edit() =
        read_header_edits(r, item["response_headers"], "response_headers");
  }
  if (item["timeout"]) {
    std::optional<uint64_t> timeout_ms = r.duration(item["timeout"], "timeout");
    if (timeout_ms == 0u) r.error(item["timeout"], "timeout must be greater than zero");
    path.extras.edit().limits.edit().timeout_ms = timeout_ms;
  }
  if (item["max_body_bytes"])
    path.extras.edit().limits.edit().max_body_bytes =
        r.size(item["max_body_bytes"], "max_body_bytes");
  if (item["retry"]) read_retry(r, item["retry"], path.extras.edit().retry.edit());
  if (item["rate_limit"]) read_rate_limit(r, item["rate_limit"], path);
  if (const yaml::Node& upgrades = item["upgrades"]) {
    if (!forwards) r.error(upgrades, "upgrades applies to cluster or clusters only");
    path.extras.edit().upgrades.edit().protocols = read_upgrades(r, upgrades);
  }
  return path;
}

}  // namespace

int method_id(std::string_view name) {
  struct Method {
    std::string_view name;
    int id;
  };
  static constexpr Method kMethods[] = {
#define WAYGATE_METHOD(number, id, text) {#text, number},
      HTTP_METHOD_MAP(WAYGATE_METHOD)
#undef WAYGATE_METHOD
  };
  for (const Method& method : kMethods) {
    if (method.name == name) return method.id;
  }
  return -1;
}

bool managed_on_add(std::string_view header_name) {
  return names_one_of(std::string(header_name), kManagedOnAdd);
}

bool managed_on_remove(std::string_view header_name) {
  return names_one_of(std::string(header_name), kManagedOnRemove);
}

namespace {

// For SharedOrDefaultPool: responses told apart by their status and body (headers are rare).
struct RespondHash {
  size_t operator()(const RespondConfig& respond) const {
    return std::hash<std::string>{}(respond.body) ^ (size_t{respond.status} << 20);
  }
};

// For SharedOrDefaultPool: cluster lists told apart by their clusters' names and weights.
struct ClustersHash {
  size_t operator()(const std::vector<WeightedCluster>& clusters) const {
    size_t hash = clusters.size();
    for (const WeightedCluster& cluster : clusters)
      hash = hash * 31 + (std::hash<std::string>{}(cluster.name) ^ cluster.weight);
    return hash;
  }
};

// A path's extras are alike when each part is the same block: the parts were made one before
// (responses) or are the path's own (then no other path holds them).
auto extras_parts(const PathExtras& extras) {
  return std::tie(extras.name, extras.matchers, extras.allow_from, extras.redirect, extras.respond,
                  extras.rewrite, extras.request_headers, extras.response_headers, extras.limits,
                  extras.retry, extras.upgrades, extras.rate_limits);
}

struct ExtrasHash {
  size_t operator()(const PathExtras& extras) const {
    return std::apply(
        [](const auto&... part) {
          size_t hash = 0;
          ((hash = hash * 31 + part.block_hash()), ...);
          return hash;
        },
        extras_parts(extras));
  }
};

struct ExtrasEqual {
  bool operator()(const PathExtras& a, const PathExtras& b) const {
    return std::apply(
        [&b](const auto&... a_part) {
          return std::apply(
              [&](const auto&... b_part) { return (a_part.shares_with(b_part) && ...); },
              extras_parts(b));
        },
        extras_parts(a));
  }
};

// Only extras made of shared parts can be alike: the others would fill the pool for nothing.
bool only_shared_parts(const PathExtras& extras) {
  PathExtras without_shared = extras;
  without_shared.respond = {};
  return ExtrasEqual{}(without_shared, PathExtras{});
}

}  // namespace

void read_routes(Reader& r, const yaml::Node& node, const std::set<std::string>& clusters,
                 HostsSeen& hosts_seen, Config& config, const NameClaims& taken) {
  SharedOrDefaultPool<RespondConfig, RespondHash> responses;
  // Cluster names are kept once for every path that forwards to the same clusters alike.
  SharedOrDefaultPool<std::vector<WeightedCluster>, ClustersHash> cluster_lists;
  SharedOrDefaultPool<PathExtras, ExtrasHash, ExtrasEqual> extras;
  yaml::Node items = r.sequence(node, "routes");
  // Sized once: a growing list would leave its earlier copies as holes among the routes.
  config.routes.reserve(config.routes.size() + items.size());
  hosts_seen.reserve(hosts_seen.size() + items.size());  // a host or more each, without rehashes
  for (const yaml::Node& item : items) {
    if (!r.check_map(item, "route", {"hosts", "paths"})) continue;
    RouteConfig& route = config.routes.emplace_back();
    if (!item["hosts"]) {
      r.error(item, "a route needs hosts");
    } else {
      yaml::Node host_nodes = r.sequence(item["hosts"], "hosts");
      // Reserved, so the names (short ones are kept inside the list) stay where hosts_seen saw
      // them.
      route.hosts.reserve(host_nodes.size());
      for (const yaml::Node& host_node : host_nodes) {
        if (!host_node.IsScalar()) {
          r.error(host_node, "host must be a string");
          continue;
        }
        std::string_view host = host_node.Scalar();
        std::string& lowered = route.hosts.emplace_back(host);
        for (char& c : lowered)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!valid_host_pattern(lowered)) {
          r.error(host_node, "host " + quoted_value(host) + " must be a name, '*.suffix' or '*'");
        } else if (!hosts_seen.insert(lowered).second) {
          r.error(host_node, "host " + quoted_value(host) + " is listed by two routes");
        } else if (const std::string* owner = taken.owner(lowered, r.source())) {
          r.error(host_node, "host " + quoted_value(host) + " is already routed by " + *owner +
                                 "; " + r.source() + " may not route it too");
        }
      }
    }
    if (!item["paths"]) {
      r.error(item, "a route needs paths");
    } else {
      yaml::Node path_nodes = r.sequence(item["paths"], "paths");
      route.paths.reserve(path_nodes.size());
      for (const yaml::Node& path_node : path_nodes) {
        PathConfig& path = route.paths.emplace_back(read_path(r, path_node, clusters));
        if (!path.extras->respond.is_default()) responses.share(path.extras.edit().respond);
        if (only_shared_parts(*path.extras)) extras.share(path.extras);
        cluster_lists.share(path.clusters);
      }
    }
  }
}

}  // namespace waygate::routing
