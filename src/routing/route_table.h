// The compiled route table: host lookup by hash for exact names and by suffix hash for wildcards,
// so a lookup costs the same with ten virtual hosts or a hundred thousand; then the host's paths in
// file order, the first whose every matcher holds.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "http/message_head.h"
#include "routing/config.h"
#include "routing/host_shards.h"

namespace re2 {
class RE2;
}

namespace waygate::routing {

// Conditions a route retries on (RetryConfig::on, compiled to bits).
inline constexpr uint16_t kRetryConnectFailure = 1 << 0;
inline constexpr uint16_t kRetryReset = 1 << 1;
inline constexpr uint16_t kRetryTimeout = 1 << 2;
inline constexpr uint16_t kRetry5xx = 1 << 3;
inline constexpr uint16_t kRetry502 = 1 << 4;
inline constexpr uint16_t kRetry503 = 1 << 5;
inline constexpr uint16_t kRetry504 = 1 << 6;

// What to do with a request that matched: what is computed from the config for each request
// (cluster picks, timeouts, retry conditions), and the path's own settings for the rest.
struct RouteAction {
  enum class Kind : uint8_t { kForward, kRedirect, kRespond };
  struct ClusterChoice {
    uint32_t cluster_index;
    uint32_t weight_end;  // cumulative: this cluster takes picks below weight_end
  };

  // The cluster for a pick in [0, total_weight).
  uint32_t cluster_for(uint32_t pick) const;
  // Whether the path's `allow_from` admits a client at this address (IPv4 as IPv4-mapped IPv6).
  bool admits(const std::array<uint8_t, 16>& client) const;
  // A redirect's body: "301 Moved Permanently\n" (one text per code, not one per route).
  std::string_view redirect_body() const;
  // A prefix match's prefix, for rewrites; empty for other matches.
  std::string_view matched_prefix() const {
    return settings->match == PathConfig::Match::kPrefix ? std::string_view(settings->path)
                                                         : std::string_view();
  }

  // A table of 100,000 hosts holds several of these for each: the fields are ordered to pack,
  // and the text and cluster lists live in arrays of the table, viewed from here, so a path costs
  // no allocation of its own.

  // The path as configured, held by the snapshot: rewrites, header edits, upgrades, the redirect
  // and the response. Not copied, so a table of many hosts costs little more than its config.
  const PathConfig* settings = nullptr;
  // The access log's name for the route: its `name:`, else its first host and path
  // ("api.example.com/v1/").
  std::string_view log_name;
  std::span<const ClusterChoice> clusters;
  uint64_t upstream_response_ms = 0;
  uint64_t max_body_bytes = 0;      // 0: unlimited
  uint64_t per_try_timeout_ms = 0;  // 0: none
  // Routes with a `name:` are counted by it in GET /metrics, in this slot (RouteNameSlots); 0 for
  // the unnamed (a config of 100,000 domains need not pay for 100,000 series).
  uint32_t metrics_slot = 0;
  uint32_t total_weight = 0;
  uint32_t retry_attempts = 0;  // retries after the first try
  // The path's rate-limit buckets on each worker (RouteNameSlots::bucket_slot_for); 0: no such
  // limit. A reload that keeps the path and its limit keeps the slot, and so the bucket.
  uint32_t rate_limit_slot = 0;
  uint32_t client_rate_limit_slot = 0;
  uint16_t retry_on = 0;  // kRetry* bits
  Kind kind = Kind::kForward;
};

// Whether the route retries a response with this status.
bool retries_status(const RouteAction& route, uint16_t status);

// Appends the request target sent upstream when the route rewrites its prefix (path "/v1/users"
// and query "?x" with prefix "/v1/" rewritten to "/" give "/users?x").
void append_rewritten_target(std::string& out, const RouteAction& route, std::string_view path,
                             std::string_view query);
// Appends the Location of a redirect route for a request with this host, (normalised) path and
// query.
void append_redirect_location(std::string& out, const RouteAction& route, std::string_view host,
                              std::string_view path, std::string_view query);

// What a request is matched on: the host it addresses (Host, or an absolute-form target's
// authority), its normalised path, its query ("?a=b", or empty), its method and its headers.
struct MatchInput {
  std::string_view host;
  std::string_view path;
  std::string_view query;
  uint8_t method = 1;  // llhttp's HTTP_GET
  const http::MessageHead* head = nullptr;
  bool over_tls = false;  // came over a TLS listener
};

// Metric slots for route names, from 1, never reused while the process runs: a reload that adds,
// drops or reorders named routes leaves every name counting where it counted before. Control
// thread only.
class RouteNameSlots {
 public:
  uint32_t slot_for(const std::string& name) {
    auto [found, added] = slots_.try_emplace(name, static_cast<uint32_t>(slots_.size() + 1));
    return found->second;
  }
  // One more than the highest slot given: the size a table indexed by slot needs.
  uint32_t count() const { return static_cast<uint32_t>(slots_.size() + 1); }
  // Rate-limit bucket slots, from 1, by a key naming the path and its limit, never reused either:
  // a worker keeps a bucket by slot, so a reload that leaves a path's limit as it was leaves its
  // bucket as it was, and a changed limit starts a new, full one.
  uint32_t bucket_slot_for(const std::string& key) {
    auto [found, added] = buckets_.try_emplace(key, static_cast<uint32_t>(buckets_.size() + 1));
    return found->second;
  }

 private:
  std::unordered_map<std::string, uint32_t> slots_;
  std::unordered_map<std::string, uint32_t> buckets_;
};

// A route entry's routes before a change and after it (null: it had, or has, none).
struct RouteEntryChange {
  SharedRoutes before;
  SharedRoutes after;
};

class RouteTable {
 public:
  // `cluster_index` maps a cluster name to its index in the snapshot. The table keeps the config
  // and the entries: route actions point into their routes. `entries` are the route entries'
  // routes, after the config's own; each is compiled apart, so that a change to one recompiles
  // that one alone. Route names take their metric slots from `name_slots` (null: slots of this
  // table's own).
  RouteTable(std::shared_ptr<const Config> config,
             const std::unordered_map<std::string, uint32_t>& cluster_index,
             RouteNameSlots* name_slots = nullptr, std::span<const SharedRoutes> entries = {});
  // The same with a copy of `config` (tests and benchmarks).
  RouteTable(const Config& config, const std::unordered_map<std::string, uint32_t>& cluster_index,
             RouteNameSlots* name_slots = nullptr);
  // `previous` with the routes of some route entries changed, and nothing else (the config, the
  // clusters and their indexes are as they were). Gives the lookups a table built whole would,
  // as no host is routed by two entries, nor by an entry and the config (RouteEntries claims each
  // host once). Costs what the changed entries route, not what the table holds: the other
  // entries' compiled routes and the parts of the host index their hosts fall in are shared.
  RouteTable(const RouteTable& previous, std::span<const RouteEntryChange> changes,
             const std::unordered_map<std::string, uint32_t>& cluster_index,
             RouteNameSlots& name_slots);

  // The config the table was built from (without the entries' routes).
  const Config& config() const { return *config_; }
  // How many routes it holds, the config's and the entries'.
  size_t route_count() const { return route_count_; }

  // The action for a request, or null when no route matches.
  const RouteAction* match(const MatchInput& request) const;
  // The same for a request head as it came (origin-form target, path not normalised) or for a GET
  // with only a Host (tests and benchmarks).
  const RouteAction* match(const http::MessageHead& request) const;
  const RouteAction* match(std::string_view host, std::string_view target) const;
  // The route names counted in GET /metrics with their slots, each name once (paths that share a
  // name share its counters), and the size a table indexed by slot needs.
  const std::vector<std::pair<uint32_t, std::string>>& named_routes() const { return named_->list; }
  uint32_t route_slot_count() const { return route_slot_count_; }

 private:
  struct ValueRule {
    const ValueMatcher* matcher;
    std::shared_ptr<const re2::RE2> regex;
  };
  // What few paths have: a regex path, a scheme, header and query matchers. Apart, so the paths
  // without them pay a pointer.
  struct RareMatchers {
    std::optional<bool> over_tls;  // `scheme:`: https (true) or http (false) only
    std::shared_ptr<const re2::RE2> regex;
    std::vector<ValueRule> headers;
    std::vector<ValueRule> query;
  };
  struct PathRule {
    std::unique_ptr<const RareMatchers> matchers;  // null: none of them
    uint64_t methods = 0;                          // bit per llhttp method; 0: any
    RouteAction action;                            // action.settings: the path's matchers too
  };
  // What a lookup reads of a path, in 24 bytes that the host index copies beside the host's name
  // with its other paths': the match and its text, so that a host's paths cost one or two cache
  // lines next to its name and no walk through the rules and the config; the rule is read only
  // when the path has more to check or a longer text.
  struct PathKey {
    static constexpr size_t kInlineText = 14;
    static constexpr uint8_t kMatchBits = 0x3;       // PathConfig::Match
    static constexpr uint8_t kSegments = 1 << 2;     // PathConfig::segments
    static constexpr uint8_t kTextInRule = 1 << 3;   // longer than kInlineText
    static constexpr uint8_t kMoreToCheck = 1 << 4;  // methods or rare matchers: the whole rule
    const PathRule* rule = nullptr;
    char text[kInlineText] = {};
    uint8_t length = 0;
    uint8_t flags = 0;
  };
  // A route's paths.
  struct VirtualHost {
    const PathRule* first = nullptr;
    uint32_t count = 0;
  };
  // The compiled routes of one source: the config's own, or one route entry's. Shared by every
  // table that has that source as it was; the host index's entries keep it alive.
  struct Group {
    std::shared_ptr<const void> source;  // holds the RouteConfigs the rules point into
    // What the actions view: their log names, and their cluster lists. Sized
    // before the first action is made, so they never move.
    std::vector<char> texts;
    std::vector<RouteAction::ClusterChoice> cluster_choices;
    std::vector<PathRule> rules;
    std::vector<VirtualHost> hosts;  // one per route, in order
  };
  // The route names counted in GET /metrics, each slot with its name and how many paths bear it.
  struct NamedRoutes {
    std::map<uint32_t, std::pair<std::string, uint32_t>> paths_by_slot;
    std::vector<std::pair<uint32_t, std::string>> list;
  };
  // Where the index entries of a group's hosts go while a table is built.
  struct HostEntries {
    std::vector<HostShards::Entry> exact;
    std::vector<HostShards::Entry> suffixes;
    // The keys of each group's rules, in order, that the entries' values point to: the indexes
    // keep copies, so these go once the indexes are built.
    std::vector<std::vector<PathKey>> keys;
  };

  static std::shared_ptr<const Group> compile(
      std::shared_ptr<const void> source, const std::vector<RouteConfig>& routes,
      const Config& config, const std::unordered_map<std::string, uint32_t>& cluster_index,
      RouteNameSlots& name_slots);
  static RouteAction compile_action(Group& group, const Config& config, const RouteConfig& route,
                                    const PathConfig& path,
                                    const std::unordered_map<std::string, uint32_t>& cluster_index);
  static std::string_view keep_text(Group& group, std::string_view text);
  // Adds the group's hosts to `entries` (the catch-all: to the table, unless it has one).
  void index_hosts(const std::shared_ptr<const Group>& group,
                   const std::vector<RouteConfig>& routes, HostEntries& entries);
  // Counts the named paths of `routes` (-1: uncounts them).
  static void count_names(NamedRoutes& named, const std::vector<RouteConfig>& routes, int delta,
                          RouteNameSlots& name_slots);

  static PathKey key_for(const PathRule& rule);
  // The host's slot: its path keys (value, count).
  const HostIndex::Slot* find_host(std::string_view host) const;
  void set_catch_all(std::span<const PathKey> keys, std::shared_ptr<const Group> group);
  static bool path_matches(const PathRule& rule, std::string_view path);
  static bool text_matches(PathConfig::Match match, bool segments, std::string_view wanted,
                           std::string_view path);
  static bool key_matches(const PathKey& key, std::string_view path);
  static bool rule_matches(const PathRule& rule, const MatchInput& request);
  static bool headers_match(const RareMatchers& matchers, const http::MessageHead* request);
  static bool query_matches(const RareMatchers& matchers, std::string_view query);

  std::shared_ptr<const Config> config_;
  std::shared_ptr<const Group> base_;  // the config's own routes (kept even without hosts)
  // The indexes view the host names of the routes the groups hold: a name is stored once.
  HostShards exact_;           // "api.example.com"
  HostShards suffixes_;        // "*.example.com" stored as ".example.com"
  HostIndex::Slot catch_all_;  // "*": a slot as the indexes', name null while none routes it
  std::shared_ptr<const std::vector<PathKey>> catch_all_keys_;  // the slot's value
  std::shared_ptr<const Group> catch_all_group_;
  std::shared_ptr<const NamedRoutes> named_;
  uint32_t route_slot_count_ = 1;
  size_t route_count_ = 0;
};

}  // namespace waygate::routing
