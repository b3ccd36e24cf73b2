// The compiled route table: host lookup by hash for exact names and by suffix hash for wildcards,
// so a lookup costs the same with ten virtual hosts or a hundred thousand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "routing/config.h"

namespace waygate::routing {

// What to do with a request that matched.
struct RouteAction {
  uint32_t cluster_index = 0;
  uint64_t upstream_response_ms = 0;
  uint64_t max_body_bytes = 0;  // 0: unlimited
};

class RouteTable {
 public:
  // `cluster_index` maps a cluster name to its index in the snapshot.
  RouteTable(const Config& config, const std::unordered_map<std::string, uint32_t>& cluster_index);

  // The action for a Host header value (any case, port ignored) and a request target, or null.
  const RouteAction* match(std::string_view host, std::string_view target) const;

 private:
  struct PathRule {
    PathConfig::Match match;
    std::string path;
    RouteAction action;
  };
  struct VirtualHost {
    std::vector<PathRule> paths;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using HostIndex = std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>>;

  const VirtualHost* find_host(std::string_view host) const;

  std::vector<VirtualHost> hosts_;
  HostIndex exact_;     // "api.example.com"
  HostIndex suffixes_;  // "*.example.com" stored as ".example.com"
  int32_t catch_all_ = -1;
};

}  // namespace waygate::routing
