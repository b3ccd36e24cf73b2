// The config as untrusted input: header edits, fixed responses, rewrites, redirects, upgrades,
// limits and the admin address and token are held to the grammar a client is held to, each error at
// its FILE:LINE:COL.
#include <gtest/gtest.h>

#include <cstdio>

#include "routing/config_loader.h"

namespace waygate::routing {
namespace {

// Lines 1-4 of every config below; the path's own lines start at line 5.
constexpr const char* kHead =
    "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
    "routes:\n"
    "  - hosts: [\"*\"]\n"
    "    paths:\n";
constexpr const char* kTail = "clusters: [{ name: a, endpoints: [127.0.0.1:1] }]\n";

std::vector<std::string> errors_for_paths(const std::string& paths) {
  return load_config_text(kHead + paths + kTail, "v.yaml").errors;
}

// A place that takes a mapping of header names to values: its entries go on line 9, column 13.
struct AddPlace {
  const char* name;
  const char* lines_5_to_8;
};
constexpr AddPlace kAddPlaces[] = {
    {"request_headers.add",
     "      - prefix: /\n        cluster: a\n        request_headers:\n          add:\n"},
    {"response_headers.add",
     "      - prefix: /\n        cluster: a\n        response_headers:\n          add:\n"},
    {"respond.headers",
     "      - prefix: /\n        respond:\n          status: 200\n          headers:\n"},
};

// A place that takes a list of header names: its item goes on line 9, column 15.
struct RemovePlace {
  const char* name;
  const char* lines_5_to_8;
};
constexpr RemovePlace kRemovePlaces[] = {
    {"request_headers.remove",
     "      - prefix: /\n        cluster: a\n        request_headers:\n          remove:\n"},
    {"response_headers.remove",
     "      - prefix: /\n        cluster: a\n        response_headers:\n          remove:\n"},
};

std::vector<std::string> errors_adding(const AddPlace& place, const std::string& entry) {
  return errors_for_paths(std::string(place.lines_5_to_8) + "            " + entry + "\n");
}

std::vector<std::string> errors_removing(const RemovePlace& place, const std::string& name) {
  return errors_for_paths(std::string(place.lines_5_to_8) + "            - " + name + "\n");
}

TEST(HeaderValidation, AddedHeaderNamesMustBeTokens) {
  for (const AddPlace& place : kAddPlaces) {
    SCOPED_TRACE(place.name);
    EXPECT_EQ(errors_adding(place, "X-Env_2.b~: prod"), std::vector<std::string>{});
    for (const char* name : {"X Env", "X(Env)", "X\\u00e9", "X\\tEnv"}) {
      auto errors = errors_adding(place, std::string("\"") + name + "\": prod");
      ASSERT_EQ(errors.size(), 1u) << name;
      EXPECT_TRUE(
          errors[0].starts_with("v.yaml:9:13: " + std::string(place.name) + ": header name '"))
          << errors[0];
      EXPECT_TRUE(errors[0].ends_with("' is not a token (letters, digits and !#$%&'*+-.^_`|~)"))
          << errors[0];
    }
  }
}

TEST(HeaderValidation, AddedHeaderValuesMayHoldNoControlBytes) {
  for (const AddPlace& place : kAddPlaces) {
    SCOPED_TRACE(place.name);
    // HTAB, obs-text and an empty value are what a client may send too.
    EXPECT_EQ(errors_adding(place, "X-A: \"a\\tb caf\\u00e9\""), std::vector<std::string>{});
    EXPECT_EQ(errors_adding(place, "X-A: \"\""), std::vector<std::string>{});
    auto errors = errors_adding(place, "X-A: \"ok\\r\\nX-Injected: 1\"");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "v.yaml:9:18: " + std::string(place.name) +
                             ": the value of 'X-A', 'ok\\x0D\\x0AX-Injected: 1', has a control "
                             "byte (CR, LF, NUL and the like; HTAB is allowed)");
    for (const char* value : {"\"a\\0b\"", "\"a\\x01\"", "\"a\\x7f\"", "\"a\\nb\""}) {
      errors = errors_adding(place, std::string("X-A: ") + value);
      ASSERT_EQ(errors.size(), 1u) << value;
      EXPECT_TRUE(errors[0].starts_with("v.yaml:9:18: ")) << errors[0];
      EXPECT_NE(errors[0].find("has a control byte"), std::string::npos) << errors[0];
    }
  }
}

TEST(HeaderValidation, ErrorMessagesNeverCarryTheControlBytesThemselves) {
  auto errors = errors_adding(kAddPlaces[0], "\"X\\r\\nY\": \"a\\r\\nb\"");
  ASSERT_EQ(errors.size(), 2u);
  for (const std::string& error : errors) {
    EXPECT_EQ(error.find_first_of(std::string("\r\n\0", 3)), std::string::npos) << error;
  }
}

TEST(HeaderValidation, HeadersWaygateManagesCannotBeAdded) {
  for (const AddPlace& place : kAddPlaces) {
    SCOPED_TRACE(place.name);
    for (const char* name : {"Content-Length", "transfer-encoding", "CONNECTION", "Host",
                             "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade"}) {
      auto errors = errors_adding(place, std::string(name) + ": x");
      ASSERT_EQ(errors.size(), 1u) << name;
      std::string expected = "v.yaml:9:13: " + std::string(place.name) + ": '" + name +
                             "' is managed by waygate and cannot be added";
      if (std::string_view(name) == "Host" && std::string_view(place.name) == "request_headers.add")
        expected += "; a route changes Host with rewrite.host";
      EXPECT_EQ(errors[0], expected);
    }
    // Names that merely start like a managed one are the route's to set.
    EXPECT_EQ(errors_adding(place, "Content-Type: text/plain"), std::vector<std::string>{});
    EXPECT_EQ(errors_adding(place, "Hostname: x"), std::vector<std::string>{});
    EXPECT_EQ(errors_adding(place, "Upgrade-Insecure-Requests: \"1\""), std::vector<std::string>{});
  }
}

TEST(HeaderValidation, RemovedHeaderNamesMustBeTokensAndNotManaged) {
  for (const RemovePlace& place : kRemovePlaces) {
    SCOPED_TRACE(place.name);
    for (const char* name : {"Server", "X-Debug", "Keep-Alive", "TE", "Trailer"}) {
      EXPECT_EQ(errors_removing(place, name), std::vector<std::string>{}) << name;
    }
    auto errors = errors_removing(place, "\"X Debug\"");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "v.yaml:9:15: " + std::string(place.name) +
                             ": header name 'X Debug' is not a token (letters, digits and "
                             "!#$%&'*+-.^_`|~)");
    for (const char* name :
         {"host", "Content-Length", "Transfer-Encoding", "Connection", "UPGRADE"}) {
      errors = errors_removing(place, name);
      ASSERT_EQ(errors.size(), 1u) << name;
      std::string expected = "v.yaml:9:15: " + std::string(place.name) + ": '" + name +
                             "' is managed by waygate and cannot be removed";
      if (std::string_view(name) == "host" &&
          std::string_view(place.name) == "request_headers.remove")
        expected += "; a route changes Host with rewrite.host";
      EXPECT_EQ(errors[0], expected);
    }
  }
}

std::vector<std::string> errors_for_rewrite_host(const std::string& host) {
  return errors_for_paths(
      "      - prefix: /\n        cluster: a\n        rewrite:\n          host: " + host + "\n");
}

TEST(RewriteValidation, HostMustBeAnAuthority) {
  for (const char* host : {"api.internal", "api.internal:8080", "10.0.0.1:80", "\"[::1]:8080\"",
                           "\"[fe80::1]\"", "my_host.local"}) {
    EXPECT_EQ(errors_for_rewrite_host(host), std::vector<std::string>{}) << host;
  }
  for (const char* host : {"\"api internal\"", "api:99999", "api:http", "a/b", "\"\"",
                           "\"a\\r\\nX: y\"", "\"[::1\"", "\"user@host\""}) {
    auto errors = errors_for_rewrite_host(host);
    ASSERT_EQ(errors.size(), 1u) << host;
    EXPECT_TRUE(errors[0].starts_with("v.yaml:8:17: rewrite host '")) << errors[0];
    EXPECT_TRUE(errors[0].ends_with(
        "' is not host[:port] (a host name, an IPv4 address or a bracketed IPv6 address, and a "
        "port up to 65535)"))
        << errors[0];
  }
}

std::vector<std::string> errors_for_redirect_host(const std::string& host) {
  return errors_for_paths("      - prefix: /\n        redirect:\n          host: " + host + "\n");
}

TEST(RedirectValidation, HostMustBeAHostWithoutAPort) {
  for (const char* host : {"www.example.com", "10.0.0.1", "\"[::1]\""}) {
    EXPECT_EQ(errors_for_redirect_host(host), std::vector<std::string>{}) << host;
  }
  EXPECT_EQ(errors_for_redirect_host("www.example.com:8443"),
            std::vector<std::string>{"v.yaml:7:17: redirect host 'www.example.com:8443' must not "
                                     "carry a port (set redirect.port)"});
  EXPECT_EQ(
      errors_for_redirect_host("\"[::1]:8443\""),
      std::vector<std::string>{
          "v.yaml:7:17: redirect host '[::1]:8443' must not carry a port (set redirect.port)"});
  for (const char* host : {"\"a b\"", "\"\"", "\"evil.com/x\"", "\"a\\nb\"", "\"x?y\""}) {
    auto errors = errors_for_redirect_host(host);
    ASSERT_EQ(errors.size(), 1u) << host;
    EXPECT_TRUE(errors[0].starts_with("v.yaml:7:17: redirect host '")) << errors[0];
    EXPECT_TRUE(
        errors[0].ends_with("' is not a host name, an IPv4 address or a bracketed IPv6 address"))
        << errors[0];
  }
}

// A path key's value on line 8, column 19 (redirect.path, redirect.prefix, rewrite.prefix).
struct PathPlace {
  const char* name;  // as messages name it
  const char* lines_5_to_7;
  const char* key;
};
constexpr PathPlace kPathPlaces[] = {
    {"redirect path", "      - prefix: /\n        redirect:\n          code: 302\n", "path"},
    {"redirect prefix", "      - prefix: /\n        redirect:\n          code: 302\n", "prefix"},
    {"rewrite prefix", "      - prefix: /\n        cluster: a\n        rewrite:\n", "prefix"},
};

std::vector<std::string> errors_for_url_path(const PathPlace& place, const std::string& value) {
  // Pads the key to six characters so that every value starts at column 19.
  std::string key = std::string(place.key) + ":";
  key.resize(8, ' ');
  return errors_for_paths(std::string(place.lines_5_to_7) + "          " + key + value + "\n");
}

TEST(PathValidation, RedirectAndRewritePathsHoldOnlyPathCharacters) {
  for (const PathPlace& place : kPathPlaces) {
    SCOPED_TRACE(place.name);
    for (const char* value : {"/", "/a/b/", "/%2Fa%7e", "\"/a-._~!$&'()*+,;=:@b\""}) {
      EXPECT_EQ(errors_for_url_path(place, value), std::vector<std::string>{}) << value;
    }
    std::string prefix = "v.yaml:8:19: " + std::string(place.name) + " ";
    std::string allowed =
        " is not a path character (letters, digits, -._~!$&'()*+,;=:@/ and %XX "
        "escapes)";
    EXPECT_EQ(errors_for_url_path(place, "\"/a b\""),
              std::vector<std::string>{prefix + "'/a b': ' '" + allowed});
    EXPECT_EQ(errors_for_url_path(place, "\"/a?x=1\""),
              std::vector<std::string>{prefix + "'/a?x=1': '?'" + allowed});
    EXPECT_EQ(errors_for_url_path(place, "\"/a#top\""),
              std::vector<std::string>{prefix + "'/a#top': '#'" + allowed});
    EXPECT_EQ(errors_for_url_path(place, "\"/a\\r\\nb\""),
              std::vector<std::string>{prefix + "'/a\\x0D\\x0Ab': '\\x0D'" + allowed});
    EXPECT_EQ(errors_for_url_path(place, "\"/a\\\\b\""),
              std::vector<std::string>{prefix + "'/a\\b': '\\'" + allowed});
    EXPECT_EQ(errors_for_url_path(place, "\"/a%zz\""),
              std::vector<std::string>{prefix + "'/a%zz': '%' must start a %XX escape"});
    EXPECT_EQ(errors_for_url_path(place, "\"/a%2\""),
              std::vector<std::string>{prefix + "'/a%2': '%' must start a %XX escape"});
    EXPECT_EQ(errors_for_url_path(place, "a/b"),
              std::vector<std::string>{"v.yaml:8:19: " + std::string(place.name) +
                                       " must start with '/'"});
  }
}

std::vector<std::string> errors_for_upgrades(const std::string& action, const std::string& list) {
  return errors_for_paths("      - prefix: /\n        " + action + "\n        upgrades: " + list +
                          "\n");
}

TEST(UpgradeValidation, UpgradesAreTokensOnForwardingRoutesAndNeverH2c) {
  EXPECT_EQ(errors_for_upgrades("cluster: a", "[websocket, My-Proto]"), std::vector<std::string>{});
  EXPECT_EQ(errors_for_upgrades("cluster: a", "[]"), std::vector<std::string>{});
  EXPECT_EQ(errors_for_upgrades("clusters: [{ name: a }]", "[websocket]"),
            std::vector<std::string>{});
  EXPECT_EQ(errors_for_upgrades("cluster: a", "[h2c]"),
            std::vector<std::string>{"v.yaml:7:20: upgrade 'h2c' is refused: HTTP/2 comes by its "
                                     "own codec, not through an upgrade tunnel"});
  EXPECT_EQ(errors_for_upgrades("cluster: a", "[H2C]").size(), 1u);
  EXPECT_EQ(errors_for_upgrades("cluster: a", "[\"web socket\"]"),
            std::vector<std::string>{"v.yaml:7:20: upgrade 'web socket' is not a token (letters, "
                                     "digits and !#$%&'*+-.^_`|~)"});
  EXPECT_EQ(errors_for_upgrades("cluster: a", "[websocket, WebSocket]"),
            std::vector<std::string>{"v.yaml:7:31: upgrade 'WebSocket' is listed twice"});
  EXPECT_EQ(errors_for_upgrades("cluster: a", "websocket"),
            std::vector<std::string>{"v.yaml:7:19: upgrades must be a list"});
  EXPECT_EQ(errors_for_upgrades("redirect: { code: 302 }", "[websocket]"),
            std::vector<std::string>{"v.yaml:7:19: upgrades applies to cluster or clusters only"});
  EXPECT_EQ(errors_for_upgrades("respond: { status: 200 }", "[]"),
            std::vector<std::string>{"v.yaml:7:19: upgrades applies to cluster or clusters only"});
}

std::vector<std::string> errors_for_limits(const std::string& limits) {
  return load_config_text(
             "limits: " + limits + "\n" + kHead + "      - { prefix: /, cluster: a }\n" + kTail,
             "v.yaml")
      .errors;
}

TEST(LimitsValidation, MaxRequestHeadersIsBetween1And10000) {
  EXPECT_EQ(errors_for_limits("{ max_request_headers: 1 }"), std::vector<std::string>{});
  EXPECT_EQ(errors_for_limits("{ max_request_headers: 10000 }"), std::vector<std::string>{});
  for (const char* value : {"0", "10001"}) {
    EXPECT_EQ(errors_for_limits(std::string("{ max_request_headers: ") + value + " }"),
              std::vector<std::string>{
                  "v.yaml:1:32: limits.max_request_headers must be between 1 and 10000"});
  }
  EXPECT_EQ(errors_for_limits("{ max_request_headers: -1 }"),
            std::vector<std::string>{
                "v.yaml:1:32: limits.max_request_headers: '-1' is not a whole number"});
}

TEST(LimitsValidation, MaxUpstreamConnectionsPerEndpointIsAtLeastOne) {
  EXPECT_EQ(errors_for_limits("{ max_upstream_connections_per_endpoint: 1 }"),
            std::vector<std::string>{});
  EXPECT_EQ(errors_for_limits("{ max_upstream_connections_per_endpoint: 0 }"),
            std::vector<std::string>{
                "v.yaml:1:50: limits.max_upstream_connections_per_endpoint must be at least 1"});
  EXPECT_EQ(errors_for_limits("{ max_upstream_connections_per_endpoint: many }"),
            std::vector<std::string>{"v.yaml:1:50: limits.max_upstream_connections_per_endpoint: "
                                     "'many' is not a whole number"});
}

std::vector<std::string> errors_for_top(const std::string& top_lines) {
  return load_config_text(top_lines + kHead + "      - { prefix: /, cluster: a }\n" + kTail,
                          "v.yaml")
      .errors;
}

TEST(NormalizePathsValidation, OnlyKnownChoicesAreAccepted) {
  EXPECT_EQ(errors_for_top("normalize_paths: { merge_slashes: false, escaped_slashes: keep }\n"),
            std::vector<std::string>{});
  EXPECT_EQ(errors_for_top("normalize_paths: { escaped_slashes: decode }\n"),
            std::vector<std::string>{"v.yaml:1:37: normalize_paths.escaped_slashes 'decode' is "
                                     "not one of reject, keep, unescape"});
  EXPECT_EQ(
      errors_for_top("normalize_paths: { merge_slashes: yes }\n"),
      std::vector<std::string>{"v.yaml:1:35: normalize_paths.merge_slashes must be true or false"});
  EXPECT_EQ(errors_for_top("normalize_paths: { decode: true }\n"),
            std::vector<std::string>{"v.yaml:1:20: unknown key 'decode' in normalize_paths"});
}

std::vector<std::string> errors_for_admin(const std::string& address) {
  return errors_for_top("admin:\n  address: \"" + address + "\"\n");
}

TEST(AdminValidation, AdminAddressOffLoopbackNeedsAToken) {
  for (const char* address : {"127.0.0.1:9901", "127.8.9.10:9901", "[::1]:9901"}) {
    EXPECT_EQ(errors_for_admin(address), std::vector<std::string>{}) << address;
  }
  for (const char* address : {"0.0.0.0:9901", "10.0.0.1:9901", "128.0.0.1:9901", "[::]:9901",
                              "[::ffff:127.0.0.1]:9901", "[fe80::1]:9901"}) {
    EXPECT_EQ(errors_for_admin(address),
              std::vector<std::string>{"v.yaml:2:12: admin address '" + std::string(address) +
                                       "' is not loopback (127.0.0.0/8 or [::1]): set "
                                       "admin.token or admin.token_file, which every admin "
                                       "request must then carry"});
    EXPECT_EQ(errors_for_top("admin:\n  address: \"" + std::string(address) +
                             "\"\n  token: s3cret-token\n"),
              std::vector<std::string>{})
        << address;
  }
}

TEST(AdminValidation, TokenIsReadInlineOrFromAFile) {
  std::string dir = ::testing::TempDir();
  std::string path = dir + "admin-token";  // TempDir() ends with a slash
  {
    FILE* file = std::fopen(path.c_str(), "w");
    ASSERT_NE(file, nullptr);
    std::fputs("from-the-file\n", file);
    std::fclose(file);
  }
  ConfigResult inline_token =
      load_config_text(std::string("admin: { address: 0.0.0.0:9901, token: s3cret-token }\n") +
                           kHead + "      - { prefix: /, cluster: a }\n" + kTail,
                       "v.yaml");
  ASSERT_EQ(inline_token.errors, std::vector<std::string>{});
  EXPECT_EQ(inline_token.config.admin.token, "s3cret-token");
  EXPECT_EQ(inline_token.config.admin.token_file, "");

  ConfigResult file_token =
      load_config_text("admin: { address: 0.0.0.0:9901, token_file: \"" + path + "\" }\n" + kHead +
                           "      - { prefix: /, cluster: a }\n" + kTail,
                       "v.yaml");
  ASSERT_EQ(file_token.errors, std::vector<std::string>{});
  EXPECT_EQ(file_token.config.admin.token, "from-the-file");  // without the newline
  EXPECT_EQ(file_token.config.admin.token_file, path);
  std::remove(path.c_str());
}

TEST(AdminValidation, BadTokensAreRefusedWithoutQuotingThem) {
  EXPECT_EQ(errors_for_top("admin: { address: 127.0.0.1:9901, token: \"two words\" }\n"),
            std::vector<std::string>{
                "v.yaml:1:42: admin.token must be visible ASCII characters without spaces"});
  EXPECT_EQ(errors_for_top("admin: { address: 127.0.0.1:9901, token: \"\" }\n"),
            std::vector<std::string>{
                "v.yaml:1:42: admin.token must be visible ASCII characters without spaces"});
  EXPECT_EQ(errors_for_top("admin: { address: 127.0.0.1:9901, token: a, token_file: b }\n"),
            std::vector<std::string>{"v.yaml:1:57: admin takes token or token_file, not both"});
  EXPECT_EQ(errors_for_top("admin: { address: 0.0.0.0:9901, token_file: /nonexistent/token }\n"),
            std::vector<std::string>{
                "v.yaml:1:45: admin.token_file '/nonexistent/token' cannot be read"});
}

TEST(ValidationReport, EveryProblemIsReportedInOneRun) {
  auto errors = load_config_text(R"(admin: { address: 0.0.0.0:9901 }
listeners: [{ name: web, address: 127.0.0.1:8080 }]
routes:
  - hosts: ["*"]
    paths:
      - prefix: /
        cluster: a
        rewrite: { host: "a b", prefix: "/x y" }
        request_headers: { add: { Host: x }, remove: [Connection] }
        upgrades: [h2c]
clusters: [{ name: a, endpoints: [127.0.0.1:1] }]
)",
                                 "v.yaml")
                    .errors;
  ASSERT_EQ(errors.size(), 6u);
  EXPECT_TRUE(errors[0].starts_with("v.yaml:1:19: admin address")) << errors[0];
  EXPECT_TRUE(errors[1].starts_with("v.yaml:8:26: rewrite host")) << errors[1];
  EXPECT_TRUE(errors[2].starts_with("v.yaml:8:41: rewrite prefix")) << errors[2];
  EXPECT_TRUE(errors[3].starts_with("v.yaml:9:35: request_headers.add: 'Host'")) << errors[3];
  EXPECT_TRUE(errors[4].starts_with("v.yaml:9:55: request_headers.remove: 'Connection'"))
      << errors[4];
  EXPECT_TRUE(errors[5].starts_with("v.yaml:10:20: upgrade 'h2c'")) << errors[5];
}

}  // namespace
}  // namespace waygate::routing
