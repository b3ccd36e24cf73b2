// A cluster's endpoints from SRV records (RFC 2782): each target's addresses with the record's
// port and weight; of the priorities present, the lowest whose targets have addresses is used.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "discovery/dns_resolver.h"
#include "discovery/provider.h"
#include "discovery/refresh_timer.h"
#include "routing/config.h"

namespace waygate::discovery {

class SrvProvider final : public Provider {
 public:
  SrvProvider(std::string cluster, ProviderSink& sink, uv_loop_t* loop, DnsResolver& resolver,
              std::string name, const routing::DnsLookupConfig& lookup);

  void start() override { look_up(); }
  std::string describe() const override { return "srv " + name_; }

 private:
  // One round: the SRV lookup, then one address lookup per target.
  struct Round {
    uint64_t id = 0;
    std::vector<SrvRecord> records;
    std::map<std::string, AddressAnswer> addresses;  // by target
    size_t pending = 0;
    uint32_t ttl = 0;
  };

  void look_up();
  void on_srv(uint64_t round, SrvAnswer answer);
  void on_target(uint64_t round, const std::string& target, AddressAnswer answer);
  void finish_round();

  DnsResolver& resolver_;
  std::string name_;
  AddressFamily family_;
  RefreshTimer refresh_;
  Round round_;
  std::shared_ptr<SrvProvider*> self_;
};

}  // namespace waygate::discovery
