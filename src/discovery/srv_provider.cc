#include "discovery/srv_provider.h"

#include <algorithm>

#include "core/log.h"
#include "discovery/dns_provider.h"

namespace waygate::discovery {

SrvProvider::SrvProvider(std::string cluster, ProviderSink& sink, uv_loop_t* loop,
                         DnsResolver& resolver, std::string name,
                         const routing::DnsLookupConfig& lookup)
    : Provider(std::move(cluster), sink),
      resolver_(resolver),
      name_(std::move(name)),
      family_(address_family(lookup.family)),
      refresh_(loop, lookup.min_refresh_ms, lookup.max_refresh_ms, [this] { look_up(); }),
      self_(std::make_shared<SrvProvider*>(this)) {}

void SrvProvider::look_up() {
  round_ = Round{round_.id + 1, {}, {}, 0, 0};
  std::weak_ptr<SrvProvider*> alive = self_;
  uint64_t id = round_.id;
  resolver_.resolve_srv(name_, [alive, id](SrvAnswer answer) {
    if (auto self = alive.lock()) (*self)->on_srv(id, std::move(answer));
  });
}

void SrvProvider::on_srv(uint64_t round, SrvAnswer answer) {
  if (round != round_.id) return;
  if (answer.status == DnsStatus::kFailure) {
    refresh_.after_failure();
    keep_after_failure(answer.error, refresh_.last_delay_ms());
    return;
  }
  if (answer.status == DnsStatus::kNoData || answer.records.empty()) {
    refresh_.after_empty();
    report_empty(answer.error);
    return;
  }
  round_.records = std::move(answer.records);
  round_.ttl = answer.ttl;
  std::vector<std::string> targets;
  for (const SrvRecord& record : round_.records) {
    if (std::find(targets.begin(), targets.end(), record.target) == targets.end()) {
      targets.push_back(record.target);
    }
  }
  round_.pending = targets.size();
  std::weak_ptr<SrvProvider*> alive = self_;
  for (const std::string& target : targets) {
    resolver_.resolve_addresses(target, family_, [alive, round, target](AddressAnswer address) {
      if (auto self = alive.lock()) (*self)->on_target(round, target, std::move(address));
    });
  }
}

void SrvProvider::on_target(uint64_t round, const std::string& target, AddressAnswer answer) {
  if (round != round_.id) return;
  round_.addresses[target] = std::move(answer);
  if (--round_.pending == 0) finish_round();
}

void SrvProvider::finish_round() {
  // A target that failed to resolve this round: rather than drop it, keep the whole last set.
  for (const auto& [target, answer] : round_.addresses) {
    if (answer.status != DnsStatus::kFailure) continue;
    refresh_.after_failure();
    keep_after_failure("target " + target + ": " + answer.error, refresh_.last_delay_ms());
    return;
  }
  std::vector<SrvRecord> records = round_.records;
  std::stable_sort(records.begin(), records.end(),
                   [](const SrvRecord& a, const SrvRecord& b) { return a.priority < b.priority; });
  uint32_t ttl = round_.ttl;
  std::vector<routing::EndpointSpec> endpoints;
  for (size_t i = 0; i < records.size();) {
    // One priority group at a time; the first with any address wins (RFC 2782).
    size_t end = i;
    while (end < records.size() && records[end].priority == records[i].priority)
      ++end;
    for (; i < end; ++i) {
      const AddressAnswer& answer = round_.addresses[records[i].target];
      ttl = std::min(ttl, answer.ttl ? answer.ttl : ttl);
      // A weight of 0 means "rarely" in RFC 2782; it still gets the smallest share.
      uint32_t weight = std::max<uint32_t>(1, records[i].weight);
      for (const std::string& ip : answer.addresses) {
        auto endpoint = endpoint_at(ip, records[i].port, weight, records[i].target);
        if (endpoint && std::none_of(endpoints.begin(), endpoints.end(), [&](const auto& known) {
              return known.address_text == endpoint->address_text;
            })) {
          endpoints.push_back(std::move(*endpoint));
        }
      }
    }
    if (!endpoints.empty()) break;
  }
  refresh_.after_answer(ttl);
  report(std::move(endpoints));
}

}  // namespace waygate::discovery
