// Gateway API HTTPRoutes made into a routes_source document, checked by what the route table built
// from it does with requests: which Service port a request goes to, in the Gateway API's order of
// precedence, with its filters; and what is left out, and why.
#include <gtest/gtest.h>

#include "discovery/kubernetes/gateway_routes.h"
#include "discovery/kubernetes/route_documents.h"
#include "http/parser.h"
#include "routing/config_loader.h"
#include "routing/snapshot.h"

namespace waygate::discovery::kubernetes {
namespace {

using Json = nlohmann::json;

Json gateway(const std::string& name, const std::string& class_name, Json listeners) {
  return {{"metadata", {{"name", name}, {"namespace", "shop"}}},
          {"spec", {{"gatewayClassName", class_name}, {"listeners", std::move(listeners)}}}};
}

Json listener(const std::string& name, const std::string& hostname = "",
              const std::string& from = "Same") {
  Json out = {{"name", name},
              {"port", 80},
              {"protocol", "HTTP"},
              {"allowedRoutes", {{"namespaces", {{"from", from}}}}}};
  if (!hostname.empty()) out["hostname"] = hostname;
  return out;
}

Json backend(const std::string& service, int port, int weight = 1) {
  return {{"name", service}, {"port", port}, {"weight", weight}};
}

Json path_match(const std::string& type, const std::string& value) {
  return {{"path", {{"type", type}, {"value", value}}}};
}

Json rule(Json matches, Json backends, Json filters = Json::array()) {
  return {{"matches", std::move(matches)},
          {"backendRefs", std::move(backends)},
          {"filters", std::move(filters)}};
}

Json http_route(const std::string& name, const std::string& created, Json hostnames, Json rules,
                Json parents = Json::array({{{"name", "gw"}}}),
                const std::string& namespace_name = "shop") {
  return {
      {"metadata", {{"name", name}, {"namespace", namespace_name}, {"creationTimestamp", created}}},
      {"spec",
       {{"parentRefs", std::move(parents)},
        {"hostnames", std::move(hostnames)},
        {"rules", std::move(rules)}}}};
}

GatewayObjects objects_with_gateway(Json listeners = Json::array({listener("http")})) {
  GatewayObjects objects;
  objects.classes["waygate"] = {{"spec", {{"controllerName", "waygate.dev/gateway-controller"}}}};
  objects.classes["other"] = {{"spec", {{"controllerName", "example.com/other"}}}};
  objects.gateways["shop/gw"] = gateway("gw", "waygate", std::move(listeners));
  objects.services["shop/web"] = {
      {"spec", {{"ports", {{{"name", "http"}, {"port", 80}, {"targetPort", 8080}}}}}}};
  objects.services["shop/api"] = {{"spec", {{"ports", {{{"port", 80}, {"targetPort", 9090}}}}}}};
  return objects;
}

class HeadOnly final : public http::ParserSink {
 public:
  http::MessageHead& on_message_begin() override { return head; }
  int on_headers_complete(http::MessageHead&) override { return http::kHeadContinue; }
  int on_body(std::string_view) override { return 0; }
  int on_message_complete() override { return 0; }
  http::MessageHead head;
};

// The routes the document makes beside a file that routes file.test, and where they send requests.
class Routed {
 public:
  explicit Routed(const GatewayRoutes& routes) {
    routing::ConfigResult result = routing::load_config_text(
        "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
        "routes: [{ hosts: [file.test], paths: [{ prefix: /, respond: { status: 200 } }] }]\n",
        "w.yaml", {routing::ConfigSource{"kubernetes:gateways/waygate", routes.document, {}}});
    ok_ = result.ok();
    EXPECT_TRUE(ok_) << (result.errors.empty() ? "" : result.errors.front()) << "\n"
                     << routes.document;
    if (ok_) snapshot_ = routing::build_snapshot(result.config);
  }

  // "shop/web:80", "redirect", "respond 500", or "none".
  std::string operator()(const std::string& host, const std::string& target,
                         const std::string& headers = "", const std::string& method = "GET") const {
    const routing::RouteAction* action = match(host, target, headers, method);
    if (!action) return "none";
    if (action->kind == routing::RouteAction::Kind::kRedirect) return "redirect";
    if (action->kind == routing::RouteAction::Kind::kRespond) {
      return "respond " + std::to_string(action->settings->extras->respond->status);
    }
    return snapshot_->clusters[action->cluster_for(0)].name;
  }

  const routing::RouteAction* match(const std::string& host, const std::string& target,
                                    const std::string& headers = "",
                                    const std::string& method = "GET") const {
    if (!ok_) return nullptr;
    head_ = parse(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + headers + "\r\n");
    return snapshot_->routes.match(head_);
  }

 private:
  static http::MessageHead parse(const std::string& bytes) {
    HeadOnly sink;
    http::Parser parser(HTTP_REQUEST, sink);
    size_t consumed = 0;
    EXPECT_EQ(parser.execute(bytes, &consumed), http::Parser::Result::kOk) << bytes;
    return sink.head;
  }

  bool ok_ = false;
  std::shared_ptr<const routing::Snapshot> snapshot_;
  mutable http::MessageHead head_;
};

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines)
    text += line + "\n";
  return text;
}

TEST(GatewayRoutes, RulesRouteTheirHostnamesToOneClusterPerServicePort) {
  GatewayObjects objects = objects_with_gateway();
  objects.http_routes["shop/a"] =
      http_route("a", "2026-01-01T00:00:00Z", {"shop.test", "*.shop.test"},
                 {rule({path_match("PathPrefix", "/web/")}, {backend("web", 80)}),
                  rule({path_match("Exact", "/api")}, {backend("api", 80)})});
  GatewayRoutes routes = gateway_routes(objects, "waygate", {});
  EXPECT_TRUE(routes.problems.empty()) << joined(routes.problems);
  EXPECT_EQ(routes.hosts, (std::set<std::string>{"*.shop.test", "shop.test"}));
  Routed routed(routes);
  EXPECT_EQ(routed("shop.test", "/web"), "shop/web:80");  // PathPrefix: by path elements
  EXPECT_EQ(routed("a.b.shop.test", "/web/x"), "shop/web:80");
  EXPECT_EQ(routed("shop.test", "/webx"), "none");
  EXPECT_EQ(routed("shop.test", "/api"), "shop/api:80");
  EXPECT_EQ(routed("shop.test", "/api/x"), "none");
  EXPECT_EQ(routed("other.test", "/web"), "none");
  Json document = Json::parse(routes.document);
  // The EndpointSlices' port: the Service port's name, none for its one unnamed port.
  EXPECT_EQ(document["clusters"][0]["discovery"]["kubernetes"], Json({{"service", "shop/api"}}));
  EXPECT_EQ(document["clusters"][1]["discovery"]["kubernetes"],
            Json({{"service", "shop/web"}, {"port", "http"}}));
}

TEST(GatewayRoutes, BackendWeightsSplitAcrossClusters) {
  GatewayObjects objects = objects_with_gateway();
  Json rewrite = {
      {"type", "URLRewrite"},
      {"urlRewrite", {{"path", {{"type", "ReplacePrefixMatch"}, {"replacePrefixMatch", "/"}}}}}};
  objects.http_routes["shop/a"] = http_route(
      "a", "2026-01-01T00:00:00Z", {"shop.test"},
      {rule({path_match("PathPrefix", "/")}, {backend("web", 80, 90), backend("api", 80, 10)}),
       rule({path_match("PathPrefix", "/none")}, {backend("web", 80, 0)}),
       rule({path_match("PathPrefix", "/nothing")}, Json::array(), {rewrite})});
  GatewayRoutes routes = gateway_routes(objects, "waygate", {});
  Routed routed(routes);
  const routing::RouteAction* split = routed.match("shop.test", "/");
  ASSERT_NE(split, nullptr);
  EXPECT_EQ(split->total_weight, 100u);
  ASSERT_EQ(split->clusters.size(), 2u);
  EXPECT_EQ(split->clusters[0].weight_end, 90u);
  // No backend with a weight: 500, as the Gateway API says; with nothing to rewrite.
  EXPECT_EQ(routed("shop.test", "/none"), "respond 500");
  EXPECT_EQ(routed("shop.test", "/nothing/x"), "respond 500");
}

TEST(GatewayRoutes, PrecedenceFollowsTheGatewayApiNotTheListOrder) {
  GatewayObjects objects = objects_with_gateway();
  Json header_match = path_match("PathPrefix", "/");
  header_match["headers"] = {{{"name", "X-Tenant"}, {"value", "blue"}, {"type", "Exact"}}};
  Json two_headers = header_match;
  two_headers["headers"].push_back({{"name", "x-canary"}, {"value", "1"}});
  Json method_match = path_match("PathPrefix", "/");
  method_match["method"] = "POST";
  Json query_match = path_match("PathPrefix", "/");
  query_match["queryParams"] = {{{"name", "debug"}, {"value", "1"}}};
  objects.http_routes["shop/new"] = http_route(
      "new", "2026-02-01T00:00:00Z", {"shop.test"},
      {rule({path_match("PathPrefix", "/")}, {backend("web", 80)}),
       rule({path_match("PathPrefix", "/app")}, {backend("api", 80)}),
       rule({path_match("PathPrefix", "/app/v1")}, {backend("web", 80)}),
       rule({path_match("Exact", "/app/v1/x")}, {backend("api", 80)}),
       rule({header_match}, {backend("api", 81)}), rule({two_headers}, {backend("api", 82)}),
       rule({method_match}, {backend("api", 83)}), rule({query_match}, {backend("api", 84)})});
  // An older route's identical match wins over the newer one's.
  objects.http_routes["shop/old"] =
      http_route("old", "2026-01-01T00:00:00Z", {"shop.test"},
                 {rule({path_match("PathPrefix", "/app")}, {backend("api", 85)})});
  GatewayRoutes routes = gateway_routes(objects, "waygate", {});
  EXPECT_TRUE(routes.problems.empty()) << joined(routes.problems);
  Routed routed(routes);
  EXPECT_EQ(routed("shop.test", "/app/v1/x"), "shop/api:80");  // Exact over the longer prefix
  EXPECT_EQ(routed("shop.test", "/app/v1/y"), "shop/web:80");  // the longest prefix
  EXPECT_EQ(routed("shop.test", "/app/x"), "shop/api:85");     // the oldest route
  EXPECT_EQ(routed("shop.test", "/x"), "shop/web:80");
  EXPECT_EQ(routed("shop.test", "/x", "X-Tenant: blue\r\n"), "shop/api:81");
  EXPECT_EQ(routed("shop.test", "/x", "X-Tenant: blue\r\nX-Canary: 1\r\n"), "shop/api:82");
  EXPECT_EQ(routed("shop.test", "/x", "X-Tenant: blue\r\n", "POST"), "shop/api:83");  // method
  EXPECT_EQ(routed("shop.test", "/x?debug=1", "X-Tenant: blue\r\n"), "shop/api:81");
  EXPECT_EQ(routed("shop.test", "/x?debug=1"), "shop/api:84");
}

TEST(GatewayRoutes, AnExactHostFallsBackToTheWildcardsRules) {
  GatewayObjects objects = objects_with_gateway();
  objects.http_routes["shop/exact"] =
      http_route("exact", "2026-01-01T00:00:00Z", {"a.shop.test"},
                 {rule({path_match("PathPrefix", "/a")}, {backend("api", 80)})});
  objects.http_routes["shop/wild"] =
      http_route("wild", "2026-01-01T00:00:00Z", {"*.shop.test"},
                 {rule({path_match("PathPrefix", "/")}, {backend("web", 80)})});
  objects.http_routes["shop/any"] =
      http_route("any", "2026-01-01T00:00:00Z", Json::array(),
                 {rule({path_match("PathPrefix", "/any")}, {backend("api", 81)})});
  Routed routed(gateway_routes(objects, "waygate", {}));
  EXPECT_EQ(routed("a.shop.test", "/a"), "shop/api:80");
  EXPECT_EQ(routed("a.shop.test", "/b"), "shop/web:80");    // the wildcard's rule
  EXPECT_EQ(routed("b.shop.test", "/any"), "shop/web:80");  // the wildcard first
  EXPECT_EQ(routed("elsewhere.test", "/any"), "shop/api:81");
}

TEST(GatewayRoutes, ListenersHostnamesSectionsAndNamespacesDecideWhatAttaches) {
  GatewayObjects objects =
      objects_with_gateway({listener("wild", "*.shop.test"), listener("exact", "only.test"),
                            listener("all", "all.test", "All")});
  auto simple = [](const std::string& name, Json hostnames, Json parents,
                   const std::string& namespace_name = "shop") {
    return http_route(name, "2026-01-01T00:00:00Z", std::move(hostnames),
                      {rule({path_match("PathPrefix", "/")}, {backend("web", 80)})},
                      std::move(parents), namespace_name);
  };
  // No hostnames: the listeners'; a hostname under a listener's wildcard: itself.
  objects.http_routes["shop/none"] = simple("none", Json::array(), {{{"name", "gw"}}});
  objects.http_routes["shop/under"] = simple("under", {"a.b.shop.test", "nomatch.test"},
                                             {{{"name", "gw"}, {"sectionName", "wild"}}});
  // Another namespace attaches only where the listener allows All.
  objects.http_routes["else/far"] =
      simple("far", Json::array(), {{{"name", "gw"}, {"namespace", "shop"}}}, "else");
  objects.services["else/web"] = objects.services["shop/web"];
  // A route of another class's Gateway is not ours.
  objects.gateways["shop/theirs"] = gateway("theirs", "other", {listener("http")});
  objects.http_routes["shop/theirs"] = simple("theirs", {"theirs.test"}, {{{"name", "theirs"}}});
  GatewayRoutes routes = gateway_routes(objects, "waygate", {});
  EXPECT_EQ(routes.hosts,
            (std::set<std::string>{"*.shop.test", "a.b.shop.test", "all.test", "only.test"}));
  Routed routed(routes);
  EXPECT_EQ(routed("all.test", "/"), "else/web:80");  // the oldest, then by namespace/name
  EXPECT_EQ(routed("theirs.test", "/"), "none");
}

TEST(GatewayRoutes, NoGatewayClassOfTheNameRoutesNothing) {
  GatewayObjects objects = objects_with_gateway();
  objects.classes.erase("waygate");
  objects.http_routes["shop/a"] =
      http_route("a", "2026-01-01T00:00:00Z", {"shop.test"},
                 {rule({path_match("PathPrefix", "/")}, {backend("web", 80)})});
  EXPECT_EQ(gateway_routes(objects, "waygate", {}).document, "");
}

TEST(GatewayRoutes, FiltersBecomeRedirectsHeaderEditsAndRewrites) {
  GatewayObjects objects = objects_with_gateway();
  Json redirect = {
      {"type", "RequestRedirect"},
      {"requestRedirect", {{"scheme", "https"}, {"hostname", "secure.test"}, {"statusCode", 301}}}};
  Json headers = {{"type", "RequestHeaderModifier"},
                  {"requestHeaderModifier",
                   {{"set", {{{"name", "X-Env"}, {"value", "prod"}}}},
                    {"add", {{{"name", "X-Extra"}, {"value", "1"}}}},
                    {"remove", {"X-Debug"}}}}};
  Json response = {{"type", "ResponseHeaderModifier"},
                   {"responseHeaderModifier", {{"remove", {"Server"}}}}};
  Json rewrite = {{"type", "URLRewrite"},
                  {"urlRewrite",
                   {{"hostname", "inner.test"},
                    {"path", {{"type", "ReplacePrefixMatch"}, {"replacePrefixMatch", "/"}}}}}};
  objects.http_routes["shop/a"] = http_route(
      "a", "2026-01-01T00:00:00Z", {"shop.test"},
      {rule({path_match("PathPrefix", "/old")}, Json::array(), {redirect}),
       rule({path_match("PathPrefix", "/edit")}, {backend("web", 80)}, {headers, response}),
       rule({path_match("PathPrefix", "/strip")}, {backend("web", 80)}, {rewrite})});
  GatewayRoutes routes = gateway_routes(objects, "waygate", {});
  EXPECT_TRUE(routes.problems.empty()) << joined(routes.problems);
  Routed routed(routes);

  const routing::RouteAction* moved = routed.match("shop.test", "/old/x");
  ASSERT_NE(moved, nullptr);
  std::string location;
  routing::append_redirect_location(location, *moved, "shop.test:8080", "/old/x", "?q");
  EXPECT_EQ(location, "https://secure.test/old/x?q");
  EXPECT_EQ(moved->settings->extras->redirect->code, 301);

  const routing::RouteAction* edited = routed.match("shop.test", "/edit");
  ASSERT_NE(edited, nullptr);
  EXPECT_EQ(edited->settings->extras->request_headers->remove,
            (std::vector<std::string>{"X-Env", "X-Debug"}));
  EXPECT_EQ(edited->settings->extras->request_headers->add.size(), 2u);
  EXPECT_EQ(edited->settings->extras->response_headers->remove,
            (std::vector<std::string>{"Server"}));

  // ReplacePrefixMatch replaces whole path elements: /strip/a is /a, /strip is /.
  for (auto [path, sent] :
       {std::pair{"/strip/a/b", "/a/b"}, std::pair{"/strip", "/"}, std::pair{"/strip/", "/"}}) {
    const routing::RouteAction* stripped = routed.match("shop.test", path);
    ASSERT_NE(stripped, nullptr) << path;
    std::string target;
    routing::append_rewritten_target(target, *stripped, path, "");
    EXPECT_EQ(target, sent) << path;
    EXPECT_EQ(stripped->settings->extras->rewrite->host, "inner.test");
  }
}

TEST(GatewayRoutes, WhatCannotBeDoneFaithfullySkipsTheRuleAndSaysWhy) {
  GatewayObjects objects = objects_with_gateway();
  Json mirror = {{"type", "RequestMirror"},
                 {"requestMirror", {{"backendRef", {{"name", "api"}, {"port", 80}}}}}};
  Json full_rewrite = {
      {"type", "URLRewrite"},
      {"urlRewrite", {{"path", {{"type", "ReplaceFullPath"}, {"replaceFullPath", "/x"}}}}}};
  Json host_header = {{"type", "RequestHeaderModifier"},
                      {"requestHeaderModifier", {{"set", {{{"name", "Host"}, {"value", "x"}}}}}}};
  Json far_backend = backend("web", 80);
  far_backend["namespace"] = "else";
  Json slow = rule({path_match("PathPrefix", "/slow")}, {backend("api", 80)});
  slow["timeouts"] = {{"request", "1s"}};
  objects.http_routes["shop/a"] =
      http_route("a", "2026-01-01T00:00:00Z", {"shop.test"},
                 {rule({path_match("PathPrefix", "/")}, {backend("web", 80)}),
                  rule({path_match("PathPrefix", "/mirror")}, {backend("api", 80)}, {mirror}),
                  rule({path_match("PathPrefix", "/full")}, {backend("api", 80)}, {full_rewrite}),
                  rule({path_match("PathPrefix", "/host")}, {backend("api", 80)}, {host_header}),
                  rule({path_match("PathPrefix", "/far")}, {far_backend}), slow});
  GatewayRoutes routes = gateway_routes(objects, "waygate", {"reserved.test"});
  EXPECT_EQ(routes.problems,
            (std::vector<std::string>{
                "HTTPRoute shop/a: spec.rules[1].filters[0].type 'RequestMirror' is not "
                "supported; the rule is skipped",
                "HTTPRoute shop/a: spec.rules[2].filters[0].urlRewrite.path.type "
                "'ReplaceFullPath' is not supported; the rule is skipped",
                "HTTPRoute shop/a: spec.rules[3].filters[0].requestHeaderModifier.set[0].name "
                "'Host' is managed by waygate; the rule is skipped",
                "HTTPRoute shop/a: spec.rules[4].backendRefs[0].namespace 'else': Services of "
                "another namespace are not supported (ReferenceGrants are not read); the rule is "
                "skipped",
                "HTTPRoute shop/a: spec.rules[5].timeouts is not supported; the rule is skipped"}));
  Routed routed(routes);
  // Left out, not routed wrongly: the requests go where the rules that remain send them.
  for (const char* path : {"/mirror", "/full", "/host", "/far", "/slow"})
    EXPECT_EQ(routed("shop.test", path), "shop/web:80") << path;
  EXPECT_EQ(Json::parse(routes.document)["clusters"].size(), 1u);  // api: no rule sends there
}

TEST(GatewayRoutes, AHostRoutedElsewhereIsLeftOut) {
  GatewayObjects objects = objects_with_gateway();
  objects.http_routes["shop/a"] =
      http_route("a", "2026-01-01T00:00:00Z", {"file.test", "shop.test"},
                 {rule({path_match("PathPrefix", "/")}, {backend("web", 80)})});
  GatewayRoutes routes = gateway_routes(objects, "waygate", {"file.test"});
  EXPECT_EQ(routes.hosts, std::set<std::string>{"shop.test"});
  EXPECT_EQ(routes.problems,
            std::vector<std::string>{"HTTPRoute shop/a: host file.test is routed by the config "
                                     "file or an Ingress; its rules there are skipped"});
  Routed routed(routes);
  EXPECT_EQ(routed("shop.test", "/"), "shop/web:80");
}

TEST(RouteDocuments, MergedDocumentsRouteEachHostOnceAndShareClusters) {
  std::string ingress =
      R"({"routes":[{"hosts":["a.test"],"paths":[{"prefix":"/","cluster":"shop/web:80"}]}],)"
      R"("clusters":[{"name":"shop/web:80","discovery":{"kubernetes":{"service":"shop/web"}}}]})";
  std::string gateway =
      R"({"routes":[{"hosts":["a.test"],"paths":[{"prefix":"/","cluster":"shop/api:80"}]},)"
      R"({"hosts":["b.test"],"paths":[{"prefix":"/","cluster":"shop/web:80"}]}],)"
      R"("clusters":[{"name":"shop/web:80","discovery":{"kubernetes":{"service":"shop/web"}}},)"
      R"({"name":"shop/api:80","discovery":{"kubernetes":{"service":"shop/api"}}}]})";
  Json merged = Json::parse(merge_route_documents(ingress, gateway));
  ASSERT_EQ(merged["routes"].size(), 2u);
  EXPECT_EQ(merged["routes"][0]["paths"][0]["cluster"], "shop/web:80");  // a.test: the Ingress's
  EXPECT_EQ(merged["routes"][1]["hosts"][0], "b.test");
  EXPECT_EQ(merged["clusters"].size(), 2u);
  EXPECT_EQ(merge_route_documents("", gateway), gateway);
  EXPECT_EQ(merge_route_documents(ingress, ""), ingress);
}

}  // namespace
}  // namespace waygate::discovery::kubernetes
