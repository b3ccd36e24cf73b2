// The set of workers and what they are given: binds every listener once per worker, starts the
// threads, and publishes to them what the control thread decides (routes as a snapshot, each
// cluster's endpoints as a host set, listener changes, the drain signal). It keeps the topology
// (stable ids for clusters and endpoints) and frees what the workers let go of, on the control
// thread.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/uv_handle.h"
#include "proxy/access_log_setup.h"
#include "proxy/endpoint_event.h"
#include "proxy/endpoint_health.h"
#include "routing/config.h"
#include "routing/snapshot.h"
#include "routing/topology.h"

namespace waygate::proxy {

class Worker;
struct ListenerChange;

class Server {
 public:
  // `loop` is the control thread's: endpoint events from the workers are taken on it.
  explicit Server(uv_loop_t* loop);
  ~Server();

  // Binds and starts, with each cluster's endpoints as discovery has them. On failure returns
  // false with *error naming the listener and the cause. The snapshot keeps the config.
  // `entries`: the route entries' routes (routing::RouteEntries::entry_routes), routed after the
  // config's own.
  bool start(std::shared_ptr<const routing::Config> config,
             const routing::EndpointsByCluster& endpoints, std::string* error,
             std::span<const routing::SharedRoutes> entries = {});
  // Hands a new config to every worker: its routes, the host sets of clusters that changed, and
  // the listeners that differ from the running ones. When a new listener cannot be bound, nothing
  // changes and *error says why.
  bool apply(std::shared_ptr<const routing::Config> config,
             const routing::EndpointsByCluster& endpoints, std::string* error,
             std::span<const routing::SharedRoutes> entries = {});
  // Hands the workers the routes of some route entries changed, and nothing else (their clusters
  // are as they were): the route table is patched, in time for what changed, not rebuilt whole.
  void apply_route_entries(std::span<const routing::RouteEntryChange> changes);
  // The same for a change to route entries that define clusters: those clusters added or changed
  // (`clusters`, with their endpoints as discovery has them) and those gone (`removed`) in the
  // topology and the health checks, their host sets published, and the route table patched. The
  // other clusters and routes are not looked at.
  void apply_entry_clusters(std::span<const routing::ClusterConfig* const> clusters,
                            std::span<const std::string> removed,
                            const routing::EndpointsByCluster& endpoints,
                            std::span<const routing::RouteEntryChange> changes);
  // Replaces one cluster's endpoints (discovery): only that cluster's host set is published.
  // `on_applied` hears how long after this call the last worker routed by it; it is not called
  // when nothing changed (false is returned then) or the cluster is unknown.
  bool set_endpoints(const std::string& cluster, std::vector<routing::EndpointSpec> endpoints,
                     std::function<void(uint64_t delay_ns)> on_applied);
  // Opens every access-log file again (SIGUSR1, after log rotation renamed them) and hands the new
  // ones to the workers; the old ones close once every worker has written its last line there.
  // Returns what could not be opened again (empty: nothing), whose old file stays in use.
  std::string reopen_access_logs();
  void drain();
  // Control thread, once the workers have stopped (or never started): closes the handle on which
  // events arrive, so the control loop can end.
  void close_handles() {
    health_.stop();
    events_async_.reset();
  }
  // Blocks until every worker has drained.
  void join();
  size_t worker_count() const { return workers_.size(); }
  // For /metrics, on the control thread: the workers (their counters), the routes running now,
  // the clusters' host sets, and each listener's name by its metrics slot.
  const Worker& worker(size_t index) const { return *workers_[index]; }
  const routing::Snapshot* snapshot() const { return snapshot_.get(); }
  const routing::Topology& topology() const { return topology_; }
  const std::vector<std::string>& listener_names() const { return listener_names_; }
  const EndpointHealth& endpoint_health() const { return health_; }

  // Called on the control thread with each endpoint event the workers report.
  void on_endpoint_event(std::function<void(const EndpointEvent&)> handler) {
    event_handler_ = std::move(handler);
  }

 private:
  // One socket per worker for each listener; on failure closes what it opened.
  bool bind(const std::vector<routing::ListenerConfig>& listeners, size_t worker_count,
            std::vector<std::vector<ListenerChange>>* per_worker, std::string* error);
  // Returns the update's sequence number. A new access-log setup replaces the running one, which
  // (with any file only it holds) is let go once every worker has applied the update. `patched`:
  // the snapshot shares most of its routes with the one it replaces, whose freeing gives little
  // back to the system (and is not worth a malloc_trim).
  uint64_t publish(std::shared_ptr<const routing::Snapshot> snapshot,
                   routing::TopologyChanges changes,
                   std::vector<std::vector<ListenerChange>> listeners,
                   std::shared_ptr<const AccessLogSetup> access_logs = nullptr,
                   bool patched = false);
  // The access logs a config names: its listeners' own, and the top-level one where a listener
  // (or one gone since, whose connections may still be serving) has none.
  std::vector<const routing::AccessLogConfig*> access_logs_of(
      const std::vector<routing::ListenerConfig>& listeners,
      const routing::AccessLogConfig& default_log) const;
  // What each listener slot logs with the running listeners, and the default for slots whose
  // listener is gone.
  std::vector<AccessLogTarget> access_log_targets() const;
  // The metrics slot of the listener's address (a new one for an address never seen), which now
  // counts under the listener's name.
  uint32_t listener_slot(const routing::ListenerConfig& listener);
  void check_applied();
  // Objects a worker may still hold are kept here so that the last reference is dropped on the
  // control thread: freeing a large route table or host set must not stall a worker. `large`: once
  // freed, the memory is handed back to the system.
  void retire(std::shared_ptr<const void> object, bool large = false);
  // Frees the retired objects no worker holds any more.
  void sweep_retired();
  static void on_events(uv_async_t* async);
  static void on_sweep_timer(uv_timer_t* timer);

  uv_loop_t* loop_;
  UvHandle<uv_async_t> events_async_;
  // Old snapshots are freed when the workers have applied the next one (check_applied); this
  // catches those a long request kept, which no event announces.
  UvHandle<uv_timer_t> sweep_timer_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<routing::ListenerConfig> listeners_;            // as running
  routing::AccessLogConfig default_access_log_;               // as running
  std::unordered_map<std::string, uint32_t> listener_slots_;  // by address
  std::vector<std::string> listener_names_;                   // by slot
  routing::Topology topology_;
  EndpointHealth health_;                     // sets the topology's health flags
  routing::RouteNameSlots route_name_slots_;  // for every snapshot, so a name keeps its counters
  std::shared_ptr<const routing::Snapshot> snapshot_;
  std::shared_ptr<const AccessLogSetup> access_logs_;  // as the workers were last given it
  struct Retired {
    std::shared_ptr<const void> object;
    bool large;
  };
  std::vector<Retired> retired_;
  std::function<void(const EndpointEvent&)> event_handler_;
  struct PendingUpdate {
    uint64_t sequence;
    uint64_t started_ns;
    std::function<void(uint64_t delay_ns)> on_applied;
  };
  std::deque<PendingUpdate> pending_;  // updates not yet applied by every worker, in order
  uint64_t next_sequence_ = 1;
};

}  // namespace waygate::proxy
