// Reading `access_log:`, at the top level and on a listener: a path (the short form), or a mapping
// of path, format and template.
#pragma once

#include <string>

#include "routing/config.h"
#include "routing/yaml_reader.h"

namespace waygate::routing {

// `what` names the key in messages ("access_log", "listener web access_log").
void read_access_log(Reader& r, const yaml::Node& node, const std::string& what,
                     AccessLogConfig& out);

}  // namespace waygate::routing
