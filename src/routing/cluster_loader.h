// Reading the `clusters:` list: names, endpoints (IP literals or host names) and the discovery
// sources each cluster takes endpoints from; and the etcd source shape that routes_source shares.
#pragma once

#include <set>
#include <string>

#include "routing/config.h"
#include "routing/yaml_reader.h"

namespace waygate::routing {

// `names` collects cluster names across documents (the file and routes_source), so a duplicate is
// found wherever it is. Relative file paths are resolved against `base_directory`.
void read_clusters(Reader& r, const yaml::Node& node, const std::string& base_directory,
                   std::set<std::string>& names, Config& config);

// { endpoints: [http://IP:PORT, ...], <key_name>: /key }
void read_etcd_source(Reader& r, const yaml::Node& node, const std::string& what,
                      const char* key_name, EtcdSourceConfig& out);

// A DNS resolver address: "127.0.0.1:5353" or "[::1]:53".
void read_resolver(Reader& r, const yaml::Node& node, const std::string& what, std::string& out);

}  // namespace waygate::routing
