// `access_log:` as the config states it: the short and the object form, per listener, the text
// template parsed once into pieces, and every mistake refused at its FILE:LINE:COL. Also the
// route names the log prints and `log_level:`.
#include <gtest/gtest.h>

#include "routing/access_log_format.h"
#include "routing/config_loader.h"
#include "routing/snapshot.h"

namespace waygate::routing {
namespace {

constexpr const char* kRest =
    "routes: [{ hosts: ['api.example.com', 'x.example.com'], paths: [{ prefix: /v1/, cluster: "
    "a }, { exact: /health, name: health-check, respond: { status: 200 } }] }]\n"
    "clusters: [{ name: a, endpoints: [127.0.0.1:1] }]\n";

ConfigResult load(const std::string& head) {
  return load_config_text(head + kRest, "c.yaml");
}

std::string pieces_text(const std::vector<AccessLogPiece>& pieces) {
  std::string out;
  for (const AccessLogPiece& piece : pieces) {
    if (piece.field == AccessLogField::kLiteral) {
      out.append("[").append(piece.literal).append("]");
    } else {
      out.append("<").append(access_log_field_name(piece.field)).append(">");
    }
  }
  return out;
}

TEST(AccessLogTemplate, SplitsIntoLiteralsAndVariables) {
  AccessLogTemplate parsed =
      parse_access_log_template("$status ${duration_ms}ms \"$route\" $$5 $cluster$endpoint");
  EXPECT_EQ(parsed.error, "");
  EXPECT_EQ(pieces_text(parsed.pieces),
            "<status>[ ]<duration_ms>[ms \"]<route>[\" $5 ]<cluster><endpoint>");
}

TEST(AccessLogTemplate, KnowsEveryVariable) {
  for (std::string_view name : kAccessLogFieldNames) {
    std::string text = "$";
    text.append(name);
    AccessLogTemplate parsed = parse_access_log_template(text);
    ASSERT_EQ(parsed.error, "") << name;
    ASSERT_EQ(parsed.pieces.size(), 1u);
    EXPECT_EQ(access_log_field_name(parsed.pieces[0].field), name);
  }
}

TEST(AccessLogTemplate, RefusesUnknownVariablesWithTheirOffset) {
  AccessLogTemplate parsed = parse_access_log_template("$status $bogus $route");
  EXPECT_EQ(parsed.error_offset, 8u);
  EXPECT_NE(parsed.error.find("unknown variable '$bogus'"), std::string::npos) << parsed.error;
  EXPECT_TRUE(parsed.pieces.empty());
  // The longest name wins: "$statuses" is not "$status" followed by "es".
  EXPECT_NE(parse_access_log_template("$statuses").error, "");
}

TEST(AccessLogTemplate, RefusesABareDollarAnUnclosedBraceAndControlBytes) {
  EXPECT_EQ(parse_access_log_template("cost $ 5").error_offset, 5u);
  EXPECT_NE(parse_access_log_template("${status").error, "");
  EXPECT_NE(parse_access_log_template("${}").error, "");
  AccessLogTemplate newline = parse_access_log_template("$status\n$route");
  EXPECT_EQ(newline.error_offset, 7u);
  EXPECT_NE(newline.error.find("control"), std::string::npos);
}

TEST(AccessLogTemplate, TheDefaultLineParses) {
  EXPECT_EQ(parse_access_log_template(kDefaultAccessLogTemplate).error, "");
}

TEST(AccessLogConfig, TheShortFormIsThePath) {
  ConfigResult result = load(
      "access_log: /var/log/waygate.log\n"
      "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  EXPECT_EQ(result.config.access_log.path, "/var/log/waygate.log");
  EXPECT_EQ(result.config.access_log.format, AccessLogConfig::Format::kText);
  EXPECT_TRUE(result.config.access_log.pieces.empty());  // waygate's own line
  EXPECT_FALSE(result.config.listeners[0].access_log);
}

TEST(AccessLogConfig, WithoutTheKeyItIsStdout) {
  ConfigResult result = load("listeners: [{ name: web, address: 127.0.0.1:8080 }]\n");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  EXPECT_EQ(result.config.access_log.path, "stdout");
}

TEST(AccessLogConfig, TheObjectFormOnAListenerOverridesTheTopLevel) {
  ConfigResult result = load(
      "access_log: { path: stderr, template: '$status $route' }\n"
      "listeners:\n"
      "  - { name: web, address: 127.0.0.1:8080 }\n"
      "  - name: api\n"
      "    address: 127.0.0.1:8081\n"
      "    access_log: { path: /tmp/api.log, format: json }\n");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  const Config& config = result.config;
  EXPECT_EQ(config.access_log.path, "stderr");
  EXPECT_EQ(pieces_text(config.access_log.pieces), "<status>[ ]<route>");
  EXPECT_FALSE(config.listeners[0].access_log);
  ASSERT_TRUE(config.listeners[1].access_log);
  EXPECT_EQ(config.listeners[1].access_log->path, "/tmp/api.log");
  EXPECT_EQ(config.listeners[1].access_log->format, AccessLogConfig::Format::kJson);
}

TEST(AccessLogConfig, AnUnknownTemplateVariableIsRefusedAtTheTemplate) {
  ConfigResult result = load(
      "listeners:\n"
      "  - name: web\n"
      "    address: 127.0.0.1:8080\n"
      "    access_log:\n"
      "      path: stdout\n"
      "      template: \"$status $nope\"\n");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].substr(0, 11), "c.yaml:6:17") << result.errors[0];
  EXPECT_NE(result.errors[0].find("listener web access_log template, at character 9: unknown "
                                  "variable '$nope'"),
            std::string::npos)
      << result.errors[0];
}

TEST(AccessLogConfig, MistakesAreRefusedWhereTheyAre) {
  ConfigResult result = load(
      "access_log: { format: yaml, template: '$status', colour: red }\n"
      "listeners:\n"
      "  - name: web\n"
      "    address: 127.0.0.1:8080\n"
      "    access_log: { path: '', format: json, template: '$status' }\n");
  std::vector<std::string> expected = {
      "c.yaml:1:13: access_log needs a path (stdout, stderr, off or a file)",
      "c.yaml:1:23: access_log format 'yaml' is not one of text, json",
      "c.yaml:1:50: unknown key 'colour' in access_log",
      "c.yaml:5:25: listener web access_log path must be stdout, stderr, off or a file's path",
      "c.yaml:5:53: listener web access_log template applies to format text, not json",
  };
  EXPECT_EQ(result.errors, expected);
}

TEST(RouteLogName, IsTheNameOrTheFirstHostAndPath) {
  ConfigResult result = load("listeners: [{ name: web, address: 127.0.0.1:8080 }]\n");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  std::shared_ptr<const Snapshot> snapshot = build_snapshot(result.config);
  const RouteAction* forward = snapshot->routes.match("x.example.com", "/v1/users");
  ASSERT_NE(forward, nullptr);
  EXPECT_EQ(forward->log_name, "api.example.com/v1/");
  const RouteAction* named = snapshot->routes.match("api.example.com", "/health");
  ASSERT_NE(named, nullptr);
  EXPECT_EQ(named->log_name, "health-check");
}

TEST(RouteLogName, MustNotBeEmpty) {
  ConfigResult result = load_config_text(
      "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
      "routes: [{ hosts: ['*'], paths: [{ prefix: /, name: '', cluster: a }] }]\n"
      "clusters: [{ name: a, endpoints: [127.0.0.1:1] }]\n",
      "c.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0], "c.yaml:2:53: a path's name must not be empty");
}

TEST(LogLevel, IsReadAndCheckedAndDefaultsToInfo) {
  EXPECT_EQ(load("listeners: [{ name: web, address: 127.0.0.1:8080 }]\n").config.log_level,
            LogLevel::kInfo);
  ConfigResult warn =
      load("log_level: warn\nlisteners: [{ name: web, address: 127.0.0.1:8080 }]\n");
  ASSERT_TRUE(warn.ok()) << warn.errors.front();
  EXPECT_EQ(warn.config.log_level, LogLevel::kWarn);
  ConfigResult wrong =
      load("log_level: loud\nlisteners: [{ name: web, address: 127.0.0.1:8080 }]\n");
  ASSERT_EQ(wrong.errors.size(), 1u);
  EXPECT_EQ(wrong.errors[0],
            "c.yaml:1:12: log_level 'loud' is not one of debug, info, warn, error");
}

}  // namespace
}  // namespace waygate::routing
