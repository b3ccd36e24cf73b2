// Ingresses made into a routes_source document: what it routes, to which Service port, and that
// the config loader takes it beside a file.
#include <gtest/gtest.h>

#include "discovery/kubernetes/ingress_routes.h"
#include "routing/config_loader.h"

namespace waygate::discovery::kubernetes {
namespace {

using Json = nlohmann::json;

Json ingress(const std::string& name, const std::string& created, Json rules,
             const char* class_name = "waygate") {
  Json object = {
      {"metadata", {{"name", name}, {"namespace", "shop"}, {"creationTimestamp", created}}},
      {"spec", {{"rules", std::move(rules)}}}};
  if (class_name) object["spec"]["ingressClassName"] = class_name;
  return object;
}

Json rule(const std::string& host, const std::string& type, const std::string& path,
          const std::string& service, Json port) {
  return {{"host", host},
          {"http",
           {{"paths",
             {{{"pathType", type},
               {"path", path},
               {"backend", {{"service", {{"name", service}, {"port", std::move(port)}}}}}}}}}}};
}

routing::ConfigResult load_with(const IngressRoutes& routes) {
  return routing::load_config_text(
      "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
      "routes: [{ hosts: [file.test], paths: [{ prefix: /, respond: { status: 200 } }] }]\n",
      "w.yaml", {routing::ConfigSource{"kubernetes:ingresses/waygate", routes.document}});
}

const routing::IngressSourceConfig kSource{"waygate", ""};

TEST(IngressRoutes, PathsBecomeRoutesToOneClusterPerServicePort) {
  IngressObjects objects;
  objects.services["shop/web"] = {
      {"spec", {{"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}};
  objects.services["shop/api"] = {{"spec", {{"ports", {{{"port", 80}, {"targetPort", 9090}}}}}}};
  objects.ingresses["shop/a"] = ingress(
      "a", "2026-01-01T00:00:00Z",
      {rule("*.shop.test", "Prefix", "/web/", "web", Json::object({{"number", 80}})),
       rule("api.test", "Exact", "/v1", "api", Json::object({{"number", 80}})),
       rule("other.test", "ImplementationSpecific", "/", "gone", Json::object({{"number", 81}}))});
  IngressRoutes routes = ingress_routes(objects, kSource, {});
  EXPECT_TRUE(routes.problems.empty()) << routes.problems.front();
  Json document = Json::parse(routes.document);
  EXPECT_EQ(document["routes"][0]["hosts"][0], "*.shop.test");
  EXPECT_EQ(document["routes"][0]["paths"][0]["prefix"], "/web");
  EXPECT_EQ(document["routes"][0]["paths"][0]["segments"], true);
  EXPECT_EQ(document["routes"][1]["paths"][0]["exact"], "/v1");
  // By the Service port's name; the one unnamed port as the slices' only port; a Service not
  // seen by the number.
  EXPECT_EQ(document["clusters"][0]["name"], "shop/api:80");
  EXPECT_FALSE(document["clusters"][0]["discovery"]["kubernetes"].contains("port"));
  EXPECT_EQ(document["clusters"][1]["discovery"]["kubernetes"]["port"], 81);
  EXPECT_EQ(document["clusters"][2]["discovery"]["kubernetes"]["port"], "http");
  routing::ConfigResult loaded = load_with(routes);
  ASSERT_TRUE(loaded.ok()) << loaded.errors.front();
  EXPECT_EQ(loaded.config.routes.size(), 4u);
}

TEST(IngressRoutes, OtherClassesAndTheFilesHostsAreLeftOut) {
  IngressObjects objects;
  objects.ingresses["shop/a"] =
      ingress("a", "2026-01-01T00:00:00Z",
              {rule("file.test", "Prefix", "/", "web", Json::object({{"name", "http"}}))});
  objects.ingresses["shop/b"] =
      ingress("b", "2026-01-01T00:00:00Z",
              {rule("b.test", "Prefix", "/", "web", Json::object({{"name", "http"}}))}, "other");
  IngressRoutes routes = ingress_routes(objects, kSource, {"file.test"});
  EXPECT_TRUE(routes.document.empty());
  ASSERT_EQ(routes.problems.size(), 1u);
  EXPECT_EQ(routes.problems[0],
            "Ingress shop/a: host file.test is routed by the config file; its paths there are "
            "skipped");
  EXPECT_TRUE(load_with(routes).ok());
}

}  // namespace
}  // namespace waygate::discovery::kubernetes
