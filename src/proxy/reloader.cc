#include "proxy/reloader.h"

#include "core/log.h"
#include "proxy/server.h"
#include "routing/config_loader.h"
#include "routing/config_watcher.h"

namespace waygate::proxy {

Reloader::Reloader(std::string path, Server& server, discovery::DiscoveryManager& discovery,
                   const routing::Config& running, std::string_view running_text)
    : path_(std::move(path)),
      server_(server),
      discovery_(discovery),
      routes_source_(running.routes_source),
      workers_(running.workers),
      access_log_(running.access_log),
      admin_address_(running.admin.address_text),
      running_hash_(routing::content_hash(running_text)) {}

Reloader::Outcome Reloader::reload(std::string_view trigger) {
  std::vector<routing::ConfigSource> extras;
  if (extra_) extras.push_back(*extra_);
  routing::ConfigResult loaded = routing::load_config_file(path_, extras);
  // The file no longer names the routes_source the value came from: read it alone.
  if (extra_ && loaded.ok() &&
      (!loaded.config.routes_source ||
       "etcd:" + loaded.config.routes_source->key != extra_->name)) {
    extra_.reset();
    loaded = routing::load_config_file(path_);
  }
  if (!loaded.ok()) return refuse(trigger, loaded.errors);
  uint64_t hash = routing::content_hash(loaded.text);
  if (hash == running_hash_) {
    WG_LOG_INFO("reload (%.*s) skipped: %s is unchanged", static_cast<int>(trigger.size()),
                trigger.data(), path_.c_str());
    return {Result::kUnchanged, ""};
  }
  std::string error;
  routing::EndpointsByCluster endpoints = discovery_.prepare(loaded.config);
  if (!server_.apply(loaded.config, endpoints, &error)) {
    discovery_.discard();
    return refuse(trigger, {error});
  }
  discovery_.commit();
  routes_source_ = loaded.config.routes_source;
  const routing::Config& next = loaded.config;
  if (next.workers != workers_ || next.access_log != access_log_ ||
      next.admin.address_text != admin_address_) {
    WG_LOG_WARN("workers, access_log and admin changes in %s take a restart; the rest is applied",
                path_.c_str());
  }
  running_hash_ = hash;
  ++applied_;
  WG_LOG_INFO("reloaded %s (%.*s)", path_.c_str(), static_cast<int>(trigger.size()),
              trigger.data());
  return {Result::kReloaded, ""};
}

Reloader::Outcome Reloader::refuse(std::string_view trigger,
                                   const std::vector<std::string>& errors) {
  ++refused_;
  std::string message;
  for (const std::string& error : errors) {
    WG_LOG_ERROR("reload (%.*s) refused: %s", static_cast<int>(trigger.size()), trigger.data(),
                 error.c_str());
    message.append(error).append("\n");
  }
  WG_LOG_ERROR("still serving the previous config (%llu reloads refused, %llu applied so far)",
               static_cast<unsigned long long>(refused_),
               static_cast<unsigned long long>(applied_));
  return {Result::kRefused, message};
}

}  // namespace waygate::proxy
