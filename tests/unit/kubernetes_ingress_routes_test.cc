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
      "w.yaml", {routing::ConfigSource{"kubernetes:ingresses/waygate", routes.document, {}}});
}

const routing::IngressSourceConfig kSource{"waygate", "", ""};

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

Json annotated(Json object, Json annotations) {
  object["metadata"]["annotations"] = std::move(annotations);
  return object;
}

TEST(IngressRoutes, NginxAnnotationsBecomePathAndClusterSettings) {
  IngressObjects objects;
  objects.ingresses["shop/a"] = annotated(
      ingress("a", "2026-01-01T00:00:00Z",
              {rule("a.test", "Prefix", "/app", "web", Json::object({{"number", 80}}))}),
      {{"nginx.ingress.kubernetes.io/rewrite-target", "/"},
       {"nginx.ingress.kubernetes.io/force-ssl-redirect", "true"},
       {"nginx.ingress.kubernetes.io/proxy-body-size", "8m"},
       {"nginx.ingress.kubernetes.io/proxy-read-timeout", "120"},
       {"nginx.ingress.kubernetes.io/proxy-send-timeout", "120"},
       {"nginx.ingress.kubernetes.io/upstream-hash-by", "$http_x_user"},
       {"nginx.ingress.kubernetes.io/whitelist-source-range", "10.0.0.0/8, 192.168.0.0/16"},
       {"nginx.ingress.kubernetes.io/enable-cors", "true"},
       {"nginx.ingress.kubernetes.io/server-snippet", "x"},
       {"kubernetes.io/ingress.allow-http", "true"}});
  objects.ingresses["shop/a-canary"] =
      annotated(ingress("a-canary", "2026-01-02T00:00:00Z",
                        {rule("a.test", "Prefix", "/app", "web2", Json::object({{"number", 80}}))}),
                {{"nginx.ingress.kubernetes.io/canary", "true"},
                 {"nginx.ingress.kubernetes.io/canary-weight", "10"}});
  IngressRoutes routes = ingress_routes(objects, kSource, {});
  ASSERT_EQ(routes.problems.size(), 2u);
  EXPECT_EQ(routes.problems[0],
            "Ingress shop/a: annotation nginx.ingress.kubernetes.io/proxy-send-timeout '120' is "
            "not applied: waygate has no send timeout per route (see timeouts.downstream_idle)");
  EXPECT_EQ(routes.problems[1],
            "Ingress shop/a: annotations nginx.ingress.kubernetes.io/enable-cors, "
            "nginx.ingress.kubernetes.io/server-snippet are not supported by waygate and ignored");
  Json document = Json::parse(routes.document);
  Json paths = document["routes"][0]["paths"];
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(paths[0]["scheme"], "http");
  EXPECT_EQ(paths[0]["redirect"]["scheme"], "https");
  EXPECT_EQ(paths[1]["rewrite"]["prefix"], "/");
  EXPECT_EQ(paths[1]["max_body_bytes"], 8u << 20);
  EXPECT_EQ(paths[1]["timeout"], "120s");
  EXPECT_EQ(paths[1]["allow_from"], Json({"10.0.0.0/8", "192.168.0.0/16"}));
  EXPECT_EQ(paths[1]["clusters"][0]["name"], "shop/web:80 hashed on header x-user");
  EXPECT_EQ(paths[1]["clusters"][0]["weight"], 90);
  EXPECT_EQ(paths[1]["clusters"][1]["name"], "shop/web2:80");
  EXPECT_EQ(paths[1]["clusters"][1]["weight"], 10);
  EXPECT_EQ(document["clusters"][1]["lb"], "ring_hash");  // [0] is shop/web2:80
  EXPECT_EQ(document["clusters"][1]["hash_on"]["header"], "x-user");
  routing::ConfigResult loaded = load_with(routes);
  ASSERT_TRUE(loaded.ok()) << loaded.errors.front();
}

TEST(IngressRoutes, AnAnnotationWaygateCannotApplySkipsTheIngress) {
  struct Case {
    const char* name;
    const char* value;
    const char* why;
  };
  for (const Case& refused :
       {Case{"rewrite-target", "/$2", "uses capture groups"},
        Case{"upstream-hash-by", "$request_uri", "is not supported"},
        Case{"whitelist-source-range", "10.0.0.1/8", "has '10.0.0.1/8', which is not"},
        Case{"canary-by-header", "x-canary", "is not supported"},
        Case{"use-regex", "true", "is not supported"}}) {
    IngressObjects objects;
    std::string name = std::string("nginx.ingress.kubernetes.io/") + refused.name;
    objects.ingresses["shop/a"] =
        annotated(ingress("a", "2026-01-01T00:00:00Z",
                          {rule("a.test", "Prefix", "/", "web", Json::object({{"number", 80}}))}),
                  {{name, refused.value}});
    IngressRoutes routes = ingress_routes(objects, kSource, {});
    EXPECT_TRUE(routes.document.empty()) << name;
    ASSERT_EQ(routes.problems.size(), 1u) << name;
    EXPECT_TRUE(routes.problems[0].starts_with("Ingress shop/a: annotation " + name + " '" +
                                               refused.value + "' " + refused.why) &&
                routes.problems[0].ends_with("; the Ingress is skipped"))
        << routes.problems[0];
  }
}

}  // namespace
}  // namespace waygate::discovery::kubernetes
