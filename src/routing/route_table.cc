#include "routing/route_table.h"

#include <llhttp.h>
#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <unordered_set>

#include "http/header_names.h"
#include "http/status.h"
#include "routing/route_loader.h"

namespace waygate::routing {
namespace {

constexpr size_t kMaxHostLength = 255;

// Splits an origin-form target into its path and its query ("?..." up to any fragment).
std::pair<std::string_view, std::string_view> split_target(std::string_view target) {
  size_t fragment = target.find('#');
  target = target.substr(0, fragment);
  size_t question = target.find('?');
  if (question == std::string_view::npos) return {target, {}};
  return {target.substr(0, question), target.substr(question)};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Query strings are form-encoded: %XX escapes and '+' for a space.
std::string decode_query_part(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool value_matches(const std::string_view value, ValueMatcher::Kind kind, const std::string& exact,
                   const re2::RE2* regex) {
  switch (kind) {
    case ValueMatcher::Kind::kExact:
      return value == exact;
    case ValueMatcher::Kind::kRegex:
      return RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *regex);
    case ValueMatcher::Kind::kPresent:
    case ValueMatcher::Kind::kAbsent:
      return true;
  }
  return false;
}

// Compiles each distinct pattern once: many routes often share one.
class RegexCache {
 public:
  std::shared_ptr<const RE2> get(const std::string& pattern) {
    std::shared_ptr<const RE2>& regex = compiled_[pattern];
    if (!regex) regex = std::make_shared<const RE2>(pattern, RE2::Quiet);
    return regex;
  }

 private:
  std::unordered_map<std::string, std::shared_ptr<const RE2>> compiled_;
};

RouteAction compile_action(const Config& config, const RouteConfig& route, const PathConfig& path,
                           const std::unordered_map<std::string, uint32_t>& cluster_index) {
  RouteAction action;
  action.settings = &path;
  action.log_name = !path.name.empty()    ? path.name
                    : route.hosts.empty() ? path.path
                                          : route.hosts.front() + path.path;
  switch (path.action) {
    case PathConfig::Action::kForward:
      action.kind = RouteAction::Kind::kForward;
      break;
    case PathConfig::Action::kRedirect:
      action.kind = RouteAction::Kind::kRedirect;
      action.redirect_body = std::to_string(path.redirect->code) + " " +
                             std::string(http::reason_phrase(path.redirect->code)) + "\n";
      break;
    case PathConfig::Action::kRespond:
      action.kind = RouteAction::Kind::kRespond;
      break;
  }
  action.clusters.reserve(path.clusters.size());
  for (const WeightedCluster& weighted : path.clusters) {
    action.total_weight += weighted.weight;
    action.clusters.push_back({cluster_index.at(weighted.name), action.total_weight});
  }
  action.upstream_response_ms = path.timeout_ms.value_or(config.timeouts.upstream_response_ms);
  action.max_body_bytes = path.max_body_bytes.value_or(config.limits.max_body_bytes);
  action.retry_attempts = path.retry->attempts;
  action.per_try_timeout_ms = path.retry->per_try_timeout_ms;
  for (const std::string& condition : path.retry->on) {
    if (condition == "connect-failure") action.retry_on |= kRetryConnectFailure;
    if (condition == "reset") action.retry_on |= kRetryReset;
    if (condition == "timeout") action.retry_on |= kRetryTimeout;
    if (condition == "5xx") action.retry_on |= kRetry5xx;
    if (condition == "502") action.retry_on |= kRetry502;
    if (condition == "503") action.retry_on |= kRetry503;
    if (condition == "504") action.retry_on |= kRetry504;
  }
  return action;
}

// What names a path for its rate-limit buckets: its first host, how it matches, its path and
// name, made unique within the table (two paths alike but for their matchers count apart).
std::string bucket_key(const RouteConfig& route, const PathConfig& path,
                       std::unordered_set<std::string>& taken) {
  std::string key = route.hosts.empty() ? std::string() : route.hosts.front();
  key.append(1, '\0').append(std::to_string(static_cast<int>(path.match))).append(path.path);
  key.append(1, '\0').append(path.name);
  std::string unique = key;
  for (int seen = 2; !taken.insert(unique).second; ++seen)
    unique = key + "#" + std::to_string(seen);
  return unique;
}

std::string limit_key(const char* scope, const RateLimitConfig& limit) {
  char text[96];
  std::snprintf(text, sizeof(text), "\n%s %.17g %llu", scope, limit.requests_per_second,
                static_cast<unsigned long long>(limit.burst));
  return text;
}

}  // namespace

void append_rewritten_target(std::string& out, const RouteAction& route, std::string_view path,
                             std::string_view query) {
  const std::optional<std::string>& rewrite = route.settings->rewrite->prefix;
  std::string_view prefix = rewrite ? std::string_view(*rewrite) : std::string_view();
  std::string_view rest = path.substr(std::min(route.matched_prefix().size(), path.size()));
  out.append(prefix);
  // One '/' where they meet: prefix /app rewritten to / sends /app/x as /x, not //x.
  if (prefix.ends_with('/') && rest.starts_with('/')) rest.remove_prefix(1);
  out.append(rest);
  out.append(query);
}

void append_redirect_location(std::string& out, const RouteAction& route, std::string_view host,
                              std::string_view path, std::string_view query) {
  const RedirectConfig& redirect = *route.settings->redirect;
  // Without a host to name (HTTP/1.0 without Host), the Location is a path on the same host.
  if (redirect.host || !host.empty()) {
    out.append(redirect.scheme.value_or("http")).append("://");
    if (redirect.host) {
      out.append(*redirect.host);
    } else if (redirect.port) {
      // The request's host without its port ("[::1]:80" keeps its brackets).
      size_t colon = host.rfind(':');
      bool has_port =
          colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos;
      out.append(has_port ? host.substr(0, colon) : host);
    } else {
      out.append(host);
    }
    if (redirect.port) {
      char digits[8];
      auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), *redirect.port);
      out.push_back(':');
      out.append(digits, end);
    }
  }
  if (redirect.path) {
    out.append(*redirect.path);
  } else if (redirect.prefix) {
    out.append(*redirect.prefix);
    out.append(path.substr(std::min(route.matched_prefix().size(), path.size())));
  } else {
    out.append(path);
  }
  out.append(query);  // the query is kept
}

bool retries_status(const RouteAction& route, uint16_t status) {
  if (route.retry_on == 0 || status < 500) return false;
  if ((route.retry_on & kRetry5xx) != 0) return true;
  return (status == 502 && (route.retry_on & kRetry502)) ||
         (status == 503 && (route.retry_on & kRetry503)) ||
         (status == 504 && (route.retry_on & kRetry504));
}

bool RouteAction::admits(const std::array<uint8_t, 16>& client) const {
  const std::vector<AddressRange>& ranges = *settings->allow_from;
  return ranges.empty() ||
         std::any_of(ranges.begin(), ranges.end(),
                     [&](const AddressRange& range) { return range.contains(client); });
}

uint32_t RouteAction::cluster_for(uint32_t pick) const {
  for (const ClusterChoice& choice : clusters) {
    if (pick < choice.weight_end) return choice.cluster_index;
  }
  return clusters.back().cluster_index;
}

RouteTable::RouteTable(const Config& config,
                       const std::unordered_map<std::string, uint32_t>& cluster_index,
                       RouteNameSlots* name_slots)
    : RouteTable(std::make_shared<const Config>(config), cluster_index, name_slots) {}

RouteTable::RouteTable(std::shared_ptr<const Config> config,
                       const std::unordered_map<std::string, uint32_t>& cluster_index,
                       RouteNameSlots* name_slots)
    : config_(std::move(config)) {
  RouteNameSlots own_slots;
  if (!name_slots) name_slots = &own_slots;
  std::unordered_set<uint32_t> named;
  std::unordered_set<std::string> bucket_keys;
  RegexCache regexes;
  hosts_.reserve(config_->routes.size());
  // Sized once: growing a table of many hosts rehashes every entry again at each doubling.
  size_t host_count = 0;
  for (const RouteConfig& route : config_->routes)
    host_count += route.hosts.size();
  exact_.reserve(host_count);
  for (const RouteConfig& route : config_->routes) {
    VirtualHost vhost;
    vhost.paths.reserve(route.paths.size());
    for (const PathConfig& path : route.paths) {
      PathRule rule;
      if (path.match == PathConfig::Match::kRegex) rule.regex = regexes.get(path.path);
      for (const std::string& method : path.methods)
        rule.methods |= uint64_t{1} << method_id(method);
      for (const ValueMatcher& matcher : path.headers) {
        rule.headers.push_back(ValueRule{&matcher, matcher.kind == ValueMatcher::Kind::kRegex
                                                       ? regexes.get(matcher.value)
                                                       : nullptr});
      }
      for (const ValueMatcher& matcher : path.query) {
        rule.query.push_back(ValueRule{&matcher, matcher.kind == ValueMatcher::Kind::kRegex
                                                     ? regexes.get(matcher.value)
                                                     : nullptr});
      }
      rule.action = compile_action(*config_, route, path, cluster_index);
      if (path.rate_limit.enabled() || path.client_rate_limit.enabled()) {
        std::string key = bucket_key(route, path, bucket_keys);
        if (path.rate_limit.enabled()) {
          rule.action.rate_limit_slot =
              name_slots->bucket_slot_for(key + limit_key("route", path.rate_limit));
        }
        if (path.client_rate_limit.enabled()) {
          rule.action.client_rate_limit_slot =
              name_slots->bucket_slot_for(key + limit_key("client", path.client_rate_limit));
        }
      }
      if (!path.name.empty()) {
        rule.action.metrics_slot = name_slots->slot_for(path.name);
        if (named.insert(rule.action.metrics_slot).second) {
          named_routes_.emplace_back(rule.action.metrics_slot, path.name);
        }
      }
      vhost.paths.push_back(std::move(rule));
    }
    auto index = static_cast<uint32_t>(hosts_.size());
    hosts_.push_back(std::move(vhost));
    for (const std::string& host : route.hosts) {
      if (host == "*") {
        if (catch_all_ < 0) catch_all_ = static_cast<int32_t>(index);
      } else if (host.starts_with("*.")) {
        suffixes_.emplace(host.substr(1), index);
      } else {
        exact_.emplace(host, index);
      }
    }
  }
  route_slot_count_ = name_slots->count();
}

const RouteTable::VirtualHost* RouteTable::find_host(std::string_view host) const {
  // Lower-case and drop the port into a stack buffer: no allocation per request.
  char lowered[kMaxHostLength];
  if (!host.empty() && host.front() != '[') {
    size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) host = host.substr(0, colon);
  } else if (!host.empty()) {
    size_t bracket = host.find(']');
    if (bracket != std::string_view::npos) host = host.substr(0, bracket + 1);
  }
  if (host.size() > kMaxHostLength) return nullptr;
  for (size_t i = 0; i < host.size(); ++i) {
    char c = host[i];
    lowered[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
  }
  std::string_view name(lowered, host.size());
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // "example.com." is absolute

  if (auto it = exact_.find(name); it != exact_.end()) return &hosts_[it->second];
  // Longest wildcard suffix first: for a.b.example.com try .b.example.com, then .example.com, ...
  // A wildcard needs a label before its suffix, so a leading dot is not a boundary.
  for (size_t dot = name.find('.', 1); dot != std::string_view::npos;
       dot = name.find('.', dot + 1)) {
    if (auto it = suffixes_.find(name.substr(dot)); it != suffixes_.end()) {
      return &hosts_[it->second];
    }
  }
  return catch_all_ >= 0 ? &hosts_[static_cast<size_t>(catch_all_)] : nullptr;
}

bool RouteTable::path_matches(const PathRule& rule, std::string_view path) {
  const PathConfig& settings = *rule.action.settings;
  const std::string& wanted = settings.path;
  switch (settings.match) {
    case PathConfig::Match::kExact:
      return path == wanted;
    case PathConfig::Match::kPrefix:
      if (!path.starts_with(wanted)) return false;
      // Segment-aware: /v1 takes /v1 and /v1/x, never /v1x.
      return !settings.segments || path.size() == wanted.size() || wanted.ends_with('/') ||
             path[wanted.size()] == '/';
    case PathConfig::Match::kRegex:
      return RE2::FullMatch(re2::StringPiece(path.data(), path.size()), *rule.regex);
  }
  return false;
}

bool RouteTable::headers_match(const PathRule& rule, const http::MessageHead* request) {
  for (const ValueRule& value_rule : rule.headers) {
    const ValueMatcher& matcher = *value_rule.matcher;
    bool found = false;
    if (request) {
      for (const http::HeaderField& field : request->fields) {
        if (!http::equals_ignore_case(request->name(field), matcher.name)) continue;
        if (value_matches(request->value(field), matcher.kind, matcher.value,
                          value_rule.regex.get())) {
          found = true;
          break;
        }
      }
    }
    if (found == (matcher.kind == ValueMatcher::Kind::kAbsent)) return false;
  }
  return true;
}

bool RouteTable::query_matches(const PathRule& rule, std::string_view query) {
  if (rule.query.empty()) return true;
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  for (const ValueRule& value_rule : rule.query) {
    const ValueMatcher& matcher = *value_rule.matcher;
    bool found = false;
    std::string_view rest = query;
    while (!rest.empty() && !found) {
      size_t amp = rest.find('&');
      std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      size_t equals = pair.find('=');
      std::string name = decode_query_part(pair.substr(0, equals));
      if (name != matcher.name) continue;
      std::string value = equals == std::string_view::npos
                              ? std::string()
                              : decode_query_part(pair.substr(equals + 1));
      found = value_matches(value, matcher.kind, matcher.value, value_rule.regex.get());
    }
    if (found == (matcher.kind == ValueMatcher::Kind::kAbsent)) return false;
  }
  return true;
}

const RouteAction* RouteTable::match(const MatchInput& request) const {
  const VirtualHost* vhost = find_host(request.host);
  if (!vhost) return nullptr;
  for (const PathRule& rule : vhost->paths) {
    if (rule.methods != 0 && (rule.methods & (uint64_t{1} << request.method)) == 0) continue;
    const std::optional<bool>& over_tls = rule.action.settings->over_tls;
    if (over_tls && *over_tls != request.over_tls) continue;
    if (!path_matches(rule, request.path)) continue;
    if (!headers_match(rule, request.head) || !query_matches(rule, request.query)) continue;
    return &rule.action;
  }
  return nullptr;
}

const RouteAction* RouteTable::match(const http::MessageHead& request) const {
  auto [path, query] = split_target(request.target());
  return match(MatchInput{request.find(http::HeaderId::kHost).value_or(""), path, query,
                          request.method, &request});
}

const RouteAction* RouteTable::match(std::string_view host, std::string_view target) const {
  auto [path, query] = split_target(target);
  return match(MatchInput{host, path, query, HTTP_GET, nullptr});
}

}  // namespace waygate::routing
