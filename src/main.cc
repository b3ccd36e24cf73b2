// The waygate command line: parse flags, load the config, run the workers, handle signals.
#include <malloc.h>
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "admin/control_plane.h"
#include "core/log.h"
#include "discovery/discovery_manager.h"
#include "routing/config_loader.h"
#include "routing/route_entries.h"

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

// Every file of the config's routes_dir is read, each validated like the running process does.
std::vector<std::string> routes_dir_errors(const routing::Config& config, const std::string& path) {
  std::vector<std::string> errors;
  if (config.routes_dir.empty()) return errors;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  routing::RouteEntries dir(config.routes_dir, parent.empty() ? "." : parent.string());
  dir.set_base(config, path);
  std::string error;
  dir.rescan(&error);
  if (!error.empty()) errors.push_back(path + ":1:1: routes_dir " + error);
  for (const auto& [name, file] : dir.entries())
    errors.insert(errors.end(), file.errors.begin(), file.errors.end());
  return errors;
}

int run(const std::string& path) {
  routing::ConfigResult loaded = routing::load_config_file(path);
  if (!print_errors(loaded)) return 1;
  log_set_level(loaded.config.log_level);
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t* loop = uv_default_loop();
  int exit_code = admin::ControlPlane(path, loop).run(std::move(loaded));
  uv_loop_close(loop);
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  // A fixed threshold: every block of 1 MiB or more (a config file's bytes, a parsed document's
  // node lists) is mapped and unmapped alone. glibc would otherwise raise the threshold after the
  // first such block is freed, and keep the next ones' memory resident in its heap after a reload.
  // (The NOLINT: no other thread runs yet.)
  mallopt(M_MMAP_THRESHOLD, 1 << 20);  // NOLINT(concurrency-mt-unsafe)
  std::string flag = argc >= 2 ? argv[1] : "";
  if (argc == 2 && flag == "--version") {
    std::printf("waygate %s\n", WAYGATE_VERSION);
    return 0;
  }
  if (argc == 3 && flag == "--check") {
    routing::ConfigResult result = routing::load_config_file(argv[2]);
    // Discovery sources may name more files (a kubeconfig): checked once the config is valid.
    if (result.ok()) result.errors = discovery::DiscoveryManager::check(result.config);
    if (result.ok()) result.errors = routes_dir_errors(result.config, argv[2]);
    if (!print_errors(result)) return 1;
    std::printf("%s: ok\n", argv[2]);
    return 0;
  }
  if (argc == 3 && flag == "--config") return run(argv[2]);
  std::fputs(kUsage, argc == 2 && (flag == "--help" || flag == "-h") ? stdout : stderr);
  return argc == 2 && (flag == "--help" || flag == "-h") ? 0 : 2;
}
