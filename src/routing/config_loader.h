// Reads and validates a YAML config. Every problem is reported with FILE:LINE:COL, all of them at
// once, so `waygate --check` shows a user the whole list.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routing/config.h"

namespace waygate::routing {

struct ConfigResult {
  Config config;
  std::vector<std::string> errors;  // "file:line:col: message"; empty when the config is valid
  // Of the file as read (and the extra sources after it), so a reload can tell whether it changed;
  // the text itself is not kept (it can be tens of megabytes).
  uint64_t text_hash = 0;
  // Of the bytes of every certificate, key and CA file the config names: a reload with the same
  // text is still a change when one of them changed.
  uint64_t tls_files_hash = 0;
  bool ok() const { return errors.empty(); }
};

// More routes and clusters from elsewhere (routes_source): a YAML document holding `routes:` and
// optionally `clusters:`, validated with the file and against it. `name` stands for it in
// messages ("etcd:/waygate/routes:3:5: ...").
struct ConfigSource {
  std::string name;
  std::string text;
  // Served by every TLS listener after its own certificates (Kubernetes TLS Secrets).
  std::vector<PemCertificate> certificates;
};

// Hosts and cluster names a routes_dir's files hold: the file and routes_source may not claim them.
struct TakenNames {
  NameClaims hosts;
  NameClaims clusters;
};

ConfigResult load_config_file(const std::string& path, const std::vector<ConfigSource>& extras = {},
                              const TakenNames& taken = {});
// The same, with the file's bytes read already (read_file_bytes(path); nullopt: it could not be).
ConfigResult load_config_bytes(std::optional<std::string> text, const std::string& path,
                               const std::vector<ConfigSource>& extras = {},
                               const TakenNames& taken = {});
// ConfigResult::text_hash of a file's text with these extras, without loading it.
uint64_t config_text_hash(std::string_view text, const std::vector<ConfigSource>& extras);
// The same, from text already in memory (`source_name` stands for the file in messages).
ConfigResult load_config_text(const std::string& text, const std::string& source_name,
                              const std::vector<ConfigSource>& extras = {},
                              const TakenNames& taken = {});

}  // namespace waygate::routing
