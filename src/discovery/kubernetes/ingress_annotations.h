// ingress-nginx's annotations (nginx.ingress.kubernetes.io/...) on an Ingress, read into what
// waygate applies to the Ingress's paths and backends; docs/config.md has the table.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace waygate::discovery::kubernetes {

// (The NOLINT: nlohmann::json's destructor, as for Backend in ingress_routes.cc.)
struct IngressAnnotations {                   // NOLINT(bugprone-exception-escape)
  std::optional<std::string> rewrite_target;  // replaces each Prefix path's prefix
  bool ssl_redirect = false;                  // plain-HTTP requests are redirected to https
  std::optional<uint64_t> max_body_bytes;     // 0: unlimited
  std::optional<uint64_t> read_timeout_s;     // the route's timeout
  std::vector<std::string> allow_from;        // CIDR blocks; empty: every client
  // The balancing of the Ingress's backends: null, or a cluster's hash_on ({header: X},
  // {cookie: X} or {client_address: true}), with a label for the cluster's name.
  nlohmann::json hash_on;
  std::string hash_label;  // "header x-user"
  bool canary = false;     // the Ingress's backends take canary_weight/canary_total of its paths
  uint32_t canary_weight = 0;
  uint32_t canary_total = 100;
};

// `annotations` is metadata.annotations (or null). nullopt with *error when one asks for what
// waygate cannot do, so the Ingress is better left out than routed otherwise; `notes` gets one
// line for each annotation read but not applied, and one listing the unknown ones.
std::optional<IngressAnnotations> read_annotations(const nlohmann::json* annotations,
                                                   std::string* error,
                                                   std::vector<std::string>* notes);

}  // namespace waygate::discovery::kubernetes
