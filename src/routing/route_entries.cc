#include "routing/route_entries.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "core/file_bytes.h"
#include "routing/cluster_loader.h"
#include "routing/config_watcher.h"
#include "routing/route_loader.h"
#include "routing/yaml_reader.h"

namespace waygate::routing {

bool is_routes_file_name(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.back() == '~') return false;
  if (name.find('/') != std::string_view::npos) return false;
  bool yaml = name.ends_with(".yaml") && name.size() > 5;
  bool yml = name.ends_with(".yml") && name.size() > 4;
  return yaml || yml;
}

RouteEntries::RouteEntries(std::string directory, std::string base_directory)
    : RouteEntries(Backend::kDirectory, std::move(directory), std::move(base_directory)) {}

RouteEntries::RouteEntries(Backend backend, std::string location, std::string base_directory)
    : backend_(backend),
      directory_(std::move(location)),
      base_directory_(std::move(base_directory)) {}

void RouteEntries::set_base(const Config& base, const std::string& base_name) {
  base_clusters_.clear();
  base_hosts_.clear();
  base_cluster_owners_.clear();
  for (const ClusterConfig& cluster : base.clusters) {
    base_clusters_.insert(cluster.name);
    base_cluster_owners_.emplace(cluster.name, base_name);
  }
  for (const RouteConfig& route : base.routes) {
    for (const std::string& host : route.hosts)
      base_hosts_.emplace(host, base_name);
  }
}

std::vector<std::string> RouteEntries::conflicts_with(const Config& base,
                                                      const std::string& base_name) const {
  std::set<std::string> defined;
  for (const ClusterConfig& cluster : base.clusters)
    defined.insert(cluster.name);
  std::vector<std::string> errors;
  for (const auto& [name, entry] : entries_) {
    std::set<std::string> own;
    for (const ClusterConfig& cluster : entry.clusters)
      own.insert(cluster.name);
    std::set<std::string> missing;
    for (const RouteConfig& route : entry.route_list()) {
      for (const PathConfig& path : route.paths) {
        for (const WeightedCluster& target : *path.clusters) {
          if (!own.contains(target.name) && !defined.contains(target.name))
            missing.insert(target.name);
        }
      }
    }
    // The base no longer has a position for what it dropped: the message points at its start.
    for (const std::string& cluster : missing) {
      errors.push_back(base_name + ":1:1: cluster " + quoted_value(cluster) +
                       " is named by the routes of " + path_of(name) + ", which serve; keep it");
    }
  }
  return errors;
}

RouteEntries::Parsed RouteEntries::parse(const std::string& name, const std::string& text) const {
  Parsed parsed;
  std::string source = path_of(name);
  Reader r(source);
  yaml::ParseResult document = yaml::parse(text);
  if (document.error) {
    r.error(document.error->mark, document.error->message);
    parsed.errors = r.sorted_errors();
    return parsed;
  }
  yaml::Node root = document.document.root();
  if (!root || root.IsNull()) return parsed;  // an empty file routes nothing
  const char* what =
      backend_ == Backend::kEtcd ? "a routes_source.etcd.prefix entry" : "a routes_dir file";
  if (!r.check_map(root, what, {"routes", "clusters"})) {
    parsed.errors = r.sorted_errors();
    return parsed;
  }
  Config read;
  std::set<std::string> own_clusters;
  if (root["clusters"]) {
    read_clusters(r, root["clusters"], base_directory_, own_clusters, read,
                  NameClaims{{&clusters_, &base_cluster_owners_}});
  }
  // A file's routes name its own clusters or the base's: so no file depends on another.
  std::set<std::string> known = base_clusters_;
  known.insert(own_clusters.begin(), own_clusters.end());
  HostsSeen hosts_seen;
  if (root["routes"]) {
    read_routes(r, root["routes"], known, hosts_seen, read, NameClaims{{&hosts_, &base_hosts_}});
  }
  parsed.errors = r.sorted_errors();
  parsed.routes = std::move(read.routes);
  parsed.clusters = std::move(read.clusters);
  return parsed;
}

std::vector<std::string> RouteEntries::validate(const std::string& name,
                                                const std::string& text) const {
  return parse(name, text).errors;
}

void RouteEntries::claim(const std::string& name, const Entry& entry) {
  std::string owner = path_of(name);
  for (const RouteConfig& route : entry.route_list()) {
    for (const std::string& host : route.hosts)
      hosts_[host] = owner;
  }
  for (const ClusterConfig& cluster : entry.clusters)
    clusters_[cluster.name] = owner;
}

void RouteEntries::release(const Entry& entry) {
  for (const RouteConfig& route : entry.route_list()) {
    for (const std::string& host : route.hosts)
      hosts_.erase(host);
  }
  for (const ClusterConfig& cluster : entry.clusters)
    clusters_.erase(cluster.name);
}

RouteEntries::Change RouteEntries::update(const std::string& name,
                                          const std::optional<std::string>& text,
                                          uint64_t revision) {
  auto found = entries_.find(name);
  if (!text) {
    if (found == entries_.end()) return Change::kNone;
    release(found->second);
    entries_.erase(found);
    return Change::kApplied;
  }
  uint64_t hash = content_hash(*text);
  if (found != entries_.end() && found->second.read_hash == hash) {
    // The same bytes written again: the version serving is the later write.
    if (found->second.accepted && found->second.accepted_hash == hash) {
      found->second.accepted_revision = std::max(found->second.accepted_revision, revision);
    }
    return Change::kNone;
  }
  Entry& entry = entries_[name];
  entry.read_hash = hash;
  Parsed parsed = parse(name, *text);
  if (!parsed.errors.empty()) {
    entry.errors = std::move(parsed.errors);
    return Change::kRefused;
  }
  release(entry);
  entry.accepted = true;
  entry.accepted_hash = hash;
  entry.accepted_revision = revision;
  entry.errors.clear();
  entry.routes = std::make_shared<const std::vector<RouteConfig>>(std::move(parsed.routes));
  entry.clusters = std::move(parsed.clusters);
  claim(name, entry);
  return Change::kApplied;
}

void RouteEntries::restore(const std::string& name, std::optional<Entry> previous) {
  auto found = entries_.find(name);
  if (found != entries_.end()) {
    release(found->second);
    entries_.erase(found);
  }
  if (!previous) return;
  claim(name, *previous);
  entries_.emplace(name, std::move(*previous));
}

std::vector<std::string> RouteEntries::list(std::string* error) const {
  std::vector<std::string> names;
  if (backend_ == Backend::kEtcd) {
    for (const auto& [name, entry] : entries_)
      names.push_back(name);
    return names;
  }
  DIR* dir = opendir(directory_.c_str());
  if (!dir) {
    *error = directory_ + ": " + std::generic_category().message(errno);
    return names;
  }
  while (const dirent* entry = readdir(dir)) {
    if (is_routes_file_name(entry->d_name)) names.emplace_back(entry->d_name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> RouteEntries::rescan(std::string* error) {
  std::vector<std::string> changed;
  if (backend_ == Backend::kEtcd) return changed;
  std::vector<std::string> names = list(error);
  if (!error->empty()) return changed;
  std::set<std::string> present(names.begin(), names.end());
  std::vector<std::string> gone;
  for (const auto& [name, entry] : entries_) {
    if (!present.contains(name)) gone.push_back(name);
  }
  for (const std::string& name : gone) {
    if (update(name, std::nullopt) != Change::kNone) changed.push_back(name);
  }
  for (const std::string& name : names) {
    // Gone between the listing and the read: as if it had not been listed.
    if (update(name, read_file_bytes(path_of(name))) != Change::kNone) changed.push_back(name);
  }
  return changed;
}

Config RouteEntries::merged(const Config& base) const {
  Config config = base;
  size_t clusters = config.clusters.size();
  for (const auto& [name, entry] : entries_)
    clusters += entry.clusters.size();
  config.clusters.reserve(clusters);
  for (const auto& [name, entry] : entries_)
    config.clusters.insert(config.clusters.end(), entry.clusters.begin(), entry.clusters.end());
  return config;
}

std::vector<SharedRoutes> RouteEntries::entry_routes() const {
  std::vector<SharedRoutes> routes;
  routes.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) {
    if (entry.routes) routes.push_back(entry.routes);
  }
  return routes;
}

}  // namespace waygate::routing
