// The names an upstream TLS connection uses, shared by the proxy's pools and the health checks so
// both speak to an endpoint alike.
#pragma once

#include <string>
#include <string_view>

#include "routing/config.h"

namespace waygate::routing {

struct TlsPeerNames {
  std::string sni;     // sent as SNI; empty: none
  std::string verify;  // the DNS name or IP address the certificate must carry
};

// `server_name` is the DNS name the endpoint was found under (empty for an IP literal);
// `address_text` its "IP:PORT" or "[IPv6]:PORT".
TlsPeerNames tls_peer_names(const UpstreamTlsConfig& tls, std::string_view server_name,
                            std::string_view address_text);

}  // namespace waygate::routing
