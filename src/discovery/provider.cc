#include "discovery/provider.h"

#include "core/log.h"

namespace waygate::discovery {

std::optional<routing::EndpointSpec> endpoint_at(std::string_view ip, uint16_t port,
                                                 uint32_t weight, std::string_view server_name) {
  // Built by appending: GCC 12 misreads the chained operator+ form (-Wrestrict).
  std::string text;
  bool v6 = ip.find(':') != std::string_view::npos;
  if (v6) text.push_back('[');
  text.append(ip);
  if (v6) text.push_back(']');
  text.push_back(':');
  text.append(std::to_string(port));
  auto address = parse_socket_address(text);
  if (!address) return std::nullopt;
  routing::EndpointSpec endpoint;
  endpoint.address_text = std::move(text);
  endpoint.address = *address;
  endpoint.weight = weight;
  endpoint.server_name = server_name;
  return endpoint;
}

void Provider::keep_after_failure(const std::string& error, uint64_t next_try_ms) {
  if (next_try_ms == 0) {
    WG_LOG_WARN("discovery: cluster %s, %s: %s (keeping the last %zu endpoints)", cluster_.c_str(),
                describe().c_str(), error.c_str(), endpoints_.size());
    return;
  }
  WG_LOG_WARN("discovery: cluster %s, %s: %s (keeping the last %zu endpoints; next try in %llu ms)",
              cluster_.c_str(), describe().c_str(), error.c_str(), endpoints_.size(),
              static_cast<unsigned long long>(next_try_ms));
}

void Provider::report_empty(const std::string& why) {
  if (!endpoints_.empty()) {
    WG_LOG_WARN("discovery: cluster %s, %s: %s; its endpoints are gone", cluster_.c_str(),
                describe().c_str(), why.c_str());
  }
  report({});
}

}  // namespace waygate::discovery
