// The compiled route table: host lookup by hash for exact names and by suffix hash for wildcards,
// so a lookup costs the same with ten virtual hosts or a hundred thousand; then the host's paths in
// file order, the first whose every matcher holds.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/message_head.h"
#include "routing/config.h"

namespace re2 {
class RE2;
}

namespace waygate::routing {

// What to do with a request that matched.
struct RouteAction {
  enum class Kind : uint8_t { kForward, kRedirect, kRespond };
  struct ClusterChoice {
    uint32_t cluster_index;
    uint32_t weight_end;  // cumulative: this cluster takes picks below weight_end
  };

  // The cluster for a pick in [0, total_weight).
  uint32_t cluster_for(uint32_t pick) const;

  Kind kind = Kind::kForward;
  std::vector<ClusterChoice> clusters;
  uint32_t total_weight = 0;
  uint64_t upstream_response_ms = 0;
  uint64_t max_body_bytes = 0;  // 0: unlimited
  std::string matched_prefix;   // a prefix match's prefix, for rewrites
  std::optional<std::string> rewrite_prefix;
  std::optional<std::string> rewrite_host;
  http::HeaderEdits request_headers;
  http::HeaderEdits response_headers;
  RetryConfig retry;
  RedirectConfig redirect;
  RespondConfig respond;
};

// The request target sent upstream when the route rewrites its prefix ("/v1/users?x" with prefix
// "/v1/" rewritten to "/" gives "/users?x").
std::string rewrite_target(const RouteAction& route, std::string_view target);
// The Location of a redirect route for a request with this Host and target.
std::string redirect_location(const RouteAction& route, std::string_view host,
                              std::string_view target);

class RouteTable {
 public:
  // `cluster_index` maps a cluster name to its index in the snapshot.
  RouteTable(const Config& config, const std::unordered_map<std::string, uint32_t>& cluster_index);

  // The action for a request, or null when no route matches.
  const RouteAction* match(const http::MessageHead& request) const;
  // The same for a GET with only a Host header (tests and benchmarks).
  const RouteAction* match(std::string_view host, std::string_view target) const;

 private:
  struct ValueRule {
    std::string name;
    ValueMatcher::Kind kind;
    std::string value;
    std::shared_ptr<const re2::RE2> regex;
  };
  struct PathRule {
    PathConfig::Match match;
    std::string path;
    bool segments = false;
    std::shared_ptr<const re2::RE2> regex;
    uint64_t methods = 0;  // bit per llhttp method; 0: any
    std::vector<ValueRule> headers;
    std::vector<ValueRule> query;
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
  const RouteAction* match(std::string_view host, std::string_view target, uint8_t method,
                           const http::MessageHead* request) const;
  static bool path_matches(const PathRule& rule, std::string_view path);
  static bool headers_match(const PathRule& rule, const http::MessageHead* request);
  static bool query_matches(const PathRule& rule, std::string_view target);

  std::vector<VirtualHost> hosts_;
  HostIndex exact_;     // "api.example.com"
  HostIndex suffixes_;  // "*.example.com" stored as ".example.com"
  int32_t catch_all_ = -1;
};

}  // namespace waygate::routing
