// Reads and validates a YAML config. Every problem is reported with FILE:LINE:COL, all of them at
// once, so `waygate --check` shows a user the whole list.
#pragma once

#include <string>
#include <vector>

#include "routing/config.h"

namespace waygate::routing {

struct ConfigResult {
  Config config;
  std::vector<std::string> errors;  // "file:line:col: message"; empty when the config is valid
  std::string text;                 // the file as read, so a reload can tell whether it changed
  bool ok() const { return errors.empty(); }
};

ConfigResult load_config_file(const std::string& path);
// The same, from text already in memory (`source_name` stands for the file in messages).
ConfigResult load_config_text(const std::string& text, const std::string& source_name);

}  // namespace waygate::routing
