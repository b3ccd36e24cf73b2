#include "admin/control_plane.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/log.h"

#ifndef WAYGATE_VERSION
#define WAYGATE_VERSION "0.0.0"
#endif

namespace waygate::admin {
namespace {

constexpr int kControlNice = 10;

}  // namespace

ControlPlane::ControlPlane(std::string config_path, uv_loop_t* loop)
    : config_path_(std::move(config_path)),
      loop_(loop),
      server_(loop),
      admin_(loop, [this](const AdminRequest& request) { return answer(request); }) {}

ControlPlane::~ControlPlane() {
  if (joiner_.joinable()) joiner_.join();
}

int ControlPlane::run(const routing::ConfigResult& loaded, int access_log_fd) {
  const routing::Config& config = loaded.config;
  // Signals are watched before the listeners open: a SIGTERM that follows the first accepted
  // connection must drain, not kill.
  for (UvHandle<uv_signal_t>* handle : {&sigterm_, &sigint_, &sighup_}) {
    handle->init(uv_signal_init, loop_, this);
  }
  uv_signal_start(sigterm_.get(), &ControlPlane::on_stop_signal, SIGTERM);
  uv_signal_start(sigint_.get(), &ControlPlane::on_stop_signal, SIGINT);
  uv_signal_start(sighup_.get(), &ControlPlane::on_reload_signal, SIGHUP);
  drained_.init(uv_async_init, loop_, this, &ControlPlane::on_drained);
  // Like the signals, the watcher starts before the listeners: a change written as soon as the
  // port accepts is seen. Its callback runs only once the loop runs, when the reloader exists.
  watcher_ = std::make_unique<routing::ConfigWatcher>(loop_, config_path_,
                                                      [this] { reloader_->reload("file"); });
  watcher_->note_loaded(loaded.text);
  if (std::string failed = watcher_->start(); !failed.empty()) {
    WG_LOG_WARN("%s; SIGHUP and POST /reload still reload", failed.c_str());
  }

  std::string error;
  if (!config.admin.address_text.empty()) error = admin_.listen(config.admin.address);
  if (!error.empty()) error = "admin " + error;
  if (error.empty() && !server_.start(config, access_log_fd, &error)) {
    error = error.empty() ? "cannot start" : error;
  }
  if (!error.empty()) {
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
  reloader_ = std::make_unique<proxy::Reloader>(config_path_, server_, config, loaded.text);
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
    WG_LOG_WARN("cannot lower the control thread's priority: %s", std::strerror(errno));
  }
  WG_LOG_INFO("waygate %s ready with %zu workers", WAYGATE_VERSION, server_.worker_count());

  uv_run(loop_, UV_RUN_DEFAULT);
  if (joiner_.joinable()) joiner_.join();
  WG_LOG_INFO("stopped");
  return 0;
}

AdminResponse ControlPlane::answer(const AdminRequest& request) {
  if (request.path == "/ready") {
    return stopping_ ? AdminResponse::text(503, "draining\n") : AdminResponse::text(200, "ready\n");
  }
  if (request.path == "/reload") {
    if (request.method != "POST") {
      AdminResponse response = AdminResponse::text(405, "405 Method Not Allowed\n");
      response.headers.emplace_back("Allow", "POST");
      return response;
    }
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
  return AdminResponse::text(404, "404 Not Found\n");
}

void ControlPlane::on_stop_signal(uv_signal_t* handle, int signum) {
  static_cast<ControlPlane*>(handle->data)->stop(signum);
}

void ControlPlane::on_reload_signal(uv_signal_t* handle, int) {
  auto* self = static_cast<ControlPlane*>(handle->data);
  if (self->reloader_ && !self->stopping_) self->reload("SIGHUP");
}

proxy::Reloader::Outcome ControlPlane::reload(std::string_view trigger) {
  proxy::Reloader::Outcome outcome = reloader_->reload(trigger);
  // The watcher will see the same write: tell it what runs now, so it does not reload it twice.
  watcher_->note_loaded_hash(reloader_->running_hash());
  return outcome;
}

void ControlPlane::close_handles() {
  server_.close_handles();
  for (UvHandle<uv_signal_t>* handle : {&sigterm_, &sigint_, &sighup_})
    handle->reset();
  drained_.reset();
  admin_.close();
}

void ControlPlane::stop(int signum) {
  if (stopping_) return;
  stopping_ = true;
  WG_LOG_INFO("%s: draining connections, then exiting", strsignal(signum));
  server_.drain();
  for (UvHandle<uv_signal_t>* handle : {&sigterm_, &sigint_, &sighup_})
    handle->reset();
  if (watcher_) watcher_->stop();
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
  self->drained_.reset();
}

}  // namespace waygate::admin
