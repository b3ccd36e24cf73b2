#include "proxy/server.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "lb/policy.h"
#include "proxy/listen_socket.h"
#include "proxy/worker.h"

namespace waygate::proxy {
namespace {

// How often the control thread frees retired snapshots and host sets that a long request held
// past the update that replaced them.
constexpr uint64_t kSweepIntervalMs = 1'000;

bool has_address(const std::vector<routing::ListenerConfig>& listeners,
                 const routing::ListenerConfig& wanted) {
  for (const routing::ListenerConfig& listener : listeners) {
    if (listener.address_text == wanted.address_text) return true;
  }
  return false;
}

}  // namespace

Server::Server(uv_loop_t* loop)
    : loop_(loop), health_(loop, topology_, [this](routing::TopologyChanges changes) {
        publish(nullptr, std::move(changes),
                std::vector<std::vector<ListenerChange>>(workers_.size()));
      }) {
  topology_.set_table_builder(&lb::build_table);
}

Server::~Server() {
  workers_.clear();  // joins the threads before the async handle they signal goes
}

bool Server::bind(const std::vector<routing::ListenerConfig>& listeners, size_t worker_count,
                  std::vector<std::vector<ListenerChange>>* per_worker, std::string* error) {
  per_worker->resize(worker_count);
  for (size_t w = 0; w < worker_count; ++w) {
    for (const routing::ListenerConfig& listener : listeners) {
      int fd = open_listen_socket(listener.address, error);
      if (fd < 0) {
        *error = "listener " + listener.name + " on " + listener.address_text + ": " + *error;
        for (auto& changes : *per_worker) {
          for (ListenerChange& change : changes) {
            if (change.fd >= 0) ::close(change.fd);
          }
        }
        per_worker->clear();
        return false;
      }
      (*per_worker)[w].push_back(
          ListenerChange{listener.address_text, fd, listener_slot(listener)});
    }
  }
  return true;
}

bool Server::start(std::shared_ptr<const routing::Config> shared,
                   const routing::EndpointsByCluster& endpoints, std::string* error,
                   std::span<const routing::SharedRoutes> entries) {
  const routing::Config& config = *shared;
  unsigned count = config.workers;
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  AccessLogFiles log_files;
  if (!open_access_log_files(access_logs_of(config.listeners, config.access_log), nullptr, false,
                             &log_files, error)) {
    return false;
  }
  // Bind everything before starting any thread, so a taken port fails start-up cleanly.
  std::vector<std::vector<ListenerChange>> listeners;
  if (!bind(config.listeners, count, &listeners, error)) return false;
  listeners_ = config.listeners;
  default_access_log_ = config.access_log;
  access_logs_ = make_access_log_setup(std::move(log_files), access_log_targets());
  events_async_.init(uv_async_init, loop_, this, &Server::on_events);
  uv_unref(events_async_.handle());  // events alone keep no loop running
  sweep_timer_.init(uv_timer_init, loop_, this);
  uv_timer_start(sweep_timer_.get(), &Server::on_sweep_timer, kSweepIntervalMs, kSweepIntervalMs);
  uv_unref(sweep_timer_.handle());

  health_.apply_config(config, endpoints);
  topology_.apply_config(config, endpoints);
  snapshot_ = routing::build_snapshot(std::move(shared), topology_, route_name_slots_, entries);
  for (unsigned w = 0; w < count; ++w) {
    WorkerUpdate initial;
    initial.snapshot = snapshot_;
    initial.host_sets = topology_.all_host_sets();
    initial.listeners = std::move(listeners[w]);
    initial.access_logs = access_logs_;
    workers_.push_back(std::make_unique<Worker>(w, std::move(initial), events_async_.get()));
  }
  for (auto& worker : workers_)
    worker->start();
  return true;
}

bool Server::apply(std::shared_ptr<const routing::Config> shared,
                   const routing::EndpointsByCluster& endpoints, std::string* error,
                   std::span<const routing::SharedRoutes> entries) {
  const routing::Config& config = *shared;
  // Sockets follow addresses: one whose address stays is kept whatever its listener is called.
  std::vector<routing::ListenerConfig> added;
  for (const routing::ListenerConfig& listener : config.listeners) {
    if (!has_address(listeners_, listener)) added.push_back(listener);
  }
  AccessLogFiles log_files;
  if (!open_access_log_files(access_logs_of(config.listeners, config.access_log),
                             access_logs_.get(), false, &log_files, error)) {
    return false;
  }
  std::vector<std::vector<ListenerChange>> opened;
  if (!bind(added, workers_.size(), &opened, error)) return false;
  for (size_t w = 0; w < workers_.size(); ++w) {
    for (const routing::ListenerConfig& listener : listeners_) {
      if (!has_address(config.listeners, listener)) {
        opened[w].push_back(ListenerChange{listener.address_text});
      }
    }
  }
  // The topology first: the new route table names clusters by the ids it gives.
  health_.apply_config(config, endpoints);
  routing::TopologyChanges changes = topology_.apply_config(config, endpoints);
  listeners_ = config.listeners;
  default_access_log_ = config.access_log;
  for (const routing::ListenerConfig& listener : listeners_)
    listener_slot(listener);  // a renamed listener counts (and logs) under its new name
  publish(routing::build_snapshot(std::move(shared), topology_, route_name_slots_, entries),
          std::move(changes), std::move(opened),
          make_access_log_setup(std::move(log_files), access_log_targets()));
  return true;
}

void Server::apply_route_entries(std::span<const routing::RouteEntryChange> changes) {
  publish(routing::with_changed_entries(*snapshot_, changes, route_name_slots_), {},
          std::vector<std::vector<ListenerChange>>(workers_.size()), nullptr, true);
}

void Server::apply_entry_clusters(std::span<const routing::ClusterConfig* const> clusters,
                                  std::span<const std::string> removed,
                                  const routing::EndpointsByCluster& endpoints,
                                  std::span<const routing::RouteEntryChange> changes) {
  // The topology first, as apply() does: the patched routes name new clusters by the ids it gives.
  health_.apply_clusters(clusters, removed, endpoints);
  routing::TopologyChanges topology_changes =
      topology_.apply_clusters(clusters, removed, endpoints);
  publish(routing::with_changed_clusters(*snapshot_, clusters, removed, topology_, changes,
                                         route_name_slots_),
          std::move(topology_changes), std::vector<std::vector<ListenerChange>>(workers_.size()),
          nullptr, true);
}

std::string Server::reopen_access_logs() {
  AccessLogFiles log_files;
  std::string problems;
  open_access_log_files(access_logs_of(listeners_, default_access_log_), access_logs_.get(), true,
                        &log_files, &problems);
  publish(nullptr, {}, std::vector<std::vector<ListenerChange>>(workers_.size()),
          make_access_log_setup(std::move(log_files), access_log_targets()));
  return problems;
}

std::vector<const routing::AccessLogConfig*> Server::access_logs_of(
    const std::vector<routing::ListenerConfig>& listeners,
    const routing::AccessLogConfig& default_log) const {
  std::vector<const routing::AccessLogConfig*> logs;
  bool default_used = false;
  for (const routing::ListenerConfig& listener : listeners) {
    if (listener.access_log) {
      logs.push_back(&*listener.access_log);
    } else {
      default_used = true;
    }
  }
  for (const auto& entry : listener_slots_) {
    const std::string& address = entry.first;  // clang 14 (clang-tidy) cannot capture a binding
    bool gone = std::none_of(listeners.begin(), listeners.end(), [&](const auto& listener) {
      return listener.address_text == address;
    });
    default_used = default_used || gone;
  }
  if (default_used) logs.push_back(&default_log);
  return logs;
}

std::vector<AccessLogTarget> Server::access_log_targets() const {
  std::vector<AccessLogTarget> targets;
  for (uint32_t slot = 0; slot < listener_names_.size(); ++slot) {
    targets.push_back(AccessLogTarget{slot, listener_names_[slot], &default_access_log_});
  }
  for (const routing::ListenerConfig& listener : listeners_) {
    auto slot = listener_slots_.find(listener.address_text);
    if (slot != listener_slots_.end() && listener.access_log) {
      targets[slot->second].log = &*listener.access_log;
    }
  }
  return targets;
}

uint32_t Server::listener_slot(const routing::ListenerConfig& listener) {
  auto [it, added] = listener_slots_.try_emplace(listener.address_text,
                                                 static_cast<uint32_t>(listener_names_.size()));
  if (added) listener_names_.emplace_back();
  listener_names_[it->second] = listener.name;
  return it->second;
}

bool Server::set_endpoints(const std::string& cluster, std::vector<routing::EndpointSpec> endpoints,
                           std::function<void(uint64_t delay_ns)> on_applied) {
  if (!topology_.has_cluster(cluster)) return false;
  uint64_t started = uv_hrtime();
  health_.set_endpoints(cluster, endpoints);
  routing::TopologyChanges changes;
  topology_.set_endpoints(cluster, std::move(endpoints), changes);
  if (changes.empty()) return false;
  uint64_t sequence = publish(nullptr, std::move(changes),
                              std::vector<std::vector<ListenerChange>>(workers_.size()));
  if (on_applied) pending_.push_back(PendingUpdate{sequence, started, std::move(on_applied)});
  return true;
}

uint64_t Server::publish(std::shared_ptr<const routing::Snapshot> snapshot,
                         routing::TopologyChanges changes,
                         std::vector<std::vector<ListenerChange>> listeners,
                         std::shared_ptr<const AccessLogSetup> access_logs, bool patched) {
  uint64_t sequence = next_sequence_++;
  health_.forget(changes.removed_endpoints);
  for (size_t w = 0; w < workers_.size(); ++w) {
    workers_[w]->publish(WorkerUpdate{snapshot, changes.host_sets, changes.removed_endpoints,
                                      std::move(listeners[w]), sequence, access_logs});
  }
  if (access_logs) {
    // A worker writes what it buffered for the old files before it moves on: once all have
    // applied this update, nothing writes to a file only the old setup holds, and it closes here.
    std::shared_ptr<const AccessLogSetup> replaced =
        std::exchange(access_logs_, std::move(access_logs));
    pending_.push_back(PendingUpdate{sequence, uv_hrtime(), [replaced](uint64_t) {}});
  }
  if (snapshot) retire(std::exchange(snapshot_, std::move(snapshot)), !patched);
  for (auto& host_set : changes.replaced)
    retire(std::move(host_set));
  return sequence;
}

void Server::retire(std::shared_ptr<const void> object, bool large) {
  sweep_retired();
  if (object) retired_.push_back(Retired{std::move(object), large});
}

void Server::sweep_retired() {
  // An object only this list holds can gain no new owner: freeing it now is safe. Those still in
  // use by a worker wait for a later sweep.
  bool freed_large = false;
  std::erase_if(retired_, [&freed_large](const Retired& old) {
    if (old.object.use_count() != 1) return false;
    freed_large |= old.large;
    return true;
  });
  // glibc keeps freed chunks for reuse; a route table of many hosts is returned to the system
  // rather than left resident until the next one is built.
  if (freed_large) malloc_trim(0);
}

void Server::on_sweep_timer(uv_timer_t* timer) {
  auto* self = static_cast<Server*>(timer->data);
  if (!self->retired_.empty()) self->sweep_retired();
}

void Server::on_events(uv_async_t* async) {
  auto* self = static_cast<Server*>(async->data);
  for (auto& worker : self->workers_) {
    EndpointEvent event;
    while (worker->events().pop(event)) {
      self->health_.on_event(event);
      if (self->event_handler_) self->event_handler_(event);
    }
  }
  self->check_applied();
  // A worker that applied an update let go of the snapshot before it.
  if (!self->retired_.empty()) self->sweep_retired();
}

void Server::check_applied() {
  if (pending_.empty()) return;
  uint64_t applied = UINT64_MAX;
  for (auto& worker : workers_)
    applied = std::min(applied, worker->applied_sequence());
  uint64_t now = uv_hrtime();
  while (!pending_.empty() && pending_.front().sequence <= applied) {
    PendingUpdate done = std::move(pending_.front());
    pending_.pop_front();
    done.on_applied(now - done.started_ns);
  }
}

void Server::drain() {
  health_.stop();
  for (auto& worker : workers_)
    worker->request_drain();
}

void Server::join() {
  for (auto& worker : workers_)
    worker->join();
}

}  // namespace waygate::proxy
