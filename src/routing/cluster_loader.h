// Reading the `clusters:` list: names, endpoints (IP literals or host names) and the discovery
// sources each cluster takes endpoints from; and the etcd source shape that routes_source shares.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "routing/config.h"
#include "routing/yaml_reader.h"

namespace waygate::routing {

// `names` collects cluster names across documents (the file and routes_source), so a duplicate is
// found wherever it is. Relative file paths are resolved against `base_directory`. `taken`, when
// given, holds the names other documents define (a routes_dir's files), as in read_routes.
void read_clusters(Reader& r, const yaml::Node& node, const std::string& base_directory,
                   std::set<std::string>& names, Config& config, const NameClaims& taken = {});

// { endpoints: [http://IP:PORT, ...], <key_name>: /key }
void read_etcd_source(Reader& r, const yaml::Node& node, const std::string& what,
                      const char* key_name, EtcdSourceConfig& out);

// A DNS-1123 label, as Kubernetes wants namespace and Service names: lower-case letters, digits
// and '-', starting and ending with a letter or digit, at most 63 characters.
bool is_dns_label(std::string_view name);
// Labels joined by '.', at most 253 characters: most Kubernetes object names (an IngressClass).
bool is_dns_subdomain(std::string_view name);

// A DNS resolver address: "127.0.0.1:5353" or "[::1]:53".
void read_resolver(Reader& r, const yaml::Node& node, const std::string& what, std::string& out);

}  // namespace waygate::routing
