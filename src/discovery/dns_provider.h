// A cluster's endpoints from a host name's A/AAAA records (a `dns` source, or a name listed in
// `endpoints:`), each address with the configured port, looked up again as the records' TTL says.
#pragma once

#include <memory>
#include <string>

#include "discovery/dns_resolver.h"
#include "discovery/provider.h"
#include "discovery/refresh_timer.h"
#include "routing/config.h"

namespace waygate::discovery {

AddressFamily address_family(routing::DnsFamily family);

class DnsProvider final : public Provider {
 public:
  DnsProvider(std::string cluster, ProviderSink& sink, uv_loop_t* loop, DnsResolver& resolver,
              std::string name, uint16_t port, const routing::DnsLookupConfig& lookup);

  void start() override { look_up(); }
  std::string describe() const override;

 private:
  void look_up();
  void on_answer(const AddressAnswer& answer);

  DnsResolver& resolver_;
  std::string name_;
  uint16_t port_;
  AddressFamily family_;
  RefreshTimer refresh_;
  // Answers may arrive after the provider is gone (a reload removed it): they check this first.
  std::shared_ptr<DnsProvider*> self_;
};

}  // namespace waygate::discovery
