// A `kubernetes.io/tls` Secret (data tls.crt and tls.key, base64) read into a certificate waygate's
// TLS listeners can serve, checked the way a listener's files are: it parses and the key matches.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "routing/config.h"

namespace waygate::discovery::kubernetes {

// `key` is "NAMESPACE/NAME". nullopt with *error (never holding key bytes) for a Secret that
// cannot serve.
std::optional<routing::PemCertificate> read_tls_secret(const std::string& key,
                                                       const nlohmann::json& secret,
                                                       std::string* error);

}  // namespace waygate::discovery::kubernetes
