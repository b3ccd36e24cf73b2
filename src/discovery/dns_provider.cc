#include "discovery/dns_provider.h"

namespace waygate::discovery {

AddressFamily address_family(routing::DnsFamily family) {
  switch (family) {
    case routing::DnsFamily::kIPv4:
      return AddressFamily::kIPv4;
    case routing::DnsFamily::kIPv6:
      return AddressFamily::kIPv6;
    case routing::DnsFamily::kAny:
      break;
  }
  return AddressFamily::kAny;
}

DnsProvider::DnsProvider(std::string cluster, ProviderSink& sink, uv_loop_t* loop,
                         DnsResolver& resolver, std::string name, uint16_t port,
                         const routing::DnsLookupConfig& lookup)
    : Provider(std::move(cluster), sink),
      resolver_(resolver),
      name_(std::move(name)),
      port_(port),
      family_(address_family(lookup.family)),
      refresh_(loop, lookup.min_refresh_ms, lookup.max_refresh_ms, [this] { look_up(); }),
      self_(std::make_shared<DnsProvider*>(this)) {}

std::string DnsProvider::describe() const {
  return "dns " + name_ + ":" + std::to_string(port_);
}

void DnsProvider::look_up() {
  std::weak_ptr<DnsProvider*> alive = self_;
  resolver_.resolve_addresses(name_, family_, [alive](const AddressAnswer& answer) {
    if (auto self = alive.lock()) (*self)->on_answer(answer);
  });
}

void DnsProvider::on_answer(const AddressAnswer& answer) {
  switch (answer.status) {
    case DnsStatus::kOk: {
      std::vector<routing::EndpointSpec> endpoints;
      for (const std::string& ip : answer.addresses) {
        auto endpoint = endpoint_at(ip, port_, 1, name_);
        if (endpoint) endpoints.push_back(std::move(*endpoint));
      }
      refresh_.after_answer(answer.ttl);
      report(std::move(endpoints));
      return;
    }
    case DnsStatus::kNoData:
      refresh_.after_empty();
      report_empty(answer.error);
      return;
    case DnsStatus::kFailure:
      refresh_.after_failure();
      keep_after_failure(answer.error, refresh_.last_delay_ms());
      return;
  }
}

}  // namespace waygate::discovery
