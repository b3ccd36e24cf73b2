// All discovery on the control thread: the providers each cluster's config names, kept across
// reloads while their source stays the same, and every cluster's endpoints as the union of its
// listed IP addresses and all its sources. When a source changes, that cluster's merged set is
// handed on (to the Server, which publishes that cluster's host set alone).
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "discovery/dns_resolver.h"
#include "discovery/provider.h"
#include "routing/config.h"
#include "routing/topology.h"

namespace waygate::discovery {

namespace kubernetes {
class ApiClient;
class EndpointSliceWatch;
}  // namespace kubernetes

class DiscoveryManager final : private ProviderSink {
 public:
  // Called with a cluster's merged endpoints whenever a source changes them, and with the name
  // of the source that did, for the log.
  using PublishFn =
      std::function<void(const std::string& cluster, std::vector<routing::EndpointSpec> endpoints,
                         const std::string& source)>;

  DiscoveryManager(uv_loop_t* loop, PublishFn publish);
  ~DiscoveryManager();
  DiscoveryManager(const DiscoveryManager&) = delete;
  DiscoveryManager& operator=(const DiscoveryManager&) = delete;

  // The providers a config needs, made but not started (those it shares with the running config
  // are kept, with what they know), and every cluster's endpoints as known right now. Follow with
  // commit() once the config is in force, or discard() when it was refused. A config whose
  // sources cannot work (a kubeconfig that cannot be used) adds to *errors; refuse it then.
  routing::EndpointsByCluster prepare(const routing::Config& config,
                                      std::vector<std::string>* errors);
  // The same for some clusters of `config` alone (a route entry's, added or changed), and those
  // it no longer has (`removed`), whose sources commit() stops: the other clusters' sources are
  // not looked at. The endpoints returned are those of `clusters`.
  routing::EndpointsByCluster prepare_clusters(
      const routing::Config& config, std::span<const routing::ClusterConfig* const> clusters,
      std::span<const std::string> removed, std::vector<std::string>* errors);
  // What prepare() would refuse a config for, without making anything (waygate --check).
  static std::vector<std::string> check(const routing::Config& config);
  void commit();
  void discard();
  // Stops every source and closes its handles (the process is stopping).
  void stop();

  // Where a running cluster's endpoints come from (GET /clusters): its sources, "static" for the
  // IP addresses it lists and "<kind>:<what>" for the others ("dns:api.internal:8080",
  // "file:/etc/waygate/api.yaml", "srv:_http._tcp.api", "etcd:/waygate/clusters/api/"); and the
  // kind of source each address came from ("static", "dns", "srv", "file", "etcd"), the first
  // source listing it as merging counts it. The addresses view the manager's lists: use the
  // report before the loop runs again.
  struct SourceReport {
    std::vector<std::string> names;
    std::unordered_map<std::string_view, std::string> kind_by_address;
  };
  SourceReport report_sources(const std::string& cluster) const;

 private:
  struct Source {
    std::string key;  // what it watches, with every setting: equal keys are the same source
    std::unique_ptr<Provider> provider;
  };
  struct ClusterSources {
    std::vector<routing::EndpointSpec> literal;  // IP addresses listed in `endpoints:`
    std::vector<Source> sources;
  };
  using Clusters = std::map<std::string, ClusterSources>;

  void on_endpoints_changed(Provider& provider) override;
  static std::vector<routing::EndpointSpec> merge(const ClusterSources& cluster);
  DnsResolver& resolver(const std::string& server);
  // prepare() for `clusters`; `partial`: the running clusters not named stay as they are.
  routing::EndpointsByCluster prepare(const routing::Config& config,
                                      std::span<const routing::ClusterConfig* const> clusters,
                                      std::vector<std::string>* errors, bool partial);
  // The EndpointSlice watch of a namespace that the providers of one API server share: the
  // running one while any provider holds it, else a new one.
  std::shared_ptr<kubernetes::EndpointSliceWatch> slice_watch(
      const std::string& access_key, const std::shared_ptr<const kubernetes::ApiClient>& api,
      const std::string& namespace_name);
  // The source for a key: the running one when it has the same key, else a new one from make().
  Source take_or_make(const std::string& cluster, std::string key,
                      const std::function<std::unique_ptr<Provider>()>& make);

  uv_loop_t* loop_;
  PublishFn publish_;
  std::map<std::string, std::unique_ptr<DnsResolver>> resolvers_;  // by server ("": system)
  // By API server access key and namespace; the providers own them.
  std::map<std::string, std::weak_ptr<kubernetes::EndpointSliceWatch>> slice_watches_;
  Clusters running_;
  Clusters prepared_;
  bool has_prepared_ = false;
  bool partial_ = false;              // prepared_ holds some clusters only (prepare_clusters)
  std::vector<std::string> removed_;  // the clusters a partial commit() drops
  std::vector<Provider*> to_start_;
};

}  // namespace waygate::discovery
