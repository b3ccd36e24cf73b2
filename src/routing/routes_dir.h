// The routes of a `routes_dir`: a directory of YAML files (one per domain or team), each holding
// `routes:` and optionally `clusters:`. Each file is read and validated on its own and kept parsed,
// so a change to one file re-reads that file only; a refused file keeps its last good version.
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

class RoutesDir {
 public:
  // One file of the directory as last read.
  struct File {
    bool accepted = false;            // routes and clusters hold its last good version
    uint64_t accepted_hash = 0;       // of that version's bytes
    uint64_t read_hash = 0;           // of the bytes last read (accepted or refused)
    std::vector<std::string> errors;  // why the bytes last read were refused; empty: they serve
    std::vector<RouteConfig> routes;
    std::vector<ClusterConfig> clusters;
  };
  enum class Change { kNone, kApplied, kRefused };

  // `directory` as the config resolved it; `base_directory` resolves the clusters' relative paths
  // (the config file's directory, as for routes_source).
  RoutesDir(std::string directory, std::string base_directory);

  // The config (file and routes_source) the files are merged with: their routes may name its
  // clusters, and none of its hosts or cluster names. Call before the first update and with every
  // config applied.
  void set_base(const Config& base, const std::string& base_name);
  // The errors the base would cause with the files accepted now: a cluster a file's routes name
  // that it no longer defines. (Hosts and cluster names the base claims are checked as it is
  // loaded, through taken().)
  std::vector<std::string> conflicts_with(const Config& base, const std::string& base_name) const;
  // The hosts and cluster names the accepted files claim, for loading the base.
  TakenNames taken() const { return {{{&hosts_}}, {{&clusters_}}}; }

  // Reads `name` (a file name in the directory) again: `text` is its content, nullopt when it is
  // gone. kNone: the same bytes as last read. kRefused: the errors are in files().at(name).
  Change update(const std::string& name, const std::optional<std::string>& text);
  // Puts back what files().find(name) was before an update (nullopt: no entry), when the change
  // could not be applied after all.
  void restore(const std::string& name, std::optional<File> previous);
  // The errors `text` would have as `name`'s content; nothing changes.
  std::vector<std::string> validate(const std::string& name, const std::string& text) const;
  // Reads every route file the directory holds now (and forgets those it no longer holds). Returns
  // the names that changed, applied or refused; an unreadable directory is one error in *error,
  // and changes nothing.
  std::vector<std::string> rescan(std::string* error);
  // The route file names the directory holds now, sorted; an unreadable directory: *error.
  std::vector<std::string> list(std::string* error) const;

  // The base with every accepted file's clusters and routes after its own, in file name order.
  Config merged(const Config& base) const;

  const std::string& directory() const { return directory_; }
  std::string path_of(const std::string& name) const { return directory_ + "/" + name; }
  const std::map<std::string, File>& files() const { return files_; }

 private:
  struct Parsed {
    std::vector<RouteConfig> routes;
    std::vector<ClusterConfig> clusters;
    std::vector<std::string> errors;
  };
  Parsed parse(const std::string& name, const std::string& text) const;
  void claim(const std::string& name, const File& file);
  void release(const File& file);

  std::string directory_;
  std::string base_directory_;
  std::set<std::string> base_clusters_;
  std::map<std::string, File> files_;
  NameOwners hosts_;       // host pattern -> the path of the accepted file that routes it
  NameOwners clusters_;    // cluster name -> the path of the accepted file that defines it
  NameOwners base_hosts_;  // the same for the base (its name as owner)
  NameOwners base_cluster_owners_;
};

}  // namespace waygate::routing
