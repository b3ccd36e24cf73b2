#include "routing/route_table.h"

namespace waygate::routing {
namespace {

constexpr size_t kMaxHostLength = 255;

// The path part of a request target: origin-form "/a?b" gives "/a"; absolute-form
// "http://h/a" gives "/a".
std::string_view target_path(std::string_view target) {
  if (!target.empty() && target.front() != '/') {
    size_t scheme = target.find("://");
    if (scheme != std::string_view::npos) {
      size_t slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  size_t query = target.find_first_of("?#");
  return query == std::string_view::npos ? target : target.substr(0, query);
}

}  // namespace

RouteTable::RouteTable(const Config& config,
                       const std::unordered_map<std::string, uint32_t>& cluster_index) {
  for (const RouteConfig& route : config.routes) {
    VirtualHost vhost;
    for (const PathConfig& path : route.paths) {
      RouteAction action;
      action.cluster_index = cluster_index.at(path.cluster);
      action.upstream_response_ms = path.timeout_ms.value_or(config.timeouts.upstream_response_ms);
      action.max_body_bytes = path.max_body_bytes.value_or(config.limits.max_body_bytes);
      vhost.paths.push_back(PathRule{path.match, path.path, action});
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
  for (size_t dot = name.find('.'); dot != std::string_view::npos; dot = name.find('.', dot + 1)) {
    if (auto it = suffixes_.find(name.substr(dot)); it != suffixes_.end()) {
      return &hosts_[it->second];
    }
  }
  return catch_all_ >= 0 ? &hosts_[static_cast<size_t>(catch_all_)] : nullptr;
}

const RouteAction* RouteTable::match(std::string_view host, std::string_view target) const {
  const VirtualHost* vhost = find_host(host);
  if (!vhost) return nullptr;
  std::string_view path = target_path(target);
  for (const PathRule& rule : vhost->paths) {
    bool matched =
        rule.match == PathConfig::Match::kExact ? path == rule.path : path.starts_with(rule.path);
    if (matched) return &rule.action;
  }
  return nullptr;
}

}  // namespace waygate::routing
