// The waygate command line: parse flags, load the config, run the workers, handle signals.
#include <fcntl.h>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "admin/control_plane.h"
#include "core/log.h"
#include "routing/config_loader.h"

#ifndef WAYGATE_VERSION
#define WAYGATE_VERSION "0.0.0"
#endif

namespace {

using namespace waygate;

constexpr const char* kUsage =
    "usage: waygate --config FILE   run (SIGHUP or a changed file reloads; SIGTERM drains and "
    "exits)\n"
    "       waygate --check FILE    validate only: exit 0, or 1 with file:line:col messages\n"
    "       waygate --version\n";

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

int run(const std::string& path) {
  routing::ConfigResult loaded = routing::load_config_file(path);
  if (!print_errors(loaded)) return 1;
  const std::string& access_log = loaded.config.access_log;
  int access_log_fd = open_access_log(access_log);
  if (access_log_fd < 0 && access_log != "off") {
    std::fprintf(stderr, "access_log %s: %s\n", access_log.c_str(), std::strerror(errno));
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t* loop = uv_default_loop();
  int exit_code = admin::ControlPlane(path, loop).run(loaded, access_log_fd);
  uv_loop_close(loop);
  return exit_code;
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
