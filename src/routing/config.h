// The validated configuration, as the YAML file states it (see docs/config.md). The control thread
// turns it into a Snapshot for the workers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/socket_address.h"

namespace waygate::routing {

struct Timeouts {
  uint64_t header_read_ms = 10'000;
  uint64_t downstream_idle_ms = 60'000;
  uint64_t upstream_connect_ms = 5'000;
  uint64_t upstream_response_ms = 30'000;
  uint64_t upstream_idle_ms = 30'000;
  uint64_t drain_ms = 30'000;
};

struct Limits {
  uint64_t max_header_bytes = 32 * 1024;
  uint64_t max_uri_bytes = 8 * 1024;
  uint64_t max_body_bytes = 0;  // 0: unlimited
  uint64_t max_connections_per_worker = 10'000;
  uint64_t max_idle_upstream_per_endpoint = 32;
};

struct ListenerConfig {
  std::string name;
  std::string address_text;
  SocketAddress address;
};

struct PathConfig {
  enum class Match : uint8_t { kPrefix, kExact };
  Match match = Match::kPrefix;
  std::string path;
  std::string cluster;
  std::optional<uint64_t> timeout_ms;
  std::optional<uint64_t> max_body_bytes;
};

struct RouteConfig {
  std::vector<std::string> hosts;
  std::vector<PathConfig> paths;
};

struct EndpointConfig {
  std::string address_text;
  SocketAddress address;
};

struct ClusterConfig {
  std::string name;
  std::vector<EndpointConfig> endpoints;
};

struct Config {
  unsigned workers = 0;  // 0: one per core
  std::string access_log = "stdout";
  Timeouts timeouts;
  Limits limits;
  std::vector<ListenerConfig> listeners;
  std::vector<RouteConfig> routes;
  std::vector<ClusterConfig> clusters;
};

}  // namespace waygate::routing
