#include "discovery/kubernetes/route_documents.h"

#include <nlohmann/json.hpp>

#include <set>

namespace waygate::discovery::kubernetes {

std::string merge_route_documents(const std::string& first, const std::string& second) {
  if (first.empty()) return second;
  if (second.empty()) return first;
  using Json = nlohmann::json;
  // Both are made by waygate (ingress_routes, gateway_routes): well-formed, with arrays.
  Json merged = Json::parse(first);
  Json other = Json::parse(second);
  std::set<std::string> hosts;
  for (const Json& route : merged["routes"]) {
    for (const Json& host : route["hosts"])
      hosts.insert(host.get<std::string>());
  }
  for (Json& route : other["routes"]) {
    bool taken = false;
    for (const Json& host : route["hosts"])
      taken = taken || hosts.count(host.get<std::string>()) > 0;
    if (!taken) merged["routes"].push_back(std::move(route));
  }
  std::set<std::string> clusters;
  for (const Json& cluster : merged["clusters"])
    clusters.insert(cluster["name"].get<std::string>());
  for (Json& cluster : other["clusters"]) {
    if (clusters.insert(cluster["name"].get<std::string>()).second) {
      merged["clusters"].push_back(std::move(cluster));
    }
  }
  return merged.dump(1);
}

}  // namespace waygate::discovery::kubernetes
