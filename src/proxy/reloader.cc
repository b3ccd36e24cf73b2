#include "proxy/reloader.h"

#include <uv.h>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <set>

#include "core/file_bytes.h"
#include "core/log.h"
#include "proxy/server.h"
#include "routing/config_loader.h"
#include "routing/config_watcher.h"

namespace waygate::proxy {

namespace {

std::string directory_of(const std::string& path) {
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

std::string joined_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines)
    text.append(line).append("\n");
  return text;
}

// The route entries a config names, not read yet: a routes_dir's, an etcd prefix's, or none.
std::unique_ptr<routing::RouteEntries> new_entries(const routing::Config& config,
                                                   const std::string& path) {
  if (!config.routes_dir.empty()) {
    return std::make_unique<routing::RouteEntries>(config.routes_dir, directory_of(path));
  }
  if (config.routes_prefix) {
    return std::make_unique<routing::RouteEntries>(routing::RouteEntries::Backend::kEtcd,
                                                   config.routes_prefix->key, directory_of(path));
  }
  return nullptr;
}

// Whether `config` names the entries `dir` holds: they are kept across its reload.
bool names_entries(const routing::Config& config, const routing::RouteEntries& dir) {
  if (dir.backend() == routing::RouteEntries::Backend::kEtcd) {
    return config.routes_prefix && config.routes_prefix->key == dir.directory();
  }
  return config.routes_dir == dir.directory();
}

// What the TLS contexts are made of besides the config's text: the bytes of the files at `paths`
// and the certificates `extras` bring (Kubernetes TLS Secrets), hashed; nullopt if a file cannot
// be read.
std::optional<uint64_t> tls_inputs_hash(const std::vector<std::string>& paths,
                                        const std::vector<routing::ConfigSource>& extras) {
  std::string all;
  auto append = [&all](std::string_view part) {
    all.append(std::to_string(part.size())).append(1, ':').append(part);
  };
  for (const std::string& path : paths) {
    std::optional<std::string> bytes = read_file_bytes(path);
    if (!bytes) return std::nullopt;
    append(path);
    append(*bytes);
  }
  for (const routing::ConfigSource& extra : extras) {
    for (const routing::PemCertificate& certificate : extra.certificates) {
      append(certificate.name);
      append(certificate.cert_pem);
      append(certificate.key_pem);
    }
  }
  return routing::content_hash(all);
}

}  // namespace

Reloader::Reloader(std::string path, Server& server, discovery::DiscoveryManager& discovery,
                   std::shared_ptr<const routing::Config> running, routing::Config base,
                   std::unique_ptr<routing::RouteEntries> routes_dir, uint64_t text_hash,
                   uint64_t tls_files_hash)
    : path_(std::move(path)),
      server_(server),
      discovery_(discovery),
      running_(std::move(running)),
      base_(std::move(base)),
      route_entries_(std::move(routes_dir)),
      running_hash_(text_hash),
      running_tls_hash_(tls_files_hash) {
  log_certificate_changes(*running_);
}

std::unique_ptr<routing::RouteEntries> Reloader::read_routes_dir(const routing::Config& base,
                                                                 const std::string& path) {
  std::unique_ptr<routing::RouteEntries> dir = new_entries(base, path);
  if (!dir) return nullptr;
  dir->set_base(base, path);
  std::string error;
  dir->rescan(&error);
  if (!error.empty()) WG_LOG_ERROR("routes_dir %s", error.c_str());
  for (const auto& [name, file] : dir->entries()) {
    for (const std::string& line : file.errors)
      WG_LOG_ERROR("routes_dir file refused: %s", line.c_str());
  }
  return dir;
}

std::string Reloader::publish(std::shared_ptr<const routing::Config> next,
                              const routing::RouteEntries* entries) {
  std::string error;
  std::vector<std::string> errors;
  routing::EndpointsByCluster endpoints = discovery_.prepare(*next, &errors);
  if (!errors.empty()) {
    discovery_.discard();
    return joined_lines(errors);
  }
  std::vector<routing::SharedRoutes> entry_routes;
  if (entries) entry_routes = entries->entry_routes();
  if (!server_.apply(next, endpoints, &error, entry_routes)) {
    discovery_.discard();
    return error + "\n";
  }
  discovery_.commit();
  running_ = std::move(next);
  clusters_stale_ = false;
  return {};
}

std::string Reloader::publish_entry_clusters(
    std::span<const routing::ClusterConfig* const> clusters, std::span<const std::string> removed,
    std::span<const routing::RouteEntryChange> changes) {
  // Discovery reads the settings (DNS resolver, Kubernetes access), the same in the running
  // config: the base did not change.
  std::vector<std::string> errors;
  routing::EndpointsByCluster endpoints =
      discovery_.prepare_clusters(*running_, clusters, removed, &errors);
  if (!errors.empty()) {
    discovery_.discard();
    return joined_lines(errors);
  }
  server_.apply_entry_clusters(clusters, removed, endpoints, changes);
  discovery_.commit();
  clusters_stale_ = true;  // GET /config and GET /clusters: see config()
  return {};
}

const routing::Config& Reloader::config() const {
  if (clusters_stale_ && route_entries_) {
    // As a whole publish would have it: the base's clusters, then each entry's in name order.
    running_ = std::make_shared<const routing::Config>(route_entries_->merged(base_));
  }
  clusters_stale_ = false;
  return *running_;
}

bool Reloader::unchanged_on_disk(const std::optional<std::string>& text,
                                 const std::vector<routing::ConfigSource>& extras,
                                 std::optional<uint64_t> tls_bytes_hash) const {
  return !route_entries_ && running_tls_bytes_hash_ && tls_bytes_hash == running_tls_bytes_hash_ &&
         text && routing::config_text_hash(*text, extras) == running_hash_;
}

Reloader::Outcome Reloader::reload(std::string_view trigger) {
  std::vector<routing::ConfigSource> extras;
  if (extra_) extras.push_back(*extra_);
  // Read before the file is parsed: a TLS file that changes after this makes the next reload
  // parse again, never skip.
  std::vector<std::string> tls_files_before = running_->tls_files;
  std::optional<uint64_t> tls_bytes_hash = tls_inputs_hash(tls_files_before, extras);
  std::optional<std::string> text = read_file_bytes(path_);
  if (unchanged_on_disk(text, extras, tls_bytes_hash)) return skip_unchanged(trigger);
  // The routes_dir's files keep their hosts and clusters: the file may not take them.
  routing::TakenNames taken = route_entries_ ? route_entries_->taken() : routing::TakenNames{};
  routing::ConfigResult loaded = routing::load_config_bytes(std::move(text), path_, extras, taken);
  // The file no longer names the routes_source the value came from: read it alone.
  if (extra_ && loaded.ok() && routing::routes_source_name(loaded.config) != extra_->name) {
    extra_.reset();
    extras.clear();
    loaded = routing::load_config_file(path_, extras, taken);
  }
  // It names another routes_dir (or none): that directory's files are read afresh below.
  bool same_dir = route_entries_ && loaded.ok() && names_entries(loaded.config, *route_entries_);
  if (route_entries_ && loaded.ok() && !same_dir) loaded = routing::load_config_file(path_, extras);
  if (!loaded.ok()) return refuse(trigger, loaded.errors);
  routing::Config& next = loaded.config;
  if (same_dir) {
    std::vector<std::string> conflicts = route_entries_->conflicts_with(next, path_);
    if (!conflicts.empty()) return refuse(trigger, conflicts);
  }
  // The routes_dir's files are read again (only those whose bytes changed are parsed), so SIGHUP
  // and POST /reload catch up with every source.
  std::unique_ptr<routing::RouteEntries> fresh_dir;
  routing::RouteEntries* dir = same_dir ? route_entries_.get() : nullptr;
  if (!same_dir) {
    fresh_dir = new_entries(next, path_);
    dir = fresh_dir.get();
  }
  bool dir_changed = !same_dir && (route_entries_ || fresh_dir);
  if (dir) {
    dir->set_base(next, path_);
    std::string error;
    std::vector<std::string> changed = dir->rescan(&error);
    if (!error.empty()) WG_LOG_ERROR("routes_dir %s", error.c_str());
    for (const std::string& name : changed) {
      if (!dir->entries().contains(name) || dir->entries().at(name).errors.empty()) {
        dir_changed = true;
      } else {
        refuse_file(trigger, *dir, name);
      }
    }
  }
  uint64_t hash = loaded.text_hash;
  if (hash == running_hash_ && loaded.tls_files_hash == running_tls_hash_ && !dir_changed) {
    running_tls_bytes_hash_ = tls_bytes_hash;  // the same files, read before the parse
    return skip_unchanged(trigger);
  }
  bool restart_settings_changed = next.workers != running_->workers ||
                                  next.admin.address_text != running_->admin.address_text ||
                                  next.admin.token != running_->admin.token;
  next.workers = running_->workers;
  next.admin = running_->admin;
  // Without a routes_dir the base is the running config itself: it is not kept twice.
  routing::Config kept_base;
  std::shared_ptr<const routing::Config> shared;
  if (dir) {
    kept_base = std::move(next);
    shared = std::make_shared<const routing::Config>(dir->merged(kept_base));
  } else {
    shared = std::make_shared<const routing::Config>(std::move(next));
  }
  if (std::string error = publish(shared, dir); !error.empty()) {
    if (same_dir) route_entries_->set_base(base_, path_);
    return refuse(trigger, {error.substr(0, error.size() - 1)});
  }
  if (restart_settings_changed) {
    WG_LOG_WARN("workers and admin changes in %s take a restart; the rest is applied",
                path_.c_str());
  }
  log_set_level(shared->log_level);
  log_certificate_changes(*shared);
  if (dir) {
    base_ = std::move(kept_base);
  } else {
    base_.routes = {};  // what is left of an earlier routes_dir's base: nothing big is kept
    base_.clusters = {};
  }
  if (!same_dir) route_entries_ = std::move(fresh_dir);
  running_hash_ = hash;
  running_tls_hash_ = loaded.tls_files_hash;
  // The hash read before the parse stands for the files the new config names only if it names
  // the same ones.
  running_tls_bytes_hash_ = shared->tls_files == tls_files_before ? tls_bytes_hash : std::nullopt;
  ++applied_;
  WG_LOG_INFO("reloaded %s (%.*s)", path_.c_str(), static_cast<int>(trigger.size()),
              trigger.data());
  return {Result::kReloaded, ""};
}

std::vector<Reloader::FileOutcome> Reloader::reload_routes_files(std::vector<FileContent> changes,
                                                                 bool everything,
                                                                 std::string_view trigger) {
  std::vector<FileOutcome> outcomes;
  if (!route_entries_) return outcomes;
  uint64_t started = uv_hrtime();
  routing::RouteEntries& dir = *route_entries_;
  // The etcd backend's watcher hands on every change: there is nothing to list.
  if (everything && dir.backend() == routing::RouteEntries::Backend::kDirectory) {
    std::string error;
    std::vector<std::string> names = dir.list(&error);
    if (!error.empty()) {
      // Unreadable is not empty: the files read last keep serving until it can be read again.
      WG_LOG_ERROR("routes_dir %s (the routes read from it keep serving)", error.c_str());
      return outcomes;
    }
    std::set<std::string> wanted(names.begin(), names.end());
    for (const auto& [name, file] : dir.entries())
      wanted.insert(name);
    for (const FileContent& change : changes)
      wanted.erase(change.name);
    for (const std::string& name : wanted)
      changes.push_back({name, read_file_bytes(dir.path_of(name))});
  }
  // What each applied file was, to put back if the whole cannot be published.
  std::vector<std::pair<std::string, std::optional<routing::RouteEntries::Entry>>> previous;
  for (FileContent& change : changes) {
    auto found = dir.entries().find(change.name);
    std::optional<routing::RouteEntries::Entry> before;
    if (found != dir.entries().end()) before = found->second;
    switch (dir.update(change.name, change.text, change.revision)) {
      case routing::RouteEntries::Change::kNone:
        break;
      case routing::RouteEntries::Change::kRefused:
        refuse_file(trigger, dir, change.name);
        outcomes.push_back(
            {change.name, Result::kRefused, joined_lines(dir.entries().at(change.name).errors)});
        break;
      case routing::RouteEntries::Change::kApplied:
        previous.emplace_back(change.name, std::move(before));
        outcomes.push_back({change.name, Result::kReloaded, ""});
        break;
    }
  }
  if (previous.empty()) return outcomes;
  // Each entry's routes before the first change and now; the clusters the changed entries define
  // now, and those they defined before and no longer do (none moved to another changed entry).
  std::vector<routing::RouteEntryChange> changed;
  std::vector<const routing::ClusterConfig*> clusters;
  std::set<std::string> defined_before;
  std::set<std::string> defined_now;
  std::set<std::string> seen;
  for (const auto& [name, before] : previous) {
    if (!seen.insert(name).second) continue;  // changed twice: the first `before` is the one
    auto now = dir.entries().find(name);
    const routing::RouteEntries::Entry* after = now == dir.entries().end() ? nullptr : &now->second;
    if (before) {
      for (const routing::ClusterConfig& cluster : before->clusters)
        defined_before.insert(cluster.name);
    }
    if (after) {
      for (const routing::ClusterConfig& cluster : after->clusters) {
        defined_now.insert(cluster.name);
        clusters.push_back(&cluster);
      }
    }
    changed.push_back({before ? before->routes : nullptr, after ? after->routes : nullptr});
  }
  std::vector<std::string> removed;
  std::set_difference(defined_before.begin(), defined_before.end(), defined_now.begin(),
                      defined_now.end(), std::back_inserter(removed));
  const char* patched = "routes patched";
  if (clusters.empty() && removed.empty()) {
    // Routes alone: the running config and its clusters stay, and the route table is patched.
    server_.apply_route_entries(changed);
  } else if (std::string error = publish_entry_clusters(clusters, removed, changed);
             !error.empty()) {
    for (auto& [name, before] : previous)
      dir.restore(name, std::move(before));
    for (FileOutcome& outcome : outcomes) {
      if (outcome.result != Result::kReloaded) continue;
      outcome.result = Result::kRefused;
      outcome.message = error;
      ++refused_;
      WG_LOG_ERROR("reload (%.*s %s) refused: %s", static_cast<int>(trigger.size()), trigger.data(),
                   outcome.name.c_str(), error.c_str());
    }
    return outcomes;
  } else {
    patched = "routes and clusters patched";
  }
  ++applied_;
  double elapsed_ms = static_cast<double>(uv_hrtime() - started) / 1e6;
  for (FileOutcome& outcome : outcomes) {
    if (outcome.result != Result::kReloaded) continue;
    std::string path = dir.path_of(outcome.name);
    bool deleted = !dir.entries().contains(outcome.name);
    outcome.message = (deleted ? "removed " : "applied ") + path;
    WG_LOG_INFO(
        "reloaded %s (%.*s %s%s): serving %zu routes, %s (%zu clusters set, %zu removed), "
        "%.1f ms",
        path_.c_str(), static_cast<int>(trigger.size()), trigger.data(), path.c_str(),
        deleted ? ", deleted" : "", server_.snapshot()->routes.route_count(), patched,
        clusters.size(), removed.size(), elapsed_ms);
  }
  return outcomes;
}

Reloader::Outcome Reloader::skip_unchanged(std::string_view trigger) {
  WG_LOG_INFO("reload (%.*s) skipped: %s is unchanged", static_cast<int>(trigger.size()),
              trigger.data(), path_.c_str());
  return {Result::kUnchanged, ""};
}

void Reloader::refuse_file(std::string_view trigger, const routing::RouteEntries& dir,
                           const std::string& name) {
  ++refused_;
  const routing::RouteEntries::Entry& file = dir.entries().at(name);
  for (const std::string& error : file.errors) {
    WG_LOG_ERROR("reload (%.*s) refused: %s", static_cast<int>(trigger.size()), trigger.data(),
                 error.c_str());
  }
  WG_LOG_ERROR("%s refused alone: %s; every other %s keeps serving", dir.path_of(name).c_str(),
               file.accepted ? "its previous version keeps serving" : "it never served",
               dir.backend() == routing::RouteEntries::Backend::kEtcd ? "entry" : "file");
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
