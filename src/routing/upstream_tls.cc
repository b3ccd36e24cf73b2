#include "routing/upstream_tls.h"

namespace waygate::routing {

TlsPeerNames tls_peer_names(const UpstreamTlsConfig& tls, std::string_view server_name,
                            std::string_view address_text) {
  TlsPeerNames names;
  names.sni = !tls.sni.empty() ? tls.sni : std::string(server_name);
  if (!names.sni.empty()) {
    names.verify = names.sni;
    return names;
  }
  // An endpoint known by address only: its certificate must name that IP address.
  std::string_view ip = address_text.substr(0, address_text.rfind(':'));
  if (ip.size() >= 2 && ip.front() == '[') ip = ip.substr(1, ip.size() - 2);
  names.verify = ip;
  return names;
}

}  // namespace waygate::routing
