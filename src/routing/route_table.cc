#include "routing/route_table.h"

#include <llhttp.h>
#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <type_traits>
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

// The codes a redirect may have (route_loader.cc refuses others).
constexpr std::array<uint16_t, 5> kRedirectCodes = {301, 302, 303, 307, 308};

// The access log's name for a path that has no `name:` and is not a path alone.
bool needs_joined_log_name(const RouteConfig& route, const PathConfig& path) {
  return path.extras->name->empty() && !route.hosts.empty();
}

// What names a path for its rate-limit buckets: its first host, how it matches, its path and
// name, made unique within the table (two paths alike but for their matchers count apart).
std::string bucket_key(const RouteConfig& route, const PathConfig& path,
                       std::unordered_set<std::string>& taken) {
  std::string key = route.hosts.empty() ? std::string() : route.hosts.front();
  key.append(1, '\0').append(std::to_string(static_cast<int>(path.match))).append(path.path);
  key.append(1, '\0').append(*path.extras->name);
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

std::string_view RouteTable::keep_text(Group& group, std::string_view text) {
  // The texts were sized for every text before the first: this never moves what is viewed already.
  size_t offset = group.texts.size();
  group.texts.insert(group.texts.end(), text.begin(), text.end());
  return {group.texts.data() + offset, text.size()};
}

RouteAction RouteTable::compile_action(
    Group& group, const Config& config, const RouteConfig& route, const PathConfig& path,
    const std::unordered_map<std::string, uint32_t>& cluster_index) {
  RouteAction action;
  action.settings = &path;
  if (!needs_joined_log_name(route, path)) {
    action.log_name = path.extras->name->empty() ? path.path : *path.extras->name;
  } else {
    std::string_view host = route.hosts.front();
    size_t offset = group.texts.size();
    keep_text(group, host);
    keep_text(group, path.path);
    action.log_name = {group.texts.data() + offset, host.size() + path.path.size()};
  }
  switch (path.action) {
    case PathConfig::Action::kForward:
      action.kind = RouteAction::Kind::kForward;
      break;
    case PathConfig::Action::kRedirect:
      action.kind = RouteAction::Kind::kRedirect;
      break;
    case PathConfig::Action::kRespond:
      action.kind = RouteAction::Kind::kRespond;
      break;
  }
  size_t first = group.cluster_choices.size();
  for (const WeightedCluster& weighted : *path.clusters) {
    action.total_weight += weighted.weight;
    group.cluster_choices.push_back({cluster_index.at(weighted.name), action.total_weight});
  }
  action.clusters = {group.cluster_choices.data() + first, path.clusters->size()};
  action.upstream_response_ms =
      path.extras->limits->timeout_ms.value_or(config.timeouts.upstream_response_ms);
  action.max_body_bytes =
      path.extras->limits->max_body_bytes.value_or(config.limits.max_body_bytes);
  action.retry_attempts = path.extras->retry->attempts;
  action.per_try_timeout_ms = path.extras->retry->per_try_timeout_ms;
  for (const std::string& condition : path.extras->retry->on) {
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

void append_rewritten_target(std::string& out, const RouteAction& route, std::string_view path,
                             std::string_view query) {
  const std::optional<std::string>& rewrite = route.settings->extras->rewrite->prefix;
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
  const RedirectConfig& redirect = *route.settings->extras->redirect;
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

std::string_view RouteAction::redirect_body() const {
  // One text per code, made once: a table of many redirects holds none of its own.
  static const std::array<std::string, kRedirectCodes.size()> kBodies = [] {
    std::array<std::string, kRedirectCodes.size()> bodies;
    for (size_t i = 0; i < kRedirectCodes.size(); ++i) {
      bodies[i] = std::to_string(kRedirectCodes[i]) + " " +
                  std::string(http::reason_phrase(kRedirectCodes[i])) + "\n";
    }
    return bodies;
  }();
  const uint16_t code = settings->extras->redirect->code;
  for (size_t i = 0; i < kRedirectCodes.size(); ++i) {
    if (kRedirectCodes[i] == code) return kBodies[i];
  }
  return kBodies[0];
}

bool RouteAction::admits(const std::array<uint8_t, 16>& client) const {
  const std::vector<AddressRange>& ranges = *settings->extras->allow_from;
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

std::shared_ptr<const RouteTable::Group> RouteTable::compile(
    std::shared_ptr<const void> source, const std::vector<RouteConfig>& routes,
    const Config& config, const std::unordered_map<std::string, uint32_t>& cluster_index,
    RouteNameSlots& name_slots) {
  auto group = std::make_shared<Group>();
  group->source = std::move(source);
  // Keys are unique within a group; across groups the first host tells them apart, as no host is
  // routed by two groups.
  std::unordered_set<std::string> bucket_keys;
  RegexCache regexes;
  group->hosts.reserve(routes.size());
  // Sized once: the actions view these arrays.
  size_t path_count = 0;
  size_t text_bytes = 0;
  size_t cluster_count = 0;
  for (const RouteConfig& route : routes) {
    path_count += route.paths.size();
    for (const PathConfig& path : route.paths) {
      if (needs_joined_log_name(route, path)) {
        text_bytes += route.hosts.front().size() + path.path.size();
      }
      cluster_count += path.clusters->size();
    }
  }
  group->rules.reserve(path_count);
  group->texts.reserve(text_bytes);
  group->cluster_choices.reserve(cluster_count);
  for (const RouteConfig& route : routes) {
    VirtualHost vhost{group->rules.data() + group->rules.size(),
                      static_cast<uint32_t>(route.paths.size())};
    for (const PathConfig& path : route.paths) {
      PathRule rule;
      const RequestMatchers& conditions = *path.extras->matchers;
      for (const std::string& method : conditions.methods)
        rule.methods |= uint64_t{1} << method_id(method);
      if (path.match == PathConfig::Match::kRegex || !conditions.headers.empty() ||
          !conditions.query.empty() || conditions.over_tls) {
        auto matchers = std::make_unique<RareMatchers>();
        matchers->over_tls = conditions.over_tls;
        if (path.match == PathConfig::Match::kRegex) matchers->regex = regexes.get(path.path);
        for (const ValueMatcher& matcher : conditions.headers) {
          matchers->headers.push_back(ValueRule{&matcher, matcher.kind == ValueMatcher::Kind::kRegex
                                                              ? regexes.get(matcher.value)
                                                              : nullptr});
        }
        for (const ValueMatcher& matcher : conditions.query) {
          matchers->query.push_back(ValueRule{&matcher, matcher.kind == ValueMatcher::Kind::kRegex
                                                            ? regexes.get(matcher.value)
                                                            : nullptr});
        }
        rule.matchers = std::move(matchers);
      }
      rule.action = compile_action(*group, config, route, path, cluster_index);
      const PathRateLimits& limits = *path.extras->rate_limits;
      if (limits.route.enabled() || limits.client.enabled()) {
        std::string key = bucket_key(route, path, bucket_keys);
        if (limits.route.enabled()) {
          rule.action.rate_limit_slot =
              name_slots.bucket_slot_for(key + limit_key("route", limits.route));
        }
        if (limits.client.enabled()) {
          rule.action.client_rate_limit_slot =
              name_slots.bucket_slot_for(key + limit_key("client", limits.client));
        }
      }
      if (!path.extras->name->empty())
        rule.action.metrics_slot = name_slots.slot_for(*path.extras->name);
      group->rules.push_back(std::move(rule));
    }
    group->hosts.push_back(vhost);
  }
  return group;
}

void RouteTable::index_hosts(const std::shared_ptr<const Group>& group,
                             const std::vector<RouteConfig>& routes, HostEntries& entries) {
  std::vector<PathKey>& keys = entries.keys.emplace_back();
  keys.reserve(group->rules.size());
  for (const PathRule& rule : group->rules)
    keys.push_back(key_for(rule));
  for (size_t i = 0; i < routes.size(); ++i) {
    const VirtualHost& vhost = group->hosts[i];
    std::span<const PathKey> host_keys(keys.data() + (vhost.first - group->rules.data()),
                                       vhost.count);
    for (const std::string& host : routes[i].hosts) {
      if (host == "*") {
        if (!catch_all_.name) set_catch_all(host_keys, group);
      } else if (host.starts_with("*.")) {
        entries.suffixes.push_back(
            {std::string_view(host).substr(1), host_keys.data(), vhost.count, group});
      } else {
        entries.exact.push_back({host, host_keys.data(), vhost.count, group});
      }
    }
  }
}

void RouteTable::set_catch_all(std::span<const PathKey> keys, std::shared_ptr<const Group> group) {
  if (group) {
    catch_all_keys_ = std::make_shared<const std::vector<PathKey>>(keys.begin(), keys.end());
    catch_all_ =
        HostIndex::Slot{"*", catch_all_keys_->data(), static_cast<uint32_t>(keys.size()), 1, 0};
  } else {
    catch_all_keys_ = nullptr;
    catch_all_ = HostIndex::Slot{};
  }
  catch_all_group_ = std::move(group);
}

void RouteTable::count_names(NamedRoutes& named, const std::vector<RouteConfig>& routes, int delta,
                             RouteNameSlots& name_slots) {
  for (const RouteConfig& route : routes) {
    for (const PathConfig& path : route.paths) {
      if (path.extras->name->empty()) continue;
      auto& [name, paths] = named.paths_by_slot[name_slots.slot_for(*path.extras->name)];
      name = *path.extras->name;
      paths += delta;
    }
  }
  std::erase_if(named.paths_by_slot, [](const auto& slot) { return slot.second.second == 0; });
  named.list.clear();
  for (const auto& [slot, name_and_paths] : named.paths_by_slot)
    named.list.emplace_back(slot, name_and_paths.first);
}

RouteTable::RouteTable(std::shared_ptr<const Config> config,
                       const std::unordered_map<std::string, uint32_t>& cluster_index,
                       RouteNameSlots* name_slots, std::span<const SharedRoutes> entries)
    : config_(std::move(config)) {
  RouteNameSlots own_slots;
  if (!name_slots) name_slots = &own_slots;
  auto named = std::make_shared<NamedRoutes>();
  HostEntries hosts;
  auto add = [&](std::shared_ptr<const void> source, const std::vector<RouteConfig>& routes) {
    std::shared_ptr<const Group> group =
        compile(std::move(source), routes, *config_, cluster_index, *name_slots);
    index_hosts(group, routes, hosts);
    count_names(*named, routes, 1, *name_slots);
    route_count_ += routes.size();
    return group;
  };
  base_ = add(config_, config_->routes);
  for (const SharedRoutes& entry : entries) {
    if (entry) add(entry, *entry);
  }
  exact_ = HostShards(std::move(hosts.exact), sizeof(PathKey));
  suffixes_ = HostShards(std::move(hosts.suffixes), sizeof(PathKey));
  named_ = std::move(named);
  route_slot_count_ = name_slots->count();
}

RouteTable::RouteTable(const RouteTable& previous, std::span<const RouteEntryChange> changes,
                       const std::unordered_map<std::string, uint32_t>& cluster_index,
                       RouteNameSlots& name_slots)
    : config_(previous.config_),
      base_(previous.base_),
      catch_all_(previous.catch_all_),
      catch_all_keys_(previous.catch_all_keys_),
      catch_all_group_(previous.catch_all_group_),
      named_(previous.named_),
      route_count_(previous.route_count_) {
  std::vector<std::string_view> dropped_exact;
  std::vector<std::string_view> dropped_suffixes;
  std::shared_ptr<NamedRoutes> named;  // copied once a change touches a named path
  auto recount = [&](const std::vector<RouteConfig>& routes, int delta) {
    bool any = std::any_of(routes.begin(), routes.end(), [](const RouteConfig& route) {
      return std::any_of(route.paths.begin(), route.paths.end(),
                         [](const PathConfig& path) { return !path.extras->name->empty(); });
    });
    if (!any) return;
    if (!named) named = std::make_shared<NamedRoutes>(*named_);
    count_names(*named, routes, delta, name_slots);
  };
  for (const RouteEntryChange& change : changes) {
    if (!change.before) continue;
    for (const RouteConfig& route : *change.before) {
      for (const std::string& host : route.hosts) {
        if (host == "*") continue;
        if (host.starts_with("*.")) {
          dropped_suffixes.push_back(std::string_view(host).substr(1));
        } else {
          dropped_exact.push_back(host);
        }
      }
    }
    if (catch_all_group_ && catch_all_group_->source == change.before) {
      set_catch_all({}, nullptr);
    }
    recount(*change.before, -1);
    route_count_ -= change.before->size();
  }
  HostEntries added;
  for (const RouteEntryChange& change : changes) {
    if (!change.after) continue;
    std::shared_ptr<const Group> group =
        compile(change.after, *change.after, *config_, cluster_index, name_slots);
    index_hosts(group, *change.after, added);
    recount(*change.after, 1);
    route_count_ += change.after->size();
  }
  exact_ = previous.exact_.patched(dropped_exact, std::move(added.exact));
  suffixes_ = previous.suffixes_.patched(dropped_suffixes, std::move(added.suffixes));
  if (named) named_ = std::move(named);
  route_slot_count_ = name_slots.count();
}

const HostIndex::Slot* RouteTable::find_host(std::string_view host) const {
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

  if (const HostIndex::Slot* found = exact_.find(name)) return found;
  // Longest wildcard suffix first: for a.b.example.com try .b.example.com, then .example.com, ...
  // A wildcard needs a label before its suffix, so a leading dot is not a boundary.
  if (suffixes_.size() != 0) {
    for (size_t dot = name.find('.', 1); dot != std::string_view::npos;
         dot = name.find('.', dot + 1)) {
      if (const HostIndex::Slot* found = suffixes_.find(name.substr(dot))) return found;
    }
  }
  return catch_all_.name ? &catch_all_ : nullptr;
}

RouteTable::PathKey RouteTable::key_for(const PathRule& rule) {
  // The host index copies a host's keys beside its name (HostShards' value_bytes).
  static_assert(std::is_trivially_copyable_v<PathKey> && sizeof(PathKey) % 8 == 0);
  const PathConfig& settings = *rule.action.settings;
  PathKey key;
  key.rule = &rule;
  key.flags = static_cast<uint8_t>(static_cast<uint8_t>(settings.match) & PathKey::kMatchBits);
  if (settings.segments) key.flags |= PathKey::kSegments;
  if (rule.methods != 0 || rule.matchers) key.flags |= PathKey::kMoreToCheck;
  if (settings.path.size() > PathKey::kInlineText) {
    key.flags |= PathKey::kTextInRule;
  } else {
    std::memcpy(key.text, settings.path.data(), settings.path.size());
    key.length = static_cast<uint8_t>(settings.path.size());
  }
  return key;
}

bool RouteTable::text_matches(PathConfig::Match match, bool segments, std::string_view wanted,
                              std::string_view path) {
  if (match == PathConfig::Match::kExact) return path == wanted;
  if (!path.starts_with(wanted)) return false;
  // Segment-aware: /v1 takes /v1 and /v1/x, never /v1x.
  return !segments || path.size() == wanted.size() || wanted.ends_with('/') ||
         path[wanted.size()] == '/';
}

bool RouteTable::path_matches(const PathRule& rule, std::string_view path) {
  const PathConfig& settings = *rule.action.settings;
  if (settings.match == PathConfig::Match::kRegex) {
    return RE2::FullMatch(re2::StringPiece(path.data(), path.size()), *rule.matchers->regex);
  }
  return text_matches(settings.match, settings.segments, settings.path, path);
}

bool RouteTable::key_matches(const PathKey& key, std::string_view path) {
  if ((key.flags & PathKey::kTextInRule) != 0) return path_matches(*key.rule, path);
  return text_matches(static_cast<PathConfig::Match>(key.flags & PathKey::kMatchBits),
                      (key.flags & PathKey::kSegments) != 0, std::string_view(key.text, key.length),
                      path);
}

bool RouteTable::headers_match(const RareMatchers& matchers, const http::MessageHead* request) {
  for (const ValueRule& value_rule : matchers.headers) {
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

bool RouteTable::query_matches(const RareMatchers& matchers, std::string_view query) {
  if (matchers.query.empty()) return true;
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  for (const ValueRule& value_rule : matchers.query) {
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

bool RouteTable::rule_matches(const PathRule& rule, const MatchInput& request) {
  if (rule.methods != 0 && (rule.methods & (uint64_t{1} << request.method)) == 0) return false;
  if (!path_matches(rule, request.path)) return false;
  if (rule.matchers) {
    const RareMatchers& matchers = *rule.matchers;
    if (matchers.over_tls && *matchers.over_tls != request.over_tls) return false;
    return headers_match(matchers, request.head) && query_matches(matchers, request.query);
  }
  return true;
}

const RouteAction* RouteTable::match(const MatchInput& request) const {
  const HostIndex::Slot* host = find_host(request.host);
  if (!host) return nullptr;
  for (const PathKey& key : std::span(static_cast<const PathKey*>(host->value), host->count)) {
    bool matches = (key.flags & PathKey::kMoreToCheck) != 0 ? rule_matches(*key.rule, request)
                                                            : key_matches(key, request.path);
    if (matches) return &key.rule->action;
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
