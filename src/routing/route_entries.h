// Route entries, each a YAML document holding `routes:` and optionally `clusters:` (one per domain
// or team), from one of two places: the files of a `routes_dir`, or the keys under an etcd prefix
// (`routes_source.etcd.prefix`). Each entry is validated on its own and kept parsed, so a change
// to one entry re-reads that entry only; a refused entry keeps its last good version.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "routing/config.h"
#include "routing/config_loader.h"

namespace waygate::routing {

// Whether a directory entry is a route file: `*.yaml` or `*.yml`, not hidden (editors' swap files,
// a ConfigMap's `..data`) and not a backup (`~`).
bool is_routes_file_name(std::string_view name);

class RouteEntries {
 public:
  // Where the entries live, and who reads them: a directory's files (rescan() reads them), or the
  // keys under an etcd prefix (a watcher hands each change to update()).
  enum class Backend : uint8_t { kDirectory, kEtcd };
  // One entry (a file of the directory, a key under the prefix) as last read.
  struct Entry {
    bool accepted = false;            // routes and clusters hold its last good version
    uint64_t accepted_hash = 0;       // of that version's bytes
    uint64_t accepted_revision = 0;   // etcd: that version's mod_revision
    uint64_t read_hash = 0;           // of the bytes last read (accepted or refused)
    std::vector<std::string> errors;  // why the bytes last read were refused; empty: they serve
    SharedRoutes routes;              // null: none (shared with the route tables)
    std::vector<ClusterConfig> clusters;
    // The routes, none when null.
    const std::vector<RouteConfig>& route_list() const {
      static const std::vector<RouteConfig> kNone;
      return routes ? *routes : kNone;
    }
  };
  enum class Change { kNone, kApplied, kRefused };

  // `directory` as the config resolved it; `base_directory` resolves the clusters' relative paths
  // (the config file's directory, as for routes_source).
  RouteEntries(std::string directory, std::string base_directory);
  // `location` is the directory, or the etcd prefix the entries' names follow.
  RouteEntries(Backend backend, std::string location, std::string base_directory);

  // The config (file and routes_source) the entries are merged with: their routes may name its
  // clusters, and none of its hosts or cluster names. Call before the first update and with every
  // config applied.
  void set_base(const Config& base, const std::string& base_name);
  // The errors the base would cause with the entries accepted now: a cluster an entry's routes name
  // that it no longer defines. (Hosts and cluster names the base claims are checked as it is
  // loaded, through taken().)
  std::vector<std::string> conflicts_with(const Config& base, const std::string& base_name) const;
  // The hosts and cluster names the accepted entries claim, for loading the base.
  TakenNames taken() const { return {{{&hosts_}}, {{&clusters_}}}; }

  // Reads `name` (a file name in the directory, a key after the prefix) again: `text` is its
  // content, nullopt when it is gone; `revision` its etcd mod_revision. kNone: the same bytes as
  // last read. kRefused: the errors are in entries().at(name).
  Change update(const std::string& name, const std::optional<std::string>& text,
                uint64_t revision = 0);
  // Puts back what entries().find(name) was before an update (nullopt: no entry), when the change
  // could not be applied after all.
  void restore(const std::string& name, std::optional<Entry> previous);
  // The errors `text` would have as `name`'s content; nothing changes.
  std::vector<std::string> validate(const std::string& name, const std::string& text) const;
  // Reads every route file the directory holds now (and forgets those it no longer holds). Returns
  // the names that changed, applied or refused; an unreadable directory is one error in *error,
  // and changes nothing. The etcd backend reads nothing here: its watcher brings every change.
  std::vector<std::string> rescan(std::string* error);
  // The route file names the directory holds now, sorted; an unreadable directory: *error. The
  // etcd backend: the names of the entries it has.
  std::vector<std::string> list(std::string* error) const;

  // The base with every accepted entry's clusters after its own, in name order. The entries'
  // routes are not copied into it: the route table takes them apart (entry_routes()), so that a
  // change to one entry recompiles that entry's routes alone.
  Config merged(const Config& base) const;
  // Every accepted entry's routes, in name order (the order merged() gives their clusters).
  std::vector<SharedRoutes> entry_routes() const;

  Backend backend() const { return backend_; }
  // The directory, or the etcd prefix.
  const std::string& directory() const { return directory_; }
  // What an entry is called in messages and as the owner of its hosts: the file's path, or
  // "etcd:KEY".
  std::string path_of(const std::string& name) const {
    return backend_ == Backend::kEtcd ? "etcd:" + directory_ + name : directory_ + "/" + name;
  }
  const std::map<std::string, Entry>& entries() const { return entries_; }

 private:
  struct Parsed {
    std::vector<RouteConfig> routes;
    std::vector<ClusterConfig> clusters;
    std::vector<std::string> errors;
  };
  Parsed parse(const std::string& name, const std::string& text) const;
  void claim(const std::string& name, const Entry& entry);
  void release(const Entry& entry);

  Backend backend_;
  std::string directory_;
  std::string base_directory_;
  std::set<std::string> base_clusters_;
  std::map<std::string, Entry> entries_;
  NameOwners hosts_;       // host pattern -> the path of the accepted entry that routes it
  NameOwners clusters_;    // cluster name -> the path of the accepted entry that defines it
  NameOwners base_hosts_;  // the same for the base (its name as owner)
  NameOwners base_cluster_owners_;
};

}  // namespace waygate::routing
