// Applies the config to the running server, whatever asked for it (SIGHUP, the file changing on
// disk, POST /reload, a routes_source change in etcd): read the file (and the routes_source value),
// validate, let discovery set up the sources, build a snapshot, hand it to the workers. A config
// that fails validation changes nothing; one whose text did not change is skipped, keeping pools
// warm.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "discovery/discovery_manager.h"
#include "routing/config.h"
#include "routing/config_loader.h"
#include "routing/route_entries.h"
#include "routing/route_table.h"

namespace waygate::proxy {

class Server;

class Reloader {
 public:
  enum class Result { kReloaded, kUnchanged, kRefused };
  struct Outcome {
    Result result;
    std::string message;  // for kRefused: every error, one "file:line:col: message" per line
  };

  // One routes_dir file's change (see reload_routes_files).
  struct FileOutcome {
    std::string name;  // in the directory
    Result result;
    std::string message;  // kRefused: its errors, one per line; kReloaded: what was applied
  };
  // A route entry's new content (a routes_dir file, an etcd key); nullopt: it was deleted.
  struct FileContent {
    std::string name;
    std::optional<std::string> text;
    uint64_t revision = 0;  // etcd: the key's mod_revision
  };

  // `running` is the config the server was started with (shared with its snapshot): `base` merged
  // with the clusters of `routes_dir`'s files (nullptr without a routes_dir), whose routes the
  // route table holds apart. `text_hash` and `tls_files_hash` are
  // those of base's ConfigResult.
  Reloader(std::string path, Server& server, discovery::DiscoveryManager& discovery,
           std::shared_ptr<const routing::Config> running, routing::Config base,
           std::unique_ptr<routing::RouteEntries> routes_dir, uint64_t text_hash,
           uint64_t tls_files_hash);

  // Reads the routes_dir a freshly loaded config names, every file (a refused one is logged and
  // left out); for a routes_source.etcd.prefix, its entries, empty until its watcher reads them;
  // nullptr without either.
  static std::unique_ptr<routing::RouteEntries> read_routes_dir(const routing::Config& base,
                                                                const std::string& path);

  // Runs on the control thread. `trigger` names the cause in the log ("SIGHUP", "file", "admin").
  // Reads the file, the routes_source value and the routes_dir files that changed.
  Outcome reload(std::string_view trigger);
  // Applies changed routes_dir files alone: each is validated on its own and refused alone; the
  // others are not read again. `everything`: read every file of the directory (an event may have
  // been missed). Publishes once for all of them.
  std::vector<FileOutcome> reload_routes_files(std::vector<FileContent> changes, bool everything,
                                               std::string_view trigger);
  // The route entries in force (a routes_dir, or an etcd prefix's); nullptr without.
  const routing::RouteEntries* route_entries() const { return route_entries_.get(); }

  // The routes_source value to merge with the file from now on (nullopt: none).
  void set_extra_source(std::optional<routing::ConfigSource> source) { extra_ = std::move(source); }
  // The config in force: the last one applied, with the settings only a restart changes
  // (workers, access_log, admin) as the process started with them. Its routes are the file's (and
  // routes_source's): the route entries' are in route_entries().
  // After a change to route entries' clusters, its cluster list is brought up to date here, on
  // the first read: a change costs what it changed, and a read of every cluster pays for them.
  const routing::Config& config() const;
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
  Outcome skip_unchanged(std::string_view trigger);
  // Logs and counts a routes_dir file that was refused alone.
  void refuse_file(std::string_view trigger, const routing::RouteEntries& dir,
                   const std::string& name);
  // Hands `next` to discovery and the workers, with the routes of `entries` (null: none); an
  // error text, or empty once it serves.
  std::string publish(std::shared_ptr<const routing::Config> next,
                      const routing::RouteEntries* entries);
  // Hands discovery, the topology and the workers a change to route entries that define clusters:
  // `clusters` added or changed, `removed` gone, and the entries' routes (`changes`) patched in,
  // each at the cost of what changed. An error text (a source that cannot work), or empty once it
  // serves.
  std::string publish_entry_clusters(std::span<const routing::ClusterConfig* const> clusters,
                                     std::span<const std::string> removed,
                                     std::span<const routing::RouteEntryChange> changes);
  // Whether the file (its bytes `text`, read once for this and the parse), with `extras`, and the
  // TLS files are those running: known without parsing, so the file watcher and a SIGHUP or POST
  // /reload for the same edit parse it once. Not with route entries, whose sources reload() reads
  // again in any case.
  // `tls_bytes_hash`: the running config's TLS files and the extras' certificates as they are
  // now (tls_inputs_hash).
  bool unchanged_on_disk(const std::optional<std::string>& text,
                         const std::vector<routing::ConfigSource>& extras,
                         std::optional<uint64_t> tls_bytes_hash) const;
  // Logs each TLS listener whose certificate files changed, and remembers them all.
  void log_certificate_changes(const routing::Config& next);

  std::string path_;
  Server& server_;
  discovery::DiscoveryManager& discovery_;
  std::optional<routing::ConfigSource> extra_;
  // The same object the current snapshot's route table points into: a large config is kept once.
  // A change to route entries' routes alone leaves it as it is.
  // A change to route entries' clusters leaves its clusters as they were (`clusters_stale_`) until
  // config() is read: its settings are those in force all the same. Mutable for that catch-up.
  mutable std::shared_ptr<const routing::Config> running_;
  mutable bool clusters_stale_ = false;
  routing::Config base_;  // the file and routes_source, before the routes_dir files are merged
  std::unique_ptr<routing::RouteEntries> route_entries_;
  uint64_t running_hash_;
  uint64_t running_tls_hash_;
  // The bytes of the running config's TLS files (routing::Config::tls_files) and its extras'
  // certificates, as read before it was loaded; unknown until the first reload, which therefore
  // always parses.
  std::optional<uint64_t> running_tls_bytes_hash_;
  std::unordered_map<std::string, uint64_t> certificate_hashes_;  // by TLS listener name
  uint64_t applied_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace waygate::proxy
