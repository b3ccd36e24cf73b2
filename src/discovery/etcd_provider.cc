#include "discovery/etcd_provider.h"

#include <nlohmann/json.hpp>

#include "core/log.h"
#include "discovery/dns_provider.h"
#include "routing/yaml_reader.h"

namespace waygate::discovery {
namespace {

EtcdWatcher::Options watcher_options(const routing::EtcdSourceConfig& source) {
  EtcdWatcher::Options options;
  options.endpoints = source.endpoints;
  options.key = source.key;
  options.prefix = true;
  return options;
}

}  // namespace

EtcdProvider::EtcdProvider(std::string cluster, ProviderSink& sink, uv_loop_t* loop,
                           const routing::EtcdSourceConfig& source)
    : Provider(std::move(cluster), sink),
      prefix_(source.key),
      watcher_(
          loop, watcher_options(source),
          [this](const EtcdWatcher::Keys& keys, const std::vector<EtcdWatcher::Change>& changes,
                 uint64_t, bool) {
            on_update(keys, changes, !synced_);
            synced_ = true;
          },
          [this](const std::string& error) { keep_after_failure(error); }) {}

std::optional<routing::EndpointSpec> EtcdProvider::parse_value(const std::string& value,
                                                               std::string* error) {
  nlohmann::json json = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    *error = "the value is not a JSON object";
    return std::nullopt;
  }
  auto address = json.find("address");
  auto port = json.find("port");
  if (address == json.end() || !address->is_string()) {
    *error = "\"address\" must be a string";
    return std::nullopt;
  }
  if (port == json.end() || !port->is_number_unsigned() || *port == 0 || *port > 65535) {
    *error = "\"port\" must be a number from 1 to 65535";
    return std::nullopt;
  }
  uint32_t weight = 1;
  if (auto found = json.find("weight"); found != json.end()) {
    if (!found->is_number_unsigned() || *found == 0 || *found > 1'000'000) {
      *error = "\"weight\" must be a number from 1 to 1000000";
      return std::nullopt;
    }
    weight = found->get<uint32_t>();
  }
  auto endpoint = endpoint_at(address->get<std::string>(), port->get<uint16_t>(), weight);
  if (!endpoint) {
    *error = "\"address\" is not an IP address";
    return std::nullopt;
  }
  if (auto zone = json.find("zone"); zone != json.end() && zone->is_string()) {
    endpoint->zone = zone->get<std::string>();
  }
  return endpoint;
}

void EtcdProvider::on_update(const EtcdWatcher::Keys& keys,
                             const std::vector<EtcdWatcher::Change>& changes, bool first) {
  auto parse = [&](const std::string& key, const std::string& value) {
    std::string error;
    std::optional<routing::EndpointSpec> endpoint = parse_value(value, &error);
    if (!endpoint) {
      WG_LOG_WARN("discovery: cluster %s, %s: key %s: %s; skipped", cluster().c_str(),
                  describe().c_str(), routing::quoted_value(key).c_str(), error.c_str());
    }
    parsed_[key] = std::move(endpoint);
  };
  if (first) {
    parsed_.clear();
    for (const auto& [key, value] : keys)
      parse(key, value);
  } else {
    for (const EtcdWatcher::Change& change : changes) {
      auto value = keys.find(change.key);
      if (value == keys.end()) {
        parsed_.erase(change.key);
      } else {
        parse(change.key, value->second);
      }
    }
  }
  std::vector<routing::EndpointSpec> endpoints;
  endpoints.reserve(parsed_.size());
  for (const auto& [key, endpoint] : parsed_) {
    if (endpoint) endpoints.push_back(*endpoint);
  }
  report(std::move(endpoints));
}

}  // namespace waygate::discovery
