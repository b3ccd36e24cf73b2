// Loading clusters' discovery sources, host-name endpoints and routes_source, and merging a
// routes_source value with the file.
#include <gtest/gtest.h>

#include "routing/config_loader.h"

namespace waygate::routing {
namespace {

std::string config_with_clusters(const std::string& clusters) {
  return "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
         "routes: [{ hosts: ['*'], paths: [{ prefix: /, cluster: web }] }]\n"
         "clusters:\n" +
         clusters;
}

std::string first_error(const ConfigResult& result) {
  return result.errors.empty() ? "" : result.errors.front();
}

TEST(DiscoveryConfig, HostNameEndpointsAreKeptForDns) {
  ConfigResult result = load_config_text(
      config_with_clusters("  - { name: web, endpoints: [127.0.0.1:9001, api.internal:8080] }\n"),
      "/etc/waygate/waygate.yaml");
  ASSERT_TRUE(result.ok()) << first_error(result);
  const ClusterConfig& cluster = result.config.clusters[0];
  ASSERT_EQ(cluster.endpoints.size(), 2u);
  EXPECT_FALSE(cluster.endpoints[0].is_name());
  EXPECT_EQ(cluster.endpoints[1].host, "api.internal");
  EXPECT_EQ(cluster.endpoints[1].port, 8080);
}

TEST(DiscoveryConfig, EndpointThatIsNeitherAddressNorNameIsAnErrorAtItsPosition) {
  ConfigResult result = load_config_text(
      config_with_clusters("  - { name: web, endpoints: [\"bad name:80\", 10.0.0.300:80, "
                           "host:99999] }\n"),
      "w.yaml");
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_EQ(result.errors[0],
            "w.yaml:4:30: endpoint 'bad name:80' is not IP:PORT or NAME:PORT (like "
            "127.0.0.1:9001 or api.internal:8080)");
  EXPECT_NE(result.errors[1].find("'10.0.0.300:80'"), std::string::npos);
  EXPECT_NE(result.errors[2].find("'host:99999'"), std::string::npos);
}

TEST(DiscoveryConfig, EverySourceIsRead) {
  ConfigResult result = load_config_text(config_with_clusters(R"(  - name: web
    discovery:
      file: { path: endpoints/web.yaml }
      dns: { name: web.test, port: 8080, resolver: "127.0.0.1:5353", family: ipv4, min_refresh: 2s, max_refresh: 1m }
      srv: [{ name: _http._tcp.web.test }, { name: _http._tcp.web2.test, resolver: "[::1]:53" }]
      etcd: { endpoints: [http://127.0.0.1:2379, http://127.0.0.1:2381], prefix: /waygate/web/ }
)"),
                                         "/etc/waygate/waygate.yaml");
  ASSERT_TRUE(result.ok()) << first_error(result);
  const DiscoveryConfig& discovery = result.config.clusters[0].discovery;
  ASSERT_EQ(discovery.files.size(), 1u);
  EXPECT_EQ(discovery.files[0].path, "/etc/waygate/endpoints/web.yaml");
  ASSERT_EQ(discovery.dns.size(), 1u);
  EXPECT_EQ(discovery.dns[0].name, "web.test");
  EXPECT_EQ(discovery.dns[0].port, 8080);
  EXPECT_EQ(discovery.dns[0].lookup.resolver, "127.0.0.1:5353");
  EXPECT_EQ(discovery.dns[0].lookup.family, DnsFamily::kIPv4);
  EXPECT_EQ(discovery.dns[0].lookup.min_refresh_ms, 2000u);
  EXPECT_EQ(discovery.dns[0].lookup.max_refresh_ms, 60000u);
  ASSERT_EQ(discovery.srv.size(), 2u);
  EXPECT_EQ(discovery.srv[1].lookup.resolver, "[::1]:53");
  ASSERT_EQ(discovery.etcd.size(), 1u);
  EXPECT_EQ(discovery.etcd[0].endpoints.size(), 2u);
  EXPECT_EQ(discovery.etcd[0].key, "/waygate/web/");
}

TEST(DiscoveryConfig, ClusterNeedsEndpointsOrDiscovery) {
  ConfigResult result = load_config_text(config_with_clusters("  - { name: web }\n"), "w.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0], "w.yaml:4:5: a cluster needs endpoints, discovery, or both");
}

TEST(DiscoveryConfig, BadSourceSettingsAreErrors) {
  ConfigResult result = load_config_text(config_with_clusters(R"(  - name: web
    discovery:
      dns: { name: "not a name", resolver: dns.example:53, min_refresh: 1m, max_refresh: 1s }
      etcd: { endpoints: [https://127.0.0.1:2379], prefix: /p/ }
      ftp: {}
)"),
                                         "w.yaml");
  std::string all;
  for (const std::string& error : result.errors)
    all += error + "\n";
  EXPECT_NE(all.find("unknown key 'ftp' in discovery"), std::string::npos) << all;
  EXPECT_NE(all.find("discovery.dns.name 'not a name' is not a DNS name"), std::string::npos)
      << all;
  EXPECT_NE(all.find("discovery.dns needs a port"), std::string::npos) << all;
  EXPECT_NE(all.find("discovery.dns.resolver 'dns.example:53' is not IP:PORT"), std::string::npos)
      << all;
  EXPECT_NE(all.find("min_refresh must not be longer than max_refresh"), std::string::npos) << all;
  EXPECT_NE(all.find("'https://127.0.0.1:2379' is not http://IP:PORT"), std::string::npos) << all;
}

TEST(DiscoveryConfig, KubernetesServicesAndTheKubeconfigAreRead) {
  ConfigResult result = load_config_text(
      "kubernetes: { kubeconfig: kube/config }\n" + config_with_clusters(R"(  - name: web
    discovery:
      kubernetes: [{ service: shop/web, port: http }, { service: shop/api, port: 8443 }, { service: default/one }]
)"),
      "/etc/waygate/waygate.yaml");
  ASSERT_TRUE(result.ok()) << first_error(result);
  EXPECT_EQ(result.config.kubernetes.kubeconfig, "/etc/waygate/kube/config");
  const std::vector<KubernetesSourceConfig>& services =
      result.config.clusters[0].discovery.kubernetes;
  ASSERT_EQ(services.size(), 3u);
  EXPECT_EQ(services[0].namespace_name, "shop");
  EXPECT_EQ(services[0].service, "web");
  EXPECT_EQ(services[0].port_name, "http");
  EXPECT_EQ(services[1].port_number, 8443);
  EXPECT_EQ(services[1].describe(), "shop/api:8443");
  EXPECT_EQ(services[2].describe(), "default/one");
}

TEST(DiscoveryConfig, BadKubernetesServicesAreErrors) {
  ConfigResult result = load_config_text(config_with_clusters(R"(  - name: web
    discovery:
      kubernetes: [{ service: web }, { service: shop/Web_1 }, { service: a/b, port: 70000 }, { service: a/b, port: "http port" }, { port: http }]
)"),
                                         "w.yaml");
  ASSERT_EQ(result.errors.size(), 5u);
  EXPECT_EQ(result.errors[0],
            "w.yaml:6:31: discovery.kubernetes.service 'web' is not NAMESPACE/NAME (like "
            "default/web; lower-case letters, digits and '-')");
  EXPECT_NE(result.errors[1].find("'shop/Web_1' is not NAMESPACE/NAME"), std::string::npos);
  EXPECT_NE(result.errors[2].find("discovery.kubernetes.port must be between 1 and 65535"),
            std::string::npos);
  EXPECT_NE(result.errors[3].find("'http port' is neither a port name"), std::string::npos);
  EXPECT_NE(result.errors[4].find("discovery.kubernetes needs a service"), std::string::npos);
}

TEST(RoutesSource, IsReadAtTheTopLevel) {
  ConfigResult result = load_config_text(
      config_with_clusters("  - { name: web, endpoints: [127.0.0.1:9001] }\n") +
          "routes_source: { etcd: { endpoints: [http://127.0.0.1:2379], key: /waygate/routes } }\n"
          "dns: { resolver: 127.0.0.1:5353 }\n",
      "w.yaml");
  ASSERT_TRUE(result.ok()) << first_error(result);
  ASSERT_TRUE(result.config.routes_source.has_value());
  EXPECT_EQ(result.config.routes_source->key, "/waygate/routes");
  EXPECT_EQ(result.config.dns_resolver, "127.0.0.1:5353");
}

TEST(RoutesSource, KubernetesNamesAnIngressClassAndANamespace) {
  ConfigResult result = load_config_text(
      config_with_clusters("  - { name: web, endpoints: [127.0.0.1:9001] }\n") +
          "routes_source: { kubernetes: { ingress_class: waygate, namespace: shop } }\n",
      "w.yaml");
  ASSERT_TRUE(result.ok()) << first_error(result);
  ASSERT_TRUE(result.config.ingress_source.has_value());
  EXPECT_FALSE(result.config.routes_source.has_value());
  EXPECT_EQ(result.config.ingress_source->ingress_class, "waygate");
  EXPECT_EQ(result.config.ingress_source->namespace_name, "shop");
  EXPECT_EQ(routes_source_name(result.config), "kubernetes:ingresses/waygate@shop");
}

TEST(RoutesSource, KubernetesNamesAGatewayClassWithOrWithoutAnIngressClass) {
  const std::string file = config_with_clusters("  - { name: web, endpoints: [127.0.0.1:9001] }\n");
  ConfigResult gateways = load_config_text(
      file + "routes_source: { kubernetes: { gateway_class: waygate } }\n", "w.yaml");
  ASSERT_TRUE(gateways.ok()) << first_error(gateways);
  EXPECT_EQ(gateways.config.ingress_source->gateway_class, "waygate");
  EXPECT_EQ(gateways.config.ingress_source->ingress_class, "");
  EXPECT_EQ(routes_source_name(gateways.config), "kubernetes:gateways/waygate");
  ConfigResult both = load_config_text(
      file + "routes_source: { kubernetes: { ingress_class: a, gateway_class: b } }\n", "w.yaml");
  ASSERT_TRUE(both.ok()) << first_error(both);
  EXPECT_EQ(routes_source_name(both.config), "kubernetes:ingresses/a,gateways/b");
  EXPECT_EQ(first_error(load_config_text(
                file + "routes_source: { kubernetes: { gateway_class: Way_Gate } }\n", "w.yaml")),
            "w.yaml:5:47: routes_source.kubernetes.gateway_class 'Way_Gate' is not a Kubernetes "
            "object name (lower-case letters, digits, '-' and '.')");
}

TEST(RoutesSource, KubernetesErrorsSayWhatIsWanted) {
  const std::string file = config_with_clusters("  - { name: web, endpoints: [127.0.0.1:9001] }\n");
  EXPECT_EQ(first_error(load_config_text(file + "routes_source: { kubernetes: {} }\n", "w.yaml")),
            "w.yaml:5:30: routes_source.kubernetes needs an ingress_class (the IngressClass whose "
            "Ingresses it routes), a gateway_class (the GatewayClass whose Gateways' HTTPRoutes it "
            "routes), or both");
  EXPECT_EQ(first_error(load_config_text(
                file + "routes_source: { kubernetes: { ingress_class: Way_Gate } }\n", "w.yaml")),
            "w.yaml:5:47: routes_source.kubernetes.ingress_class 'Way_Gate' is not a Kubernetes "
            "object name (lower-case letters, digits, '-' and '.')");
  EXPECT_EQ(first_error(load_config_text(
                file + "routes_source: { kubernetes: { ingress_class: a }, etcd: { endpoints: "
                       "[http://127.0.0.1:2379], key: /k } }\n",
                "w.yaml")),
            "w.yaml:5:16: routes_source takes one of etcd and kubernetes, not both");
}

constexpr const char* kFileWithoutCatchAll =
    "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
    "routes: [{ hosts: [a.test], paths: [{ prefix: /, cluster: web }] }]\n"
    "clusters: [{ name: web, endpoints: [127.0.0.1:9001] }]\n";

TEST(RoutesSource, ValueAddsRoutesAndClustersThatNameEachOther) {
  ConfigSource extra{"etcd:/waygate/routes",
                     "routes:\n"
                     "  - hosts: [b.test]\n"
                     "    paths: [{ prefix: /, cluster: api }]\n"
                     "  - hosts: [c.test]\n"
                     "    paths: [{ prefix: /, cluster: web }]\n"
                     "clusters: [{ name: api, endpoints: [127.0.0.1:9002] }]\n",
                     {}};
  ConfigResult result = load_config_text(kFileWithoutCatchAll, "w.yaml", {extra});
  ASSERT_TRUE(result.ok()) << first_error(result);
  EXPECT_EQ(result.config.routes.size(), 3u);
  EXPECT_EQ(result.config.clusters.size(), 2u);
}

TEST(RoutesSource, ValueErrorsCarryTheKeyAndPosition) {
  ConfigSource extra{"etcd:/waygate/routes",
                     "routes:\n"
                     "  - hosts: [a.test]\n"
                     "    paths: [{ prefix: /, cluster: missing }]\n"
                     "listeners: []\n",
                     {}};
  ConfigResult result = load_config_text(kFileWithoutCatchAll, "w.yaml", {extra});
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_EQ(result.errors[0], "etcd:/waygate/routes:2:13: host 'a.test' is listed by two routes");
  EXPECT_EQ(result.errors[1], "etcd:/waygate/routes:3:35: unknown cluster 'missing'");
  EXPECT_EQ(result.errors[2],
            "etcd:/waygate/routes:4:1: unknown key 'listeners' in a routes_source value");
}

TEST(RoutesSource, EmptyValueAddsNothing) {
  ConfigResult result = load_config_text(kFileWithoutCatchAll, "w.yaml",
                                         {ConfigSource{"etcd:/waygate/routes", "", {}}});
  ASSERT_TRUE(result.ok()) << first_error(result);
  EXPECT_EQ(result.config.routes.size(), 1u);
}

}  // namespace
}  // namespace waygate::routing
