// Reads the `tls:` blocks of listeners and clusters and builds their OpenSSL contexts while the
// config is read, so a certificate or key that cannot serve is refused with the config
// (file:line:col), never found out at the first handshake.
#pragma once

#include <string>
#include <vector>

#include "routing/config.h"
#include "routing/yaml_reader.h"

namespace waygate::routing {

// `files` collects every file named, for the watcher that reloads when one changes.
// A certificate or key that cannot serve is the error "listener NAME: certificate refused: FILE:
// reason", which the reloader logs for the operator as it stands.
// `extra` (the routes_source's certificates) are served after the listener's own; one with the
// names and key type of a certificate before it is left out.
void read_listener_tls(Reader& r, const yaml::Node& node, const std::string& base_directory,
                       const std::string& listener_name, const std::vector<PemCertificate>& extra,
                       ListenerTlsConfig& out, std::vector<std::string>& files);
// `tls: {}` (or `tls: true`) takes every default.
void read_upstream_tls(Reader& r, const yaml::Node& node, const std::string& base_directory,
                       UpstreamTlsConfig& out, std::vector<std::string>& files);

}  // namespace waygate::routing
