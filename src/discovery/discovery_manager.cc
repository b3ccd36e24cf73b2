#include "discovery/discovery_manager.h"

#include <unordered_set>

#include "core/hash.h"
#include "core/log.h"
#include "discovery/dns_provider.h"
#include "discovery/etcd_provider.h"
#include "discovery/file_provider.h"
#include "discovery/kubernetes/endpoint_slice_watch.h"
#include "discovery/kubernetes/kubernetes_provider.h"
#include "discovery/srv_provider.h"

namespace waygate::discovery {
namespace {

std::string lookup_key(const routing::DnsLookupConfig& lookup) {
  return lookup.resolver + "|" + std::to_string(static_cast<int>(lookup.family)) + "|" +
         std::to_string(lookup.min_refresh_ms) + "|" + std::to_string(lookup.max_refresh_ms);
}

bool uses_kubernetes(const routing::Config& config) {
  if (config.ingress_source) return true;  // not a cluster's source, but checked the same
  for (const routing::ClusterConfig& cluster : config.clusters) {
    if (!cluster.discovery.kubernetes.empty()) return true;
  }
  return false;
}

// The API client the config's Kubernetes sources share, or null with *errors added to.
std::shared_ptr<const kubernetes::ApiClient> kubernetes_api(const routing::Config& config,
                                                            std::vector<std::string>* errors) {
  std::optional<kubernetes::ApiAccess> access =
      kubernetes::load_api_access(config.kubernetes, errors);
  if (!access) return nullptr;
  std::string origin = access->origin;
  auto api = std::make_shared<const kubernetes::ApiClient>(std::move(*access));
  if (!api->error().empty()) {
    errors->push_back(origin + ": " + api->error());
    return nullptr;
  }
  return api;
}

// Equal for the same server and credentials: a source keeps running across a reload only then.
std::string access_key(const kubernetes::ApiAccess& access) {
  const tls::ClientSettings& tls = access.tls_settings;
  std::string all = access.server + '\n' + access.server_name + '\n' + access.token + '\n' +
                    access.token_file + '\n' + (tls.verify ? "1" : "0") + tls.ca + '\n' +
                    tls.ca_pem + '\n' + tls.cert + '\n' + tls.cert_pem + '\n' + tls.key + '\n' +
                    tls.key_pem;
  return std::to_string(hash64(all));
}

}  // namespace

std::vector<std::string> DiscoveryManager::check(const routing::Config& config) {
  std::vector<std::string> errors;
  if (uses_kubernetes(config)) kubernetes_api(config, &errors);
  return errors;
}

DiscoveryManager::DiscoveryManager(uv_loop_t* loop, PublishFn publish)
    : loop_(loop), publish_(std::move(publish)) {}

DiscoveryManager::~DiscoveryManager() {
  stop();
}

void DiscoveryManager::stop() {
  // Providers first: they hold references to the resolvers.
  discard();
  running_.clear();
  resolvers_.clear();
  slice_watches_.clear();
}

DnsResolver& DiscoveryManager::resolver(const std::string& server) {
  std::unique_ptr<DnsResolver>& resolver = resolvers_[server];
  if (!resolver) {
    DnsResolver::Options options;
    options.server = server;
    resolver = std::make_unique<DnsResolver>(loop_, options);
    if (!resolver->error().empty()) {
      WG_LOG_WARN("discovery: DNS resolver %s: %s", server.empty() ? "(system)" : server.c_str(),
                  resolver->error().c_str());
    }
  }
  return *resolver;
}

std::shared_ptr<kubernetes::EndpointSliceWatch> DiscoveryManager::slice_watch(
    const std::string& access_key, const std::shared_ptr<const kubernetes::ApiClient>& api,
    const std::string& namespace_name) {
  std::erase_if(slice_watches_, [](const auto& entry) { return entry.second.expired(); });
  std::weak_ptr<kubernetes::EndpointSliceWatch>& slot =
      slice_watches_[access_key + "|" + namespace_name];
  std::shared_ptr<kubernetes::EndpointSliceWatch> watch = slot.lock();
  if (!watch) {
    watch = std::make_shared<kubernetes::EndpointSliceWatch>(loop_, api, namespace_name);
    slot = watch;
  }
  return watch;
}

DiscoveryManager::Source DiscoveryManager::take_or_make(
    const std::string& cluster, std::string key,
    const std::function<std::unique_ptr<Provider>()>& make) {
  auto running = running_.find(cluster);
  if (running != running_.end()) {
    for (Source& source : running->second.sources) {
      if (source.key == key && source.provider) return std::move(source);
    }
  }
  Source made{std::move(key), make()};
  to_start_.push_back(made.provider.get());
  return made;
  // clang-analyzer 14 loses track of the provider where make() converts the unique_ptr to a
  // derived provider into one to Provider; `made` owns it.
  // NOLINTNEXTLINE(clang-analyzer-cplusplus.NewDeleteLeaks)
}

routing::EndpointsByCluster DiscoveryManager::prepare(const routing::Config& config,
                                                      std::vector<std::string>* errors) {
  std::vector<const routing::ClusterConfig*> clusters;
  clusters.reserve(config.clusters.size());
  for (const routing::ClusterConfig& cluster : config.clusters)
    clusters.push_back(&cluster);
  return prepare(config, clusters, errors, false);
}

routing::EndpointsByCluster DiscoveryManager::prepare_clusters(
    const routing::Config& config, std::span<const routing::ClusterConfig* const> clusters,
    std::span<const std::string> removed, std::vector<std::string>* errors) {
  routing::EndpointsByCluster endpoints = prepare(config, clusters, errors, true);
  removed_.assign(removed.begin(), removed.end());
  return endpoints;
}

routing::EndpointsByCluster DiscoveryManager::prepare(
    const routing::Config& config, std::span<const routing::ClusterConfig* const> clusters,
    std::vector<std::string>* errors, bool partial) {
  discard();
  has_prepared_ = true;
  partial_ = partial;
  routing::EndpointsByCluster endpoints;
  std::shared_ptr<const kubernetes::ApiClient> kubernetes_api_client;
  std::string kubernetes_key;
  bool kubernetes = !partial && config.ingress_source;
  for (const routing::ClusterConfig* cluster : clusters)
    kubernetes = kubernetes || !cluster->discovery.kubernetes.empty();
  if (kubernetes) {
    kubernetes_api_client = kubernetes_api(config, errors);
    if (!kubernetes_api_client) return endpoints;
    kubernetes_key = access_key(kubernetes_api_client->access());
  }
  for (const routing::ClusterConfig* each : clusters) {
    const routing::ClusterConfig& cluster = *each;
    ClusterSources& sources = prepared_[cluster.name];
    sources.literal = routing::literal_endpoints(cluster);
    const std::string& name = cluster.name;
    ProviderSink& sink = *this;
    for (const routing::EndpointConfig& endpoint : cluster.endpoints) {
      if (!endpoint.is_name()) continue;
      routing::DnsLookupConfig lookup;
      lookup.resolver = config.dns_resolver;
      sources.sources.push_back(take_or_make(
          name,
          "name|" + endpoint.host + "|" + std::to_string(endpoint.port) + "|" + lookup_key(lookup),
          [&] {
            return std::make_unique<DnsProvider>(name, sink, loop_, resolver(lookup.resolver),
                                                 endpoint.host, endpoint.port, lookup);
          }));
    }
    const routing::DiscoveryConfig& discovery = cluster.discovery;
    for (const routing::FileSourceConfig& file : discovery.files) {
      sources.sources.push_back(take_or_make(name, "file|" + file.path, [&] {
        return std::make_unique<FileProvider>(name, sink, loop_, file.path);
      }));
    }
    for (const routing::DnsSourceConfig& dns : discovery.dns) {
      routing::DnsLookupConfig lookup = dns.lookup;
      if (lookup.resolver.empty()) lookup.resolver = config.dns_resolver;
      sources.sources.push_back(take_or_make(
          name, "dns|" + dns.name + "|" + std::to_string(dns.port) + "|" + lookup_key(lookup), [&] {
            return std::make_unique<DnsProvider>(name, sink, loop_, resolver(lookup.resolver),
                                                 dns.name, dns.port, lookup);
          }));
    }
    for (const routing::SrvSourceConfig& srv : discovery.srv) {
      routing::DnsLookupConfig lookup = srv.lookup;
      if (lookup.resolver.empty()) lookup.resolver = config.dns_resolver;
      sources.sources.push_back(
          take_or_make(name, "srv|" + srv.name + "|" + lookup_key(lookup), [&] {
            return std::make_unique<SrvProvider>(name, sink, loop_, resolver(lookup.resolver),
                                                 srv.name, lookup);
          }));
    }
    for (const routing::EtcdSourceConfig& etcd : discovery.etcd) {
      std::string key = "etcd|" + etcd.key;
      for (const std::string& endpoint : etcd.endpoints)
        key += "|" + endpoint;
      sources.sources.push_back(take_or_make(
          name, key, [&] { return std::make_unique<EtcdProvider>(name, sink, loop_, etcd); }));
    }
    for (const routing::KubernetesSourceConfig& service : discovery.kubernetes) {
      sources.sources.push_back(
          take_or_make(name, "kubernetes|" + kubernetes_key + "|" + service.describe(), [&] {
            return std::make_unique<kubernetes::KubernetesProvider>(
                name, sink,
                slice_watch(kubernetes_key, kubernetes_api_client, service.namespace_name),
                service);
          }));
    }
    endpoints[name] = merge(sources);
  }
  return endpoints;
}

void DiscoveryManager::commit() {
  if (!has_prepared_) return;
  has_prepared_ = false;
  if (partial_) {
    // Some clusters alone: the others keep their sources; those gone stop theirs.
    for (auto& [name, sources] : prepared_)
      running_[name] = std::move(sources);
    for (const std::string& name : removed_)
      running_.erase(name);
  } else {
    // What the new config did not take over is dropped with the old map.
    Clusters retired = std::move(running_);
    running_ = std::move(prepared_);
  }
  prepared_.clear();
  removed_.clear();
  std::vector<Provider*> starting;
  starting.swap(to_start_);
  for (Provider* provider : starting)
    provider->start();
}

void DiscoveryManager::discard() {
  if (!has_prepared_) return;
  has_prepared_ = false;
  // Sources taken over from the running config go back to it; new ones were never started.
  for (auto& [name, prepared] : prepared_) {
    auto running = running_.find(name);
    if (running == running_.end()) continue;
    for (Source& source : prepared.sources) {
      for (Source& slot : running->second.sources) {
        if (!slot.provider && slot.key == source.key) {
          slot.provider = std::move(source.provider);
          break;
        }
      }
    }
  }
  prepared_.clear();
  removed_.clear();
  to_start_.clear();
}

std::vector<routing::EndpointSpec> DiscoveryManager::merge(const ClusterSources& cluster) {
  // The same address from two sources is one endpoint: the first source listing it wins.
  // The views point into the sources' own lists, which do not move while this runs.
  std::vector<routing::EndpointSpec> merged = cluster.literal;
  std::unordered_set<std::string_view> seen;
  for (const routing::EndpointSpec& endpoint : cluster.literal)
    seen.insert(endpoint.address_text);
  for (const Source& source : cluster.sources) {
    if (!source.provider) continue;
    for (const routing::EndpointSpec& endpoint : source.provider->endpoints()) {
      if (seen.insert(endpoint.address_text).second) merged.push_back(endpoint);
    }
  }
  return merged;
}

DiscoveryManager::SourceReport DiscoveryManager::report_sources(const std::string& name) const {
  SourceReport report;
  auto cluster = running_.find(name);
  if (cluster == running_.end()) return report;
  if (!cluster->second.literal.empty()) report.names.emplace_back("static");
  for (const routing::EndpointSpec& endpoint : cluster->second.literal)
    report.kind_by_address.emplace(endpoint.address_text, "static");
  for (const Source& source : cluster->second.sources) {
    if (!source.provider) continue;
    // Providers describe themselves as "<kind> <what>".
    std::string description = source.provider->describe();
    size_t space = description.find(' ');
    std::string kind = description.substr(0, space);
    if (space != std::string::npos) description[space] = ':';
    report.names.push_back(std::move(description));
    for (const routing::EndpointSpec& endpoint : source.provider->endpoints())
      report.kind_by_address.emplace(endpoint.address_text, kind);
  }
  return report;
}

void DiscoveryManager::on_endpoints_changed(Provider& provider) {
  auto cluster = running_.find(provider.cluster());
  if (cluster == running_.end()) return;  // not in force yet (or any more)
  bool belongs = false;
  for (const Source& source : cluster->second.sources)
    belongs = belongs || source.provider.get() == &provider;
  if (!belongs) return;
  publish_(provider.cluster(), merge(cluster->second), provider.describe());
}

}  // namespace waygate::discovery
