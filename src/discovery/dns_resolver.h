// Asynchronous DNS on the control loop with c-ares: A/AAAA lookups and SRV lookups, with the
// records' TTLs. No thread per lookup and no blocking getaddrinfo: c-ares's sockets are watched by
// the loop (uv_poll) and its timeouts run on a loop timer. One resolver per DNS server address
// (the system's, or a configured one).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace waygate::discovery {

enum class DnsStatus : uint8_t {
  kOk,       // records found
  kNoData,   // the name exists without records of the type, or does not exist (NXDOMAIN)
  kFailure,  // no usable answer: timeout, SERVFAIL, REFUSED, unreachable server, bad answer
};

enum class AddressFamily : uint8_t { kAny, kIPv4, kIPv6 };

struct AddressAnswer {
  DnsStatus status = DnsStatus::kFailure;
  std::vector<std::string> addresses;  // IP literals, IPv4 before IPv6, each once
  uint32_t ttl = 0;                    // the smallest TTL among the records (seconds)
  std::string error;                   // for kFailure and kNoData: why, for the log
};

struct SrvRecord {
  std::string target;  // a host name (no trailing dot)
  uint16_t port = 0;
  uint16_t priority = 0;
  uint16_t weight = 0;
};

struct SrvAnswer {
  DnsStatus status = DnsStatus::kFailure;
  std::vector<SrvRecord> records;
  uint32_t ttl = 0;
  std::string error;
};

class DnsResolver {
 public:
  struct Options {
    std::string server;          // "127.0.0.1:5353" or "[::1]:53"; empty: the system's resolv.conf
    uint64_t timeout_ms = 2000;  // per try
    int tries = 2;
  };

  DnsResolver(uv_loop_t* loop, Options options);
  // Cancels lookups under way (their callbacks are not called) and closes its handles.
  ~DnsResolver();
  DnsResolver(const DnsResolver&) = delete;
  DnsResolver& operator=(const DnsResolver&) = delete;

  // A setup problem (a bad server address): the lookups would all fail. Empty when fine.
  const std::string& error() const;

  // Callbacks run on the loop; never from inside the call that started the lookup.
  void resolve_addresses(const std::string& name, AddressFamily family,
                         std::function<void(AddressAnswer)> done);
  void resolve_srv(const std::string& name, std::function<void(SrvAnswer)> done);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace waygate::discovery
