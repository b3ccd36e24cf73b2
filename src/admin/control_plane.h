// The control thread: signals, reloads from every trigger (SIGHUP, the watched file, POST
// /reload), the admin listener and what it answers, and the orderly stop (SIGTERM, POST /drain).
// It runs on the main thread's uv_loop and reaches the workers only through the Server.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "admin/admin_server.h"
#include "admin/admin_token.h"
#include "admin/discovery_stats.h"
#include "admin/reload_history.h"
#include "core/uv_handle.h"
#include "discovery/discovery_manager.h"
#include "discovery/etcd_watcher.h"
#include "discovery/kubernetes/gateway_source.h"
#include "discovery/kubernetes/ingress_source.h"
#include "proxy/reloader.h"
#include "proxy/server.h"
#include "routing/config_loader.h"
#include "routing/config_watcher.h"
#include "routing/routes_dir_watcher.h"

namespace waygate::admin {

class ControlPlane {
 public:
  ControlPlane(std::string config_path, uv_loop_t* loop);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // Starts the workers, the admin listener and the watcher for a loaded config, and runs until the
  // workers have drained after SIGTERM. Returns the process exit code. The config moves into the
  // reloader: a large one is kept once.
  int run(routing::ConfigResult loaded);

 private:
  AdminResponse answer(const AdminRequest& request);
  // The JSON pages that only read the running state (GET /routes, /clusters, ...); nullopt for
  // another path.
  std::optional<AdminResponse> answer_page(const AdminRequest& request);
  proxy::Reloader::Outcome reload(std::string_view trigger);
  void record_reload(std::string_view trigger, const proxy::Reloader::Outcome& outcome,
                     uint64_t elapsed_ns);
  void publish_endpoints(const std::string& cluster, std::vector<routing::EndpointSpec> endpoints,
                         const std::string& source);
  // Watches the routes_source key the running config names (none, the same, or a new one).
  void follow_routes_source(const std::optional<routing::EtcdSourceConfig>& source);
  // Makes routes from the Ingresses and Gateway API HTTPRoutes the running config's routes_source
  // names (if it does).
  void follow_ingresses();
  // Tells the HTTPRoutes the hosts others route: the file's, and the Ingresses'.
  void reserve_gateway_hosts(std::set<std::string> file_hosts);
  // Hands the Ingresses' and the HTTPRoutes' documents on, as one, and reloads.
  void publish_kubernetes_routes(const std::string& name);
  // Watches the routes_dir the running config names (none, the same, or another).
  void follow_routes_dir();
  // Watches the keys under the routes_source.etcd.prefix the running config names (none, the
  // same, or another): each change to a key is one route entry's.
  void follow_routes_prefix();
  void on_prefix_update(const discovery::EtcdWatcher::Keys& keys,
                        const std::vector<discovery::EtcdWatcher::Change>& changes, bool relisted);
  // Applies changed routes_dir files (see Reloader::reload_routes_files) and records each.
  void reload_routes_files(std::vector<proxy::Reloader::FileContent> changes, bool everything,
                           std::string_view trigger);
  void record_file_outcomes(std::string_view trigger,
                            const std::vector<proxy::Reloader::FileOutcome>& outcomes,
                            uint64_t elapsed_ns);
  // Watches the certificate, key and CA files the running config names: a change reloads.
  void watch_certificates(const std::vector<std::string>& files);
  // Stops accepting, lets in-flight requests finish, then exits; `cause` names it in the log.
  void stop(const char* cause);
  void close_handles();
  static void on_stop_signal(uv_signal_t* handle, int signum);
  static void on_reload_signal(uv_signal_t* handle, int signum);
  static void on_reopen_signal(uv_signal_t* handle, int signum);
  static void on_drained(uv_async_t* async);

  std::string config_path_;
  uv_loop_t* loop_;
  proxy::Server server_;
  discovery::DiscoveryManager discovery_;
  std::unique_ptr<proxy::Reloader> reloader_;
  std::optional<routing::EtcdSourceConfig> routes_source_;
  std::unique_ptr<discovery::EtcdWatcher> routes_watcher_;
  std::optional<routing::EtcdSourceConfig> routes_prefix_;
  std::unique_ptr<discovery::EtcdWatcher> prefix_watcher_;
  bool prefix_synced_ = false;  // prefix_watcher_ has handed on its whole view once
  std::optional<routing::IngressSourceConfig> ingress_source_;
  std::string ingress_kubeconfig_;
  std::unique_ptr<discovery::kubernetes::IngressSource> ingress_watcher_;
  // Stopped, and kept until the next change: it may be running the reload that replaced it.
  std::unique_ptr<discovery::kubernetes::IngressSource> retired_ingress_watcher_;
  std::unique_ptr<discovery::kubernetes::GatewaySource> gateway_watcher_;
  std::unique_ptr<discovery::kubernetes::GatewaySource> retired_gateway_watcher_;
  std::string ingress_document_;  // the last each handed on
  std::string gateway_document_;
  // The certificates of the TLS Secrets the Ingresses name, handed on with their routes.
  std::vector<routing::PemCertificate> ingress_certificates_;
  std::unique_ptr<routing::ConfigWatcher> watcher_;
  std::unique_ptr<routing::RoutesDirWatcher> routes_dir_watcher_;
  std::set<std::string> certificate_files_;
  std::vector<std::unique_ptr<routing::ConfigWatcher>> certificate_watchers_;
  // Stopped watchers kept until the next change: one of them may be running the reload that
  // replaced it.
  std::vector<std::unique_ptr<routing::ConfigWatcher>> retired_certificate_watchers_;
  AdminServer admin_;
  AdminToken token_;
  ReloadHistory reloads_;
  std::string loaded_at_;  // when the running config was applied (RFC 3339 UTC)
  UvHandle<uv_signal_t> sigterm_, sigint_, sighup_, sigusr1_;
  UvHandle<uv_async_t> drained_;  // the workers have drained: close what keeps the loop running
  std::thread joiner_;            // waits for the workers, so /ready can answer 503 meanwhile
  bool stopping_ = false;
  DiscoveryStats discovery_stats_;
  double last_reload_seconds_ = 0;  // wall time of the last reload that applied or was refused
};

}  // namespace waygate::admin
