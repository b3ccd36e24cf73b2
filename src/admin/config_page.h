// GET /config: the config in force as JSON, every default filled in. Secrets stay out: the admin
// token shows as "<redacted>", and of private keys only their paths appear.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "routing/config.h"

namespace waygate::admin {

inline constexpr std::string_view kRedacted = "<redacted>";

// {"path": ..., "loaded_at": ..., "config": {...}}; `workers` is how many run.
std::string render_config(std::string_view path, std::string_view loaded_at,
                          const routing::Config& config, size_t workers,
                          std::span<const routing::SharedRoutes> entries = {});

}  // namespace waygate::admin
