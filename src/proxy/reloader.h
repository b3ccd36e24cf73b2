// Applies the config to the running server, whatever asked for it (SIGHUP, the file changing on
// disk, POST /reload, a routes_source change in etcd): read the file (and the routes_source value),
// validate, let discovery set up the sources, build a snapshot, hand it to the workers. A config
// that fails validation changes nothing; one whose text did not change is skipped, keeping pools
// warm.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "discovery/discovery_manager.h"
#include "routing/config.h"
#include "routing/config_loader.h"

namespace waygate::proxy {

class Server;

class Reloader {
 public:
  enum class Result { kReloaded, kUnchanged, kRefused };
  struct Outcome {
    Result result;
    std::string message;  // for kRefused: every error, one "file:line:col: message" per line
  };

  // `running` is the config the server was started with (shared with its snapshot), `text_hash`
  // and `tls_files_hash` those of its ConfigResult.
  Reloader(std::string path, Server& server, discovery::DiscoveryManager& discovery,
           std::shared_ptr<const routing::Config> running, uint64_t text_hash,
           uint64_t tls_files_hash);

  // Runs on the control thread. `trigger` names the cause in the log ("SIGHUP", "file", "admin").
  Outcome reload(std::string_view trigger);

  // The routes_source value to merge with the file from now on (nullopt: none).
  void set_extra_source(std::optional<routing::ConfigSource> source) { extra_ = std::move(source); }
  // The config in force: the last one applied, with the settings only a restart changes
  // (workers, access_log, admin) as the process started with them.
  const routing::Config& config() const { return *running_; }
  // The routes_source the running config names.
  const std::optional<routing::EtcdSourceConfig>& routes_source() const {
    return running_->routes_source;
  }

  // The content hash of the config running now (routing::content_hash).
  uint64_t running_hash() const { return running_hash_; }
  // The certificate, key and CA files of the config running now.
  const std::vector<std::string>& tls_files() const { return running_->tls_files; }
  uint64_t applied() const { return applied_; }
  uint64_t refused() const { return refused_; }

 private:
  Outcome refuse(std::string_view trigger, const std::vector<std::string>& errors);
  // Logs each TLS listener whose certificate files changed, and remembers them all.
  void log_certificate_changes(const routing::Config& next);

  std::string path_;
  Server& server_;
  discovery::DiscoveryManager& discovery_;
  std::optional<routing::ConfigSource> extra_;
  // The same object the current snapshot's route table points into: a large config is kept once.
  std::shared_ptr<const routing::Config> running_;
  uint64_t running_hash_;
  uint64_t running_tls_hash_;
  std::unordered_map<std::string, uint64_t> certificate_hashes_;  // by TLS listener name
  uint64_t applied_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace waygate::proxy
