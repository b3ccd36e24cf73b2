// A cluster's endpoints from etcd: every key under a prefix is one endpoint whose value is JSON,
// {"address": "10.0.0.7", "port": 8080, "weight": 1}. A bad value is skipped with a warning naming
// its key; etcd being unreachable keeps the last endpoints.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "discovery/etcd_watcher.h"
#include "discovery/provider.h"
#include "routing/config.h"

namespace waygate::discovery {

class EtcdProvider final : public Provider {
 public:
  EtcdProvider(std::string cluster, ProviderSink& sink, uv_loop_t* loop,
               const routing::EtcdSourceConfig& source);

  void start() override { watcher_.start(); }
  std::string describe() const override { return "etcd " + prefix_; }

  // The endpoint a value describes, or nullopt with *error saying what is wrong.
  static std::optional<routing::EndpointSpec> parse_value(const std::string& value,
                                                          std::string* error);

 private:
  void on_update(const EtcdWatcher::Keys& keys, const std::vector<EtcdWatcher::Change>& changes,
                 bool first);

  std::string prefix_;
  EtcdWatcher watcher_;
  // Each key's endpoint as last parsed (nullopt: a bad value), so a change parses only the keys
  // it touches: a cluster of thousands of keys costs one parse per changed key.
  std::map<std::string, std::optional<routing::EndpointSpec>> parsed_;
  bool synced_ = false;
};

}  // namespace waygate::discovery
