// The waygate command line: parse flags, load the config, run the workers, handle signals.
#include <fcntl.h>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/log.h"
#include "proxy/reloader.h"
#include "proxy/server.h"
#include "routing/config_loader.h"
#include "routing/snapshot.h"

#ifndef WAYGATE_VERSION
#define WAYGATE_VERSION "0.0.0"
#endif

namespace {

using namespace waygate;

constexpr const char* kUsage =
    "usage: waygate --config FILE   run (SIGHUP reloads routes; SIGTERM drains and exits)\n"
    "       waygate --check FILE    validate only: exit 0, or 1 with file:line:col messages\n"
    "       waygate --version\n";

// The control thread: signals, reloads, and the orderly stop.
struct Control {
  proxy::Server* server = nullptr;
  proxy::Reloader* reloader = nullptr;
  uv_signal_t sigterm, sigint, sighup;
  bool stopping = false;
};

bool print_errors(const routing::ConfigResult& result) {
  for (const std::string& error : result.errors)
    std::fprintf(stderr, "%s\n", error.c_str());
  return result.ok();
}

int open_access_log(const std::string& target) {
  if (target == "off") return -1;
  if (target == "stdout") return STDOUT_FILENO;
  if (target == "stderr") return STDERR_FILENO;
  return ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

void on_stop_signal(uv_signal_t* handle, int signum) {
  auto* control = static_cast<Control*>(handle->data);
  if (control->stopping) return;
  control->stopping = true;
  WG_LOG_INFO("%s: draining connections, then exiting", strsignal(signum));
  control->server->drain();
  uv_close(reinterpret_cast<uv_handle_t*>(&control->sigterm), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&control->sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&control->sighup), nullptr);
}

void on_reload_signal(uv_signal_t* handle, int) {
  static_cast<Control*>(handle->data)->reloader->reload("SIGHUP");
}

int run(const std::string& path) {
  routing::ConfigResult loaded = routing::load_config_file(path);
  if (!print_errors(loaded)) return 1;
  const routing::Config& config = loaded.config;
  int access_log_fd = open_access_log(config.access_log);
  if (access_log_fd < 0 && config.access_log != "off") {
    std::fprintf(stderr, "access_log %s: %s\n", config.access_log.c_str(), std::strerror(errno));
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);

  // Signals are watched before the listeners open: a SIGTERM that follows the first accepted
  // connection must drain, not kill.
  proxy::Server server;
  uv_loop_t* loop = uv_default_loop();
  Control control;
  control.server = &server;
  for (uv_signal_t* handle : {&control.sigterm, &control.sigint, &control.sighup}) {
    uv_signal_init(loop, handle);
    handle->data = &control;
  }
  uv_signal_start(&control.sigterm, &on_stop_signal, SIGTERM);
  uv_signal_start(&control.sigint, &on_stop_signal, SIGINT);
  uv_signal_start(&control.sighup, &on_reload_signal, SIGHUP);

  std::string error;
  if (!server.start(config, routing::build_snapshot(config), access_log_fd, &error)) {
    std::fprintf(stderr, "waygate: %s\n", error.c_str());
    return 1;
  }
  for (const routing::ListenerConfig& listener : config.listeners) {
    WG_LOG_INFO("listener %s on %s", listener.name.c_str(), listener.address_text.c_str());
  }
  proxy::Reloader reloader(path, server, config, loaded.text);
  control.reloader = &reloader;
  WG_LOG_INFO("waygate %s ready with %zu workers", WAYGATE_VERSION, server.worker_count());

  uv_run(loop, UV_RUN_DEFAULT);
  server.join();
  uv_loop_close(loop);
  WG_LOG_INFO("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string flag = argc >= 2 ? argv[1] : "";
  if (argc == 2 && flag == "--version") {
    std::printf("waygate %s\n", WAYGATE_VERSION);
    return 0;
  }
  if (argc == 3 && flag == "--check") {
    routing::ConfigResult result = routing::load_config_file(argv[2]);
    if (!print_errors(result)) return 1;
    std::printf("%s: ok\n", argv[2]);
    return 0;
  }
  if (argc == 3 && flag == "--config") return run(argv[2]);
  std::fputs(kUsage, argc == 2 && (flag == "--help" || flag == "-h") ? stdout : stderr);
  return argc == 2 && (flag == "--help" || flag == "-h") ? 0 : 2;
}
