// Path, method, header and query matchers, and the precedence between paths of one host.
#include <gtest/gtest.h>

#include "http/parser.h"
#include "routing/config_loader.h"
#include "routing/snapshot.h"

namespace waygate::routing {
namespace {

class HeadOnly final : public http::ParserSink {
 public:
  http::MessageHead& on_message_begin() override { return head; }
  int on_headers_complete(http::MessageHead&) override { return http::kHeadContinue; }
  int on_body(std::string_view) override { return 0; }
  int on_message_complete() override { return 0; }
  http::MessageHead head;
};

http::MessageHead request(std::string_view method, std::string_view target,
                          std::string_view extra_headers = "") {
  std::string bytes = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: h\r\n" +
                      std::string(extra_headers) + "\r\n";
  HeadOnly sink;
  http::Parser parser(HTTP_REQUEST, sink);
  size_t consumed = 0;
  EXPECT_EQ(parser.execute(bytes, &consumed), http::Parser::Result::kOk) << bytes;
  return sink.head;
}

std::shared_ptr<const Snapshot> snapshot_with_paths(const std::string& paths) {
  std::string text =
      "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
      "routes:\n"
      "  - hosts: [\"*\"]\n"
      "    paths:\n" +
      paths +
      "clusters:\n"
      "  - { name: a, endpoints: [127.0.0.1:1] }\n"
      "  - { name: b, endpoints: [127.0.0.1:2] }\n"
      "  - { name: c, endpoints: [127.0.0.1:3] }\n";
  ConfigResult result = load_config_text(text, "test.yaml");
  EXPECT_TRUE(result.ok()) << (result.errors.empty() ? "" : result.errors.front());
  return build_snapshot(result.config);
}

std::string routed(const Snapshot& snapshot, const http::MessageHead& head) {
  const RouteAction* action = snapshot.routes.match(head);
  return action ? snapshot.clusters[action->cluster_for(0)].name : "none";
}

TEST(RouteMatchers, SegmentPrefixMatchesWholeSegmentsOnly) {
  auto snapshot = snapshot_with_paths("      - { prefix: /v1, segments: true, cluster: a }\n");
  EXPECT_EQ(routed(*snapshot, request("GET", "/v1")), "a");
  EXPECT_EQ(routed(*snapshot, request("GET", "/v1/users")), "a");
  EXPECT_EQ(routed(*snapshot, request("GET", "/v1?x=1")), "a");
  EXPECT_EQ(routed(*snapshot, request("GET", "/v1x")), "none");
}

// The lookup keeps short path texts beside the host and reads longer ones from the route: both
// kinds match alike.
TEST(RouteMatchers, LongAndShortPathsMatchAlike) {
  auto snapshot = snapshot_with_paths(
      "      - { exact: /api/v1/users/settings, cluster: a }\n"
      "      - { prefix: /api/v1/accounts, segments: true, cluster: b }\n"
      "      - { prefix: /static/assets/, cluster: c }\n"
      "      - { prefix: /s, segments: true, cluster: a }\n");
  EXPECT_EQ(routed(*snapshot, request("GET", "/api/v1/users/settings")), "a");
  EXPECT_EQ(routed(*snapshot, request("GET", "/api/v1/users/settings/x")), "none");
  EXPECT_EQ(routed(*snapshot, request("GET", "/api/v1/accounts/7")), "b");
  EXPECT_EQ(routed(*snapshot, request("GET", "/api/v1/accountsx")), "none");
  EXPECT_EQ(routed(*snapshot, request("GET", "/static/assets/logo.png")), "c");
  EXPECT_EQ(routed(*snapshot, request("GET", "/s/x")), "a");
  EXPECT_EQ(routed(*snapshot, request("GET", "/sx")), "none");
}

TEST(RouteMatchers, PlainPrefixMatchesAnyContinuation) {
  auto snapshot = snapshot_with_paths("      - { prefix: /v1, cluster: a }\n");
  EXPECT_EQ(routed(*snapshot, request("GET", "/v1x")), "a");
}

TEST(RouteMatchers, RegexMustMatchTheWholePath) {
  auto snapshot = snapshot_with_paths("      - { regex: \"/users/[0-9]+\", cluster: a }\n");
  EXPECT_EQ(routed(*snapshot, request("GET", "/users/42")), "a");
  EXPECT_EQ(routed(*snapshot, request("GET", "/users/42?full=1")), "a");
  EXPECT_EQ(routed(*snapshot, request("GET", "/users/42/posts")), "none");
  EXPECT_EQ(routed(*snapshot, request("GET", "/x/users/42")), "none");
}

TEST(RouteMatchers, FirstMatchingPathInFileOrderWins) {
  auto snapshot = snapshot_with_paths(
      "      - { prefix: /api/, cluster: a }\n"
      "      - { exact: /api/special, cluster: b }\n"
      "      - { prefix: /, cluster: c }\n");
  EXPECT_EQ(routed(*snapshot, request("GET", "/api/special")), "a");
  EXPECT_EQ(routed(*snapshot, request("GET", "/other")), "c");
}

TEST(RouteMatchers, MethodsRestrictAPath) {
  auto snapshot = snapshot_with_paths(
      "      - { prefix: /, methods: [POST, put], cluster: a }\n"
      "      - { prefix: /, cluster: b }\n");
  EXPECT_EQ(routed(*snapshot, request("POST", "/x")), "a");
  EXPECT_EQ(routed(*snapshot, request("PUT", "/x")), "a");
  EXPECT_EQ(routed(*snapshot, request("GET", "/x")), "b");
}

TEST(RouteMatchers, HeaderPresentAbsentExactAndRegex) {
  auto snapshot = snapshot_with_paths(
      "      - prefix: /\n"
      "        headers: [{ name: X-Canary, present: true }, { name: x-block, present: false }]\n"
      "        cluster: a\n"
      "      - prefix: /\n"
      "        headers: [{ name: x-tenant, exact: blue }]\n"
      "        cluster: b\n"
      "      - prefix: /\n"
      "        headers: [{ name: x-tenant, regex: \"gr(ee|a)n\" }]\n"
      "        cluster: c\n");
  EXPECT_EQ(routed(*snapshot, request("GET", "/", "x-canary: 1\r\n")), "a");
  EXPECT_EQ(routed(*snapshot, request("GET", "/", "X-Canary: 1\r\nX-Block: y\r\n")), "none");
  EXPECT_EQ(routed(*snapshot, request("GET", "/", "X-Tenant: blue\r\n")), "b");
  EXPECT_EQ(routed(*snapshot, request("GET", "/", "X-Tenant: Blue\r\n")), "none");
  EXPECT_EQ(routed(*snapshot, request("GET", "/", "X-Tenant: gran\r\n")), "c");
  EXPECT_EQ(routed(*snapshot, request("GET", "/", "X-Tenant: greenish\r\n")), "none");
  EXPECT_EQ(routed(*snapshot, request("GET", "/", "X-Tenant: red\r\nX-Tenant: blue\r\n")), "b");
}

TEST(RouteMatchers, QueryParametersAreDecodedBeforeMatching) {
  auto snapshot = snapshot_with_paths(
      "      - prefix: /\n"
      "        query: [{ name: debug, present: true }]\n"
      "        cluster: a\n"
      "      - prefix: /\n"
      "        query: [{ name: q, exact: \"a b&c\" }]\n"
      "        cluster: b\n"
      "      - prefix: /\n"
      "        query: [{ name: v, regex: \"[0-9]+\" }]\n"
      "        cluster: c\n");
  EXPECT_EQ(routed(*snapshot, request("GET", "/?x=1&debug")), "a");
  EXPECT_EQ(routed(*snapshot, request("GET", "/?q=a+b%26c")), "b");
  EXPECT_EQ(routed(*snapshot, request("GET", "/?v=12")), "c");
  EXPECT_EQ(routed(*snapshot, request("GET", "/?v=12a")), "none");
  EXPECT_EQ(routed(*snapshot, request("GET", "/?debugx=1")), "none");
}

TEST(RouteMatchers, SchemeMatchesRequestsOverPlainOrTlsListeners) {
  auto snapshot = snapshot_with_paths(
      "      - { prefix: /, scheme: http, redirect: { scheme: https } }\n"
      "      - { prefix: /, cluster: a }\n");
  http::MessageHead head = request("GET", "/x");
  MatchInput plain{"h", "/x", "", head.method, &head, false};
  MatchInput secure = plain;
  secure.over_tls = true;
  const RouteAction* over_plain = snapshot->routes.match(plain);
  ASSERT_NE(over_plain, nullptr);
  EXPECT_EQ(over_plain->kind, RouteAction::Kind::kRedirect);
  const RouteAction* over_tls = snapshot->routes.match(secure);
  ASSERT_NE(over_tls, nullptr);
  EXPECT_EQ(over_tls->kind, RouteAction::Kind::kForward);
}

}  // namespace
}  // namespace waygate::routing
