// Access-log lines as a reader parses them: JSON lines that any JSON parser takes whatever bytes a
// client sent, and text lines laid out by a template, whose values cannot break a field or a line.
#include "proxy/access_log_line.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace waygate::proxy {
namespace {

std::string text_value(std::string_view value) {
  std::string out;
  append_text_value(out, value);
  return out;
}

AccessLogEntry proxied_entry() {
  AccessLogEntry entry;
  entry.time = "2026-11-25T12:00:00.123Z";
  entry.request_id = "abc123";
  entry.client = "127.0.0.1:50000";
  entry.method = "GET";
  entry.target = "/v1/users?x=1";
  entry.version_minor = 1;
  entry.status = 200;
  entry.bytes_sent = 6;
  entry.bytes_received = 80;
  entry.duration_ns = 12'345'678;
  entry.upstream_connect_ns = 0;
  entry.upstream_response_ns = 2'000'000;
  entry.host = "api.example.com";
  entry.listener = "web";
  entry.route = "api.example.com/v1/";
  entry.cluster = "api";
  entry.endpoint = "127.0.0.1:9001";
  return entry;
}

std::string render(std::string_view template_text, const AccessLogEntry& entry) {
  routing::AccessLogTemplate parsed = routing::parse_access_log_template(template_text);
  EXPECT_EQ(parsed.error, "");
  std::string out;
  append_text_line(out, parsed.pieces, entry);
  return out;
}

TEST(JsonLine, HoldsEveryFieldInOrder) {
  std::string line;
  append_json_line(line, proxied_entry());
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(line);
  std::vector<std::string> keys;
  for (const auto& item : parsed.items())
    keys.push_back(item.key());
  EXPECT_EQ(keys, std::vector<std::string>(routing::kAccessLogFieldNames.begin(),
                                           routing::kAccessLogFieldNames.end()));
  EXPECT_EQ(parsed["time"], "2026-11-25T12:00:00.123Z");
  EXPECT_EQ(parsed["protocol"], "HTTP/1.1");
  EXPECT_EQ(parsed["status"], 200);
  EXPECT_EQ(parsed["bytes_sent"], 6);
  EXPECT_EQ(parsed["bytes_received"], 80);
  EXPECT_DOUBLE_EQ(parsed["duration_ms"].get<double>(), 12.345);
  EXPECT_DOUBLE_EQ(parsed["upstream_connect_ms"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(parsed["upstream_response_ms"].get<double>(), 2.0);
  EXPECT_EQ(parsed["route"], "api.example.com/v1/");
  EXPECT_EQ(parsed["endpoint"], "127.0.0.1:9001");
  EXPECT_TRUE(parsed["error"].is_null());
}

TEST(AccessLogLine, AnHttp2RequestSaysHttp2) {
  AccessLogEntry entry = proxied_entry();
  entry.http2 = true;
  std::string line;
  append_json_line(line, entry);
  EXPECT_EQ(nlohmann::json::parse(line)["protocol"], "HTTP/2");
  EXPECT_EQ(render("$protocol $status", entry), "HTTP/2 200\n");
}

TEST(JsonLine, WhatIsNotKnownIsNull) {
  AccessLogEntry entry;
  entry.time = "2026-11-25T12:00:00.123Z";
  entry.status = 404;
  entry.error = "no-route";
  std::string line;
  append_json_line(line, entry);
  nlohmann::json parsed = nlohmann::json::parse(line);
  for (const char* key : {"request_id", "method", "target", "host", "route", "cluster", "endpoint",
                          "upstream_connect_ms", "upstream_response_ms"}) {
    EXPECT_TRUE(parsed[key].is_null()) << key;
  }
  EXPECT_EQ(parsed["error"], "no-route");
}

TEST(JsonLine, LongClientValuesAreCut) {
  AccessLogEntry entry = proxied_entry();
  std::string target(5000, 'a');
  std::string host(500, 'h');
  std::string id(500, 'i');
  entry.target = target;
  entry.host = host;
  entry.request_id = id;
  std::string line;
  append_json_line(line, entry);
  nlohmann::json parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["target"].get<std::string>().size(), kMaxLoggedTarget);
  EXPECT_EQ(parsed["host"].get<std::string>().size(), kMaxLoggedHost);
  EXPECT_EQ(parsed["request_id"].get<std::string>().size(), kMaxLoggedRequestId);
}

TEST(TextLine, TheDefaultTemplateIsWaygatesOwnLine) {
  AccessLogEntry entry = proxied_entry();
  entry.error = "";
  EXPECT_EQ(render(routing::kDefaultAccessLogTemplate, entry),
            "2026-11-25T12:00:00.123Z 127.0.0.1:50000 \"GET /v1/users?x=1 HTTP/1.1\" 200 6 "
            "12.345ms host=api.example.com cluster=api upstream=127.0.0.1:9001 id=abc123 "
            "error=-\n");
}

TEST(TextLine, ATemplatePutsEachVariableWhereItSays) {
  AccessLogEntry entry = proxied_entry();
  EXPECT_EQ(render("$status|$route|$cluster|$endpoint|$listener|$bytes_received|"
                   "$upstream_connect_ms|$upstream_response_ms|$$",
                   entry),
            "200|api.example.com/v1/|api|127.0.0.1:9001|web|80|0.000|2.000|$\n");
  AccessLogEntry local;
  local.status = 502;
  local.error = "upstream-refused";
  EXPECT_EQ(render("$status $cluster $upstream_response_ms $error", local),
            "502 - - upstream-refused\n");
}

TEST(TextValue, CannotEndAQuotedFieldOrTheLine) {
  EXPECT_EQ(text_value("/a\"b\\c"), "/a\\x22b\\x5cc");
  EXPECT_EQ(text_value("x\ny\x7f\xff"), "x\\x0ay\\x7f\\xff");
  EXPECT_EQ(text_value("plain/path?q=1"), "plain/path?q=1");
}

}  // namespace
}  // namespace waygate::proxy
