#include "admin/control_plane.h"

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <system_error>

#include "admin/clusters_page.h"
#include "admin/config_page.h"
#include "admin/dashboard_assets.h"
#include "admin/live_page.h"
#include "admin/metrics_page.h"
#include "admin/prometheus_text.h"
#include "admin/routes_dir_page.h"
#include "admin/routes_page.h"
#include "core/clock.h"
#include "core/file_bytes.h"
#include "core/log.h"
#include "discovery/kubernetes/route_documents.h"

#ifndef WAYGATE_VERSION
#define WAYGATE_VERSION "0.0.0"
#endif

namespace waygate::admin {
namespace {

constexpr int kControlNice = 10;

uint64_t thread_cpu_ns() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec);
}

std::string utc_now() {
  char text[32];
  size_t length = format_utc_timestamp(text, sizeof(text));
  return std::string(text, length);
}

AdminResponse method_not_allowed(const char* allowed) {
  AdminResponse response = AdminResponse::text(405, "405 Method Not Allowed\n");
  response.headers.emplace_back("Allow", allowed);
  return response;
}

bool is_read(const AdminRequest& request) {
  return request.method == "GET" || request.method == "HEAD";
}

}  // namespace

ControlPlane::ControlPlane(std::string config_path, uv_loop_t* loop)
    : config_path_(std::move(config_path)),
      loop_(loop),
      server_(loop),
      discovery_(loop,
                 [this](const std::string& cluster, std::vector<routing::EndpointSpec> endpoints,
                        const std::string& source) {
                   publish_endpoints(cluster, std::move(endpoints), source);
                 }),
      admin_(loop, [this](const AdminRequest& request) { return answer(request); }) {}

ControlPlane::~ControlPlane() {
  if (joiner_.joinable()) joiner_.join();
}

int ControlPlane::run(routing::ConfigResult loaded) {
  // A routes_dir's files are merged with the file's routes: the file alone is kept as the base.
  std::unique_ptr<routing::RouteEntries> routes_dir =
      proxy::Reloader::read_routes_dir(loaded.config, config_path_);
  routing::Config base;
  if (routes_dir) base = loaded.config;
  auto shared = std::make_shared<const routing::Config>(
      routes_dir ? routes_dir->merged(loaded.config) : std::move(loaded.config));
  const routing::Config& config = *shared;
  // Signals are watched before the listeners open: a SIGTERM that follows the first accepted
  // connection must drain, not kill.
  for (UvHandle<uv_signal_t>* handle : {&sigterm_, &sigint_, &sighup_, &sigusr1_}) {
    handle->init(uv_signal_init, loop_, this);
  }
  uv_signal_start(sigterm_.get(), &ControlPlane::on_stop_signal, SIGTERM);
  uv_signal_start(sigint_.get(), &ControlPlane::on_stop_signal, SIGINT);
  uv_signal_start(sighup_.get(), &ControlPlane::on_reload_signal, SIGHUP);
  uv_signal_start(sigusr1_.get(), &ControlPlane::on_reopen_signal, SIGUSR1);
  drained_.init(uv_async_init, loop_, this, &ControlPlane::on_drained);
  // Like the signals, the watcher starts before the listeners: a change written as soon as the
  // port accepts is seen. Its callback runs only once the loop runs, when the reloader exists.
  watcher_ =
      std::make_unique<routing::ConfigWatcher>(loop_, config_path_, [this] { reload("file"); });
  watcher_->note_loaded_hash(loaded.text_hash);
  if (std::string failed = watcher_->start(); !failed.empty()) {
    WG_LOG_WARN("%s; SIGHUP and POST /reload still reload", failed.c_str());
  }

  std::string error;
  token_ = AdminToken(config.admin.token);
  if (!config.admin.address_text.empty()) error = admin_.listen(config.admin.address);
  if (!error.empty()) error = "admin " + error;
  std::vector<std::string> errors;
  routing::EndpointsByCluster endpoints = discovery_.prepare(config, &errors);
  if (error.empty() && !errors.empty()) {
    for (const std::string& line : errors)
      error += (error.empty() ? "" : "\n") + line;
  }
  std::vector<routing::SharedRoutes> entries;
  if (routes_dir) entries = routes_dir->entry_routes();
  if (error.empty() && !server_.start(shared, endpoints, &error, entries)) {
    error = error.empty() ? "cannot start" : error;
  }
  if (!error.empty()) {
    discovery_.discard();
    std::fprintf(stderr, "waygate: %s\n", error.c_str());
    watcher_->stop();
    close_handles();
    uv_run(loop_, UV_RUN_DEFAULT);  // let the close callbacks run before this object goes
    return 1;
  }
  for (const routing::ListenerConfig& listener : config.listeners) {
    WG_LOG_INFO("listener %s on %s", listener.name.c_str(), listener.address_text.c_str());
  }
  if (!config.admin.address_text.empty()) {
    WG_LOG_INFO("admin on %s", config.admin.address_text.c_str());
  }
  discovery_.commit();
  reloader_ = std::make_unique<proxy::Reloader>(
      config_path_, server_, discovery_, std::move(shared), std::move(base), std::move(routes_dir),
      loaded.text_hash, loaded.tls_files_hash);
  loaded_at_ = utc_now();
  malloc_trim(0);  // the document read is freed: hand its pages back
  watch_certificates(reloader_->tls_files());
  follow_routes_source(reloader_->routes_source());
  follow_ingresses();
  follow_routes_dir();
  follow_routes_prefix();
  // Passive health (outlier detection) will act on these; until then they are visible in the
  // debug log.
  server_.on_endpoint_event([](const proxy::EndpointEvent& event) {
    WG_LOG_DEBUG("endpoint %u (generation %u): event %u", event.endpoint_id, event.generation,
                 static_cast<unsigned>(event.kind));
  });
  // Reloads parse YAML and build route tables; where the control thread shares a core with a
  // worker, the worker's requests go first. Linux keeps a nice value per thread, and the workers
  // (started above, inheriting the old value) are not affected.
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kControlNice) != 0) {
    WG_LOG_WARN("cannot lower the control thread's priority: %s",
                std::generic_category().message(errno).c_str());
  }
  WG_LOG_INFO("waygate %s ready with %zu workers", WAYGATE_VERSION, server_.worker_count());

  uv_run(loop_, UV_RUN_DEFAULT);
  if (joiner_.joinable()) joiner_.join();
  WG_LOG_INFO("stopped");
  return 0;
}

AdminResponse ControlPlane::answer(const AdminRequest& request) {
  if (!token_.admits(request)) {
    // The header may hold a near miss of the token: it is never logged.
    WG_LOG_INFO("admin: 401 for %.*s %.*s: %s", static_cast<int>(request.method.size()),
                request.method.data(), static_cast<int>(request.path.size()), request.path.data(),
                request.authorization.empty() ? "no token" : "wrong token");
    return unauthorized();
  }
  if (is_dashboard_path(request.path)) return dashboard_response(request);
  if (request.path == "/ready") {
    return stopping_ ? AdminResponse::text(503, "draining\n") : AdminResponse::text(200, "ready\n");
  }
  if (request.path == "/metrics") {
    ReloadStats reloads;
    if (reloader_) reloads = {reloader_->applied(), reloader_->refused(), last_reload_seconds_};
    return AdminResponse::with_type(200, std::string(kPrometheusContentType),
                                    render_metrics(server_, reloads, discovery_stats_));
  }
  if (request.path == "/reload") {
    if (request.method != "POST") return method_not_allowed("POST");
    if (stopping_) return AdminResponse::text(503, "draining\n");
    proxy::Reloader::Outcome outcome = reload("admin");
    switch (outcome.result) {
      case proxy::Reloader::Result::kReloaded:
        return AdminResponse::text(200, "reloaded\n");
      case proxy::Reloader::Result::kUnchanged:
        return AdminResponse::text(200, "unchanged\n");
      case proxy::Reloader::Result::kRefused:
        return AdminResponse::text(400, outcome.message);
    }
  }
  if (request.path == "/drain") {
    if (request.method != "POST") return method_not_allowed("POST");
    // The answer is written as soon as this returns, before the loop runs again: the drain ends
    // the admin listener only on a later turn, once the workers are done.
    stop("POST /drain");
    return AdminResponse::json(202, "{\"draining\":true}");
  }
  if (request.path.starts_with("/routes/")) {
    if (!reloader_) return AdminResponse::text(503, "starting\n");
    if (stopping_ && !is_read(request)) return AdminResponse::text(503, "draining\n");
    return answer_routes_file(request, request.path.substr(std::string_view("/routes/").size()),
                              *reloader_,
                              [this](const std::vector<proxy::Reloader::FileOutcome>& outcomes) {
                                record_file_outcomes("admin", outcomes, 0);
                              });
  }
  if (std::optional<AdminResponse> page = answer_page(request)) return std::move(*page);
  return AdminResponse::text(404, "404 Not Found\n");
}

std::optional<AdminResponse> ControlPlane::answer_page(const AdminRequest& request) {
  const std::string_view path = request.path;
  if (path != "/live" && path != "/routes" && path != "/clusters" && path != "/config" &&
      path != "/reloads" && path != "/routes_dir") {
    return std::nullopt;
  }
  if (!is_read(request)) return method_not_allowed("GET, HEAD");
  if (path == "/live") return answer_live(server_, uv_hrtime() / 1'000'000);
  if (path == "/reloads") return AdminResponse::json(200, reloads_.render());
  if (!reloader_) return AdminResponse::text(503, "starting\n");
  const routing::Config& config = reloader_->config();
  std::vector<routing::SharedRoutes> entries;
  if (reloader_->route_entries()) entries = reloader_->route_entries()->entry_routes();
  if (path == "/routes") return AdminResponse::json(200, render_routes(config, entries));
  if (path == "/routes_dir") {
    if (!reloader_->route_entries()) {
      return AdminResponse::json(404, "{\"error\":\"the config names no routes_dir\"}\n");
    }
    return AdminResponse::json(200, render_routes_dir(*reloader_->route_entries()));
  }
  if (path == "/clusters") {
    return AdminResponse::json(200, render_clusters(config, server_, discovery_));
  }
  std::error_code failed;
  std::filesystem::path absolute = std::filesystem::absolute(config_path_, failed);
  std::string shown = failed ? config_path_ : absolute.lexically_normal().string();
  return AdminResponse::json(
      200, render_config(shown, loaded_at_, config, server_.worker_count(), entries));
}

void ControlPlane::on_stop_signal(uv_signal_t* handle, int signum) {
  const char* name = sigdescr_np(signum);  // strsignal's text, without its shared buffer
  static_cast<ControlPlane*>(handle->data)->stop(name ? name : "signal");
}

void ControlPlane::on_reload_signal(uv_signal_t* handle, int) {
  auto* self = static_cast<ControlPlane*>(handle->data);
  if (self->reloader_ && !self->stopping_) self->reload("SIGHUP");
}

// Log rotation renamed the access-log files: open them again at their paths.
void ControlPlane::on_reopen_signal(uv_signal_t* handle, int) {
  auto* self = static_cast<ControlPlane*>(handle->data);
  if (self->stopping_) return;
  std::string problems = self->server_.reopen_access_logs();
  if (problems.empty()) {
    WG_LOG_INFO("SIGUSR1: access logs reopened");
  } else {
    WG_LOG_ERROR("SIGUSR1: %s", problems.c_str());
  }
}

proxy::Reloader::Outcome ControlPlane::reload(std::string_view trigger) {
  uint64_t started = uv_hrtime();
  proxy::Reloader::Outcome outcome = reloader_->reload(trigger);
  // The document read and the config replaced (or refused, or found unchanged: it was read whole
  // to know) are freed: glibc would keep their pages for reuse, resident for as long as the
  // process runs.
  malloc_trim(0);
  uint64_t elapsed_ns = uv_hrtime() - started;
  if (outcome.result != proxy::Reloader::Result::kUnchanged) {
    last_reload_seconds_ = static_cast<double>(elapsed_ns) / 1e9;
  }
  record_reload(trigger, outcome, elapsed_ns);
  // The watcher will see the same write: tell it what runs now, so it does not reload it twice.
  watcher_->note_loaded_hash(reloader_->running_hash());
  if (outcome.result == proxy::Reloader::Result::kReloaded) {
    follow_routes_source(reloader_->routes_source());
    follow_ingresses();
    watch_certificates(reloader_->tls_files());
    follow_routes_dir();
    follow_routes_prefix();
  } else if (outcome.result == proxy::Reloader::Result::kRefused &&
             (ingress_watcher_ || gateway_watcher_)) {
    // Perhaps the file now routes a host an Ingress or HTTPRoute has: tell them the file's hosts,
    // whose change reloads again with them left out.
    routing::ConfigResult file = routing::load_config_file(config_path_);
    if (file.ok()) {
      std::set<std::string> hosts;
      for (const routing::RouteConfig& route : file.config.routes)
        hosts.insert(route.hosts.begin(), route.hosts.end());
      if (ingress_watcher_) ingress_watcher_->set_file_hosts(hosts);
      reserve_gateway_hosts(std::move(hosts));
    }
  }
  return outcome;
}

void ControlPlane::record_reload(std::string_view trigger, const proxy::Reloader::Outcome& outcome,
                                 uint64_t elapsed_ns) {
  ReloadHistory::Entry entry;
  entry.time = utc_now();
  entry.trigger = trigger;
  entry.duration_ms = static_cast<double>(elapsed_ns) / 1e6;
  switch (outcome.result) {
    case proxy::Reloader::Result::kReloaded:
      entry.result = "applied";
      entry.message = "applied " + config_path_;
      loaded_at_ = entry.time;
      break;
    case proxy::Reloader::Result::kUnchanged:
      entry.result = "unchanged";
      entry.message = config_path_ + " is unchanged";
      break;
    case proxy::Reloader::Result::kRefused:
      entry.result = "refused";
      entry.message = outcome.message;
      if (entry.message.ends_with('\n')) entry.message.pop_back();
      break;
  }
  reloads_.record(std::move(entry));
}

void ControlPlane::record_file_outcomes(std::string_view trigger,
                                        const std::vector<proxy::Reloader::FileOutcome>& outcomes,
                                        uint64_t elapsed_ns) {
  for (const proxy::Reloader::FileOutcome& outcome : outcomes) {
    ReloadHistory::Entry entry;
    entry.time = utc_now();
    entry.trigger = trigger;
    entry.duration_ms = static_cast<double>(elapsed_ns) / 1e6;
    entry.message = outcome.message;
    if (entry.message.ends_with('\n')) entry.message.pop_back();
    if (outcome.result == proxy::Reloader::Result::kReloaded) {
      entry.result = "applied";
      loaded_at_ = entry.time;
    } else {
      entry.result = "refused";
    }
    reloads_.record(std::move(entry));
  }
}

void ControlPlane::reload_routes_files(std::vector<proxy::Reloader::FileContent> changes,
                                       bool everything, std::string_view trigger) {
  uint64_t started = uv_hrtime();
  std::vector<proxy::Reloader::FileOutcome> outcomes =
      reloader_->reload_routes_files(std::move(changes), everything, trigger);
  if (outcomes.empty()) return;
  malloc_trim(0);
  uint64_t elapsed_ns = uv_hrtime() - started;
  last_reload_seconds_ = static_cast<double>(elapsed_ns) / 1e9;
  record_file_outcomes(trigger, outcomes, elapsed_ns);
}

void ControlPlane::follow_routes_dir() {
  const routing::RouteEntries* dir = reloader_->route_entries();
  bool files = dir && dir->backend() == routing::RouteEntries::Backend::kDirectory;
  std::string wanted = files ? dir->directory() : std::string();
  std::string watched = routes_dir_watcher_ ? routes_dir_watcher_->directory() : std::string();
  if (wanted == watched) return;
  routes_dir_watcher_.reset();
  if (wanted.empty()) return;
  routes_dir_watcher_ = std::make_unique<routing::RoutesDirWatcher>(
      loop_, wanted, [this](const std::vector<std::string>& names, bool everything) {
        const routing::RouteEntries* running = reloader_->route_entries();
        if (stopping_ || !running) return;
        std::vector<proxy::Reloader::FileContent> changes;
        changes.reserve(names.size());
        for (const std::string& name : names)
          changes.push_back({name, read_file_bytes(running->path_of(name))});
        reload_routes_files(std::move(changes), everything, "routes_dir");
      });
  if (std::string failed = routes_dir_watcher_->start(); !failed.empty()) {
    WG_LOG_WARN("%s; SIGHUP and POST /reload still read its files", failed.c_str());
  }
  // A file written after the directory was read and before the watch began is seen now.
  reload_routes_files({}, true, "routes_dir");
}

void ControlPlane::follow_routes_prefix() {
  const std::optional<routing::EtcdSourceConfig>& source = reloader_->config().routes_prefix;
  bool same = source.has_value() == routes_prefix_.has_value() &&
              (!source || (source->key == routes_prefix_->key &&
                           source->endpoints == routes_prefix_->endpoints));
  if (same) return;
  routes_prefix_ = source;
  prefix_watcher_.reset();
  prefix_synced_ = false;
  if (!source) return;
  discovery::EtcdWatcher::Options options;
  options.endpoints = source->endpoints;
  options.key = source->key;
  options.prefix = true;
  std::string prefix = source->key;
  prefix_watcher_ = std::make_unique<discovery::EtcdWatcher>(
      loop_, options,
      [this](const discovery::EtcdWatcher::Keys& keys,
             const std::vector<discovery::EtcdWatcher::Change>& changes, uint64_t,
             bool relisted) { on_prefix_update(keys, changes, relisted); },
      [prefix](const std::string& error) {
        WG_LOG_WARN("routes_source etcd prefix %s: %s (the entries last read from it keep serving)",
                    prefix.c_str(), error.c_str());
      });
  prefix_watcher_->start();
}

void ControlPlane::on_prefix_update(const discovery::EtcdWatcher::Keys& keys,
                                    const std::vector<discovery::EtcdWatcher::Change>& changes,
                                    bool relisted) {
  const routing::RouteEntries* entries = reloader_->route_entries();
  if (stopping_ || !entries || entries->backend() != routing::RouteEntries::Backend::kEtcd) return;
  const std::string& prefix = routes_prefix_->key;
  auto content_of = [&](const std::string& key) {
    proxy::Reloader::FileContent content{key.substr(prefix.size()), std::nullopt, 0};
    auto found = keys.find(key);
    if (found != keys.end()) {
      content.text = found->second;
      content.revision = prefix_watcher_->mod_revision(key);
    }
    return content;
  };
  std::vector<proxy::Reloader::FileContent> contents;
  if (!prefix_synced_ || relisted) {
    // A whole view: an entry read before it (by an earlier watcher, or before a compaction) that
    // it does not hold was deleted meanwhile.
    prefix_synced_ = true;
    for (const auto& [name, file] : entries->entries()) {
      if (!keys.contains(prefix + name)) contents.push_back({name, std::nullopt, 0});
    }
    for (const auto& [key, value] : keys)
      contents.push_back(content_of(key));
  } else {
    for (const discovery::EtcdWatcher::Change& change : changes)
      contents.push_back(content_of(change.key));
  }
  reload_routes_files(std::move(contents), false, "etcd");
}

void ControlPlane::publish_endpoints(const std::string& cluster,
                                     std::vector<routing::EndpointSpec> endpoints,
                                     const std::string& source) {
  size_t count = endpoints.size();
  // CPU time, not wall time: on a shared core the control thread (at nice 10) may wait its turn,
  // and that wait is not work the change cost.
  uint64_t started = thread_cpu_ns();
  auto control_ns = std::make_shared<uint64_t>(0);
  bool published = server_.set_endpoints(
      cluster, std::move(endpoints), [this, cluster, count, source, control_ns](uint64_t delay_ns) {
        // The delay from the source's change reaching waygate to every worker routing by it, and
        // the control thread's share of it.
        discovery_stats_.record(cluster, source, delay_ns);
        WG_LOG_INFO(
            "discovery: cluster %s: %zu endpoints (%s), routed by every worker %.2f ms "
            "after the change arrived (control thread CPU %.2f ms)",
            cluster.c_str(), count, source.c_str(), static_cast<double>(delay_ns) / 1e6,
            static_cast<double>(*control_ns) / 1e6);
      });
  if (published) *control_ns = thread_cpu_ns() - started;
}

void ControlPlane::watch_certificates(const std::vector<std::string>& files) {
  std::set<std::string> wanted(files.begin(), files.end());
  if (wanted == certificate_files_) return;
  certificate_files_ = std::move(wanted);
  for (const auto& watcher : certificate_watchers_)
    watcher->stop();
  retired_certificate_watchers_ = std::move(certificate_watchers_);
  certificate_watchers_.clear();
  for (const std::string& file : certificate_files_) {
    auto watcher = std::make_unique<routing::ConfigWatcher>(loop_, file, [this] {
      if (!stopping_) reload("certificate");
    });
    // What runs now was read from these bytes: only a change from them reloads.
    watcher->note_loaded(read_file_bytes(file).value_or(""));
    if (std::string failed = watcher->start(); !failed.empty()) {
      WG_LOG_WARN("%s; SIGHUP and POST /reload still reload certificates", failed.c_str());
    }
    certificate_watchers_.push_back(std::move(watcher));
  }
}

void ControlPlane::follow_routes_source(const std::optional<routing::EtcdSourceConfig>& source) {
  bool same = source.has_value() == routes_source_.has_value() &&
              (!source || (source->key == routes_source_->key &&
                           source->endpoints == routes_source_->endpoints));
  if (same) return;
  routes_source_ = source;
  routes_watcher_.reset();
  if (!source) {
    reloader_->set_extra_source(std::nullopt);
    return;
  }
  discovery::EtcdWatcher::Options options;
  options.endpoints = source->endpoints;
  options.key = source->key;
  options.prefix = false;
  std::string key = source->key;
  routes_watcher_ = std::make_unique<discovery::EtcdWatcher>(
      loop_, options,
      [this, key](const discovery::EtcdWatcher::Keys& keys,
                  const std::vector<discovery::EtcdWatcher::Change>&, uint64_t, bool) {
        auto found = keys.find(key);
        reloader_->set_extra_source(
            routing::ConfigSource{"etcd:" + key, found == keys.end() ? "" : found->second, {}});
        reload("etcd");
      },
      [key](const std::string& error) {
        WG_LOG_WARN("routes_source etcd %s: %s (the routes last read from it keep serving)",
                    key.c_str(), error.c_str());
      });
  routes_watcher_->start();
}

void ControlPlane::follow_ingresses() {
  const routing::Config& config = reloader_->config();
  const std::optional<routing::IngressSourceConfig>& source = config.ingress_source;
  if (source != ingress_source_ || config.kubernetes.kubeconfig != ingress_kubeconfig_) {
    ingress_source_ = source;
    ingress_kubeconfig_ = config.kubernetes.kubeconfig;
    if (ingress_watcher_) ingress_watcher_->stop();
    if (gateway_watcher_) gateway_watcher_->stop();
    retired_ingress_watcher_ = std::move(ingress_watcher_);
    retired_gateway_watcher_ = std::move(gateway_watcher_);
    ingress_document_.clear();
    ingress_certificates_.clear();
    gateway_document_.clear();
    if (!source) return;
    std::vector<std::string> errors;
    std::optional<discovery::kubernetes::ApiAccess> access =
        discovery::kubernetes::load_api_access(config.kubernetes, &errors);
    auto api = access ? std::make_shared<const discovery::kubernetes::ApiClient>(std::move(*access))
                      : nullptr;
    if (api && !api->error().empty()) errors.push_back(api->access().origin + ": " + api->error());
    if (!errors.empty()) {
      for (const std::string& error : errors)
        WG_LOG_ERROR("routes_source kubernetes: %s (no routes from Ingresses or Gateways)",
                     error.c_str());
      return;
    }
    std::string name = routing::routes_source_name(config);
    // One watch for each kind both sources read (the Services).
    auto collections = std::make_shared<discovery::kubernetes::ObjectCollections>(loop_, api);
    if (!source->ingress_class.empty()) {
      ingress_watcher_ = std::make_unique<discovery::kubernetes::IngressSource>(
          loop_, collections, *source,
          [this, name](const std::string& document,
                       const std::vector<routing::PemCertificate>& certificates) {
            ingress_document_ = document;
            ingress_certificates_ = certificates;
            publish_kubernetes_routes(name);
          });
      ingress_watcher_->start();
    }
    if (!source->gateway_class.empty()) {
      gateway_watcher_ = std::make_unique<discovery::kubernetes::GatewaySource>(
          collections, *source, [this, name](const std::string& document) {
            gateway_document_ = document;
            publish_kubernetes_routes(name);
          });
      gateway_watcher_->start();
    }
  }
  if (!ingress_watcher_ && !gateway_watcher_) return;
  // The hosts the file routes: those the running config routes and the Kubernetes objects did not
  // add. Ingresses keep a host both they and an HTTPRoute name.
  std::set<std::string> file_hosts;
  auto add_file_hosts = [&](const std::vector<routing::RouteConfig>& routes) {
    for (const routing::RouteConfig& route : routes) {
      for (const std::string& host : route.hosts) {
        if (ingress_watcher_ && ingress_watcher_->hosts().count(host)) continue;
        if (gateway_watcher_ && gateway_watcher_->hosts().count(host)) continue;
        file_hosts.insert(host);
      }
    }
  };
  add_file_hosts(config.routes);
  if (reloader_->route_entries()) {
    for (const routing::SharedRoutes& entry : reloader_->route_entries()->entry_routes())
      add_file_hosts(*entry);
  }
  // The Ingresses first: telling them may reload, and change the hosts they route.
  if (ingress_watcher_) ingress_watcher_->set_file_hosts(file_hosts);
  reserve_gateway_hosts(std::move(file_hosts));
}

void ControlPlane::reserve_gateway_hosts(std::set<std::string> file_hosts) {
  if (!gateway_watcher_) return;
  if (ingress_watcher_) {
    file_hosts.insert(ingress_watcher_->hosts().begin(), ingress_watcher_->hosts().end());
  }
  gateway_watcher_->set_reserved_hosts(std::move(file_hosts));
}

void ControlPlane::publish_kubernetes_routes(const std::string& name) {
  reloader_->set_extra_source(routing::ConfigSource{
      name, discovery::kubernetes::merge_route_documents(ingress_document_, gateway_document_),
      ingress_certificates_});
  reload("kubernetes");
}

void ControlPlane::close_handles() {
  server_.close_handles();
  routes_watcher_.reset();
  prefix_watcher_.reset();
  routes_dir_watcher_.reset();
  ingress_watcher_.reset();
  retired_ingress_watcher_.reset();
  gateway_watcher_.reset();
  retired_gateway_watcher_.reset();
  discovery_.stop();
  for (UvHandle<uv_signal_t>* handle : {&sigterm_, &sigint_, &sighup_, &sigusr1_})
    handle->reset();
  drained_.reset();
  admin_.close();
}

void ControlPlane::stop(const char* cause) {
  if (stopping_) return;
  stopping_ = true;
  WG_LOG_INFO("%s: draining connections, then exiting", cause);
  server_.drain();
  sigterm_.reset();
  sigint_.reset();
  // Still caught while the workers drain, so log rotation's SIGUSR1 (or a SIGHUP) cannot kill the
  // process before every buffered access-log line is written; not keeping the loop alive.
  uv_unref(sighup_.handle());
  uv_unref(sigusr1_.handle());
  if (watcher_) watcher_->stop();
  for (const auto& watcher : certificate_watchers_)
    watcher->stop();
  routes_watcher_.reset();
  prefix_watcher_.reset();
  if (routes_dir_watcher_) routes_dir_watcher_->stop();
  if (ingress_watcher_) ingress_watcher_->stop();
  if (gateway_watcher_) gateway_watcher_->stop();
  discovery_.stop();
  // The admin listener stays up while the workers drain, so /ready can say so.
  joiner_ = std::thread([this] {
    server_.join();
    uv_async_send(drained_.get());
  });
}

void ControlPlane::on_drained(uv_async_t* async) {
  auto* self = static_cast<ControlPlane*>(async->data);
  self->admin_.close();
  self->server_.close_handles();
  self->sighup_.reset();
  self->sigusr1_.reset();
  self->drained_.reset();
}

}  // namespace waygate::admin
