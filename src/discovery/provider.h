// A source of endpoints for one cluster (a file, a DNS name, SRV records, an etcd prefix). A
// provider runs on the control loop and reports the complete set it knows whenever that set
// changes; when its source fails it reports nothing and the last set stands. One implementation
// per source, one file each.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routing/topology.h"

namespace waygate::discovery {

class Provider;

// The endpoint for an IP literal ("10.0.0.7", "::1") and a port, or nullopt when the text is not
// an IP address.
std::optional<routing::EndpointSpec> endpoint_at(std::string_view ip, uint16_t port,
                                                 uint32_t weight,
                                                 std::string_view server_name = {});

class ProviderSink {
 public:
  // The provider's set changed; provider.endpoints() holds it.
  virtual void on_endpoints_changed(Provider& provider) = 0;

 protected:
  ~ProviderSink() = default;
};

class Provider {
 public:
  Provider(std::string cluster, ProviderSink& sink) : cluster_(std::move(cluster)), sink_(sink) {}
  virtual ~Provider() = default;
  Provider(const Provider&) = delete;
  Provider& operator=(const Provider&) = delete;

  // Begins watching or polling; reports come later, from the loop.
  virtual void start() = 0;
  // What it watches, as "<kind> <what>", for logs and GET /clusters ("dns web.test:8080",
  // "file /etc/waygate/web.yaml").
  virtual std::string describe() const = 0;

  const std::string& cluster() const { return cluster_; }
  // The last set reported (empty until the first).
  const std::vector<routing::EndpointSpec>& endpoints() const { return endpoints_; }

 protected:
  // Replaces the set and tells the sink when it differs from the last one.
  void report(std::vector<routing::EndpointSpec> endpoints) {
    if (endpoints == endpoints_ && reported_) return;
    endpoints_ = std::move(endpoints);
    reported_ = true;
    sink_.on_endpoints_changed(*this);
  }
  // A failed look-up: the last set stands. The warning names the source, what failed, and (when
  // known) when the next try is.
  void keep_after_failure(const std::string& error, uint64_t next_try_ms = 0);
  // The source has nothing now (a name without records): the set empties, with a warning when it
  // had endpoints.
  void report_empty(const std::string& why);
  // Sets the first set without telling anyone (before start(), when it is read at once).
  void preload(std::vector<routing::EndpointSpec> endpoints) {
    endpoints_ = std::move(endpoints);
    reported_ = true;
  }

 private:
  std::string cluster_;
  ProviderSink& sink_;
  std::vector<routing::EndpointSpec> endpoints_;
  bool reported_ = false;
};

}  // namespace waygate::discovery
