#include "proxy/reloader.h"

#include "core/log.h"
#include "proxy/server.h"
#include "routing/config_loader.h"
#include "routing/config_watcher.h"

namespace waygate::proxy {

Reloader::Reloader(std::string path, Server& server, discovery::DiscoveryManager& discovery,
                   std::shared_ptr<const routing::Config> running, uint64_t text_hash,
                   uint64_t tls_files_hash)
    : path_(std::move(path)),
      server_(server),
      discovery_(discovery),
      running_(std::move(running)),
      running_hash_(text_hash),
      running_tls_hash_(tls_files_hash) {
  log_certificate_changes(*running_);
}

Reloader::Outcome Reloader::reload(std::string_view trigger) {
  std::vector<routing::ConfigSource> extras;
  if (extra_) extras.push_back(*extra_);
  routing::ConfigResult loaded = routing::load_config_file(path_, extras);
  // The file no longer names the routes_source the value came from: read it alone.
  if (extra_ && loaded.ok() && routing::routes_source_name(loaded.config) != extra_->name) {
    extra_.reset();
    loaded = routing::load_config_file(path_);
  }
  if (!loaded.ok()) return refuse(trigger, loaded.errors);
  uint64_t hash = loaded.text_hash;
  if (hash == running_hash_ && loaded.tls_files_hash == running_tls_hash_) {
    WG_LOG_INFO("reload (%.*s) skipped: %s is unchanged", static_cast<int>(trigger.size()),
                trigger.data(), path_.c_str());
    return {Result::kUnchanged, ""};
  }
  routing::Config& next = loaded.config;
  bool restart_settings_changed = next.workers != running_->workers ||
                                  next.admin.address_text != running_->admin.address_text ||
                                  next.admin.token != running_->admin.token;
  next.workers = running_->workers;
  next.admin = running_->admin;
  auto shared = std::make_shared<const routing::Config>(std::move(next));
  std::string error;
  std::vector<std::string> errors;
  routing::EndpointsByCluster endpoints = discovery_.prepare(*shared, &errors);
  if (!errors.empty()) {
    discovery_.discard();
    return refuse(trigger, errors);
  }
  if (!server_.apply(shared, endpoints, &error)) {
    discovery_.discard();
    return refuse(trigger, {error});
  }
  discovery_.commit();
  if (restart_settings_changed) {
    WG_LOG_WARN("workers and admin changes in %s take a restart; the rest is applied",
                path_.c_str());
  }
  log_set_level(shared->log_level);
  log_certificate_changes(*shared);
  running_ = std::move(shared);
  running_hash_ = hash;
  running_tls_hash_ = loaded.tls_files_hash;
  ++applied_;
  WG_LOG_INFO("reloaded %s (%.*s)", path_.c_str(), static_cast<int>(trigger.size()),
              trigger.data());
  return {Result::kReloaded, ""};
}

void Reloader::log_certificate_changes(const routing::Config& next) {
  std::unordered_map<std::string, uint64_t> hashes;
  for (const routing::ListenerConfig& listener : next.listeners) {
    if (!listener.tls) continue;
    hashes[listener.name] = listener.tls->files_hash;
    auto it = certificate_hashes_.find(listener.name);
    if (it != certificate_hashes_.end() && it->second != listener.tls->files_hash) {
      WG_LOG_INFO("tls: listener %s: certificates reloaded", listener.name.c_str());
    }
  }
  certificate_hashes_ = std::move(hashes);
}

Reloader::Outcome Reloader::refuse(std::string_view trigger,
                                   const std::vector<std::string>& errors) {
  ++refused_;
  std::string message;
  for (const std::string& error : errors) {
    WG_LOG_ERROR("reload (%.*s) refused: %s", static_cast<int>(trigger.size()), trigger.data(),
                 error.c_str());
    message.append(error).append("\n");
    // A certificate that cannot serve says so in the words an operator looks for.
    size_t at = error.find(": listener ");
    if (at != std::string::npos && error.find(": certificate refused: ", at) != std::string::npos) {
      WG_LOG_ERROR("tls: %s; the old ones keep serving", error.c_str() + at + 2);
    }
  }
  WG_LOG_ERROR("still serving the previous config (%llu reloads refused, %llu applied so far)",
               static_cast<unsigned long long>(refused_),
               static_cast<unsigned long long>(applied_));
  return {Result::kRefused, message};
}

}  // namespace waygate::proxy
