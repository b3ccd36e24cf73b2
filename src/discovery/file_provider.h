// A cluster's endpoints from a file: a YAML (or JSON) list of {address, port, weight, zone,
// metadata}, watched like the config file (rewrites, rename-replace and symlink swaps are seen).
// The file is read once when the provider is made, so its endpoints serve from the first request;
// a missing, unreadable or invalid file keeps the last endpoints.
#pragma once

#include <memory>
#include <string>

#include "discovery/provider.h"
#include "routing/config_watcher.h"

namespace waygate::discovery {

class FileProvider final : public Provider {
 public:
  FileProvider(std::string cluster, ProviderSink& sink, uv_loop_t* loop, std::string path);

  void start() override;
  std::string describe() const override { return "file " + path_; }

  // Parses the file's text; on errors returns false with "path:line:col: message" lines.
  static bool parse(const std::string& text, const std::string& path,
                    std::vector<routing::EndpointSpec>* endpoints,
                    std::vector<std::string>* errors);

 private:
  // Reads the file; false (and a warning) when it cannot be read or is invalid.
  bool read(std::vector<routing::EndpointSpec>* endpoints);

  std::string path_;
  routing::ConfigWatcher watcher_;
};

}  // namespace waygate::discovery
