// Fuzzes what etcd's JSON gateway answers (discovery/etcd_messages) and the endpoint values its
// keys hold (discovery/etcd_provider): any answer is read whole or refused with a reason. What is
// read is what a canonical answer with the same contents reads as, and every endpoint accepted
// has a port and a weight in range.
//
// Input: byte 0 even: a range response; odd: a watch stream, one JSON message per line.
#include <nlohmann/json.hpp>

#include <string>

#include "discovery/base64.h"
#include "discovery/etcd_messages.h"
#include "discovery/etcd_provider.h"
#include "fuzz_check.h"

namespace waygate::fuzz {
namespace {

using Json = nlohmann::json;

void check_value(const std::string& value) {
  std::string error;
  std::optional<routing::EndpointSpec> endpoint =
      discovery::EtcdProvider::parse_value(value, &error);
  if (!endpoint) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  FUZZ_CHECK(endpoint->weight >= 1 && endpoint->weight <= 1'000'000);
  FUZZ_CHECK(!endpoint->address_text.empty());
}

void check_bytes(const std::string& bytes) {
  std::optional<std::string> decoded = discovery::base64_decode(discovery::base64_encode(bytes));
  FUZZ_CHECK(decoded && *decoded == bytes);
}

void check_range(std::string_view body) {
  std::string error;
  std::optional<discovery::EtcdRange> range = discovery::parse_etcd_range(body, &error);
  if (!range) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  FUZZ_CHECK(range->revision > 0);
  // The same contents written canonically read back the same.
  Json kvs = Json::array();
  for (const auto& [key, value] : range->keys) {
    check_bytes(key);
    check_bytes(value);
    check_value(value);
    kvs.push_back({{"key", discovery::base64_encode(key)},
                   {"value", discovery::base64_encode(value)},
                   {"mod_revision", "1"}});
  }
  Json canonical = {{"header", {{"revision", std::to_string(range->revision)}}}, {"kvs", kvs}};
  std::optional<discovery::EtcdRange> again = discovery::parse_etcd_range(canonical.dump(), &error);
  FUZZ_CHECK(again && again->keys == range->keys && again->revision == range->revision);
}

void check_watch_line(std::string_view line) {
  using Kind = discovery::EtcdWatchMessage::Kind;
  discovery::EtcdWatchMessage message = discovery::parse_etcd_watch_message(line);
  switch (message.kind) {
    case Kind::kInvalid:
      FUZZ_CHECK(!message.error.empty());
      break;
    case Kind::kCompacted:
      FUZZ_CHECK(message.has_revision && message.revision > 0);
      break;
    case Kind::kEvents: {
      Json events = Json::array();
      for (const discovery::EtcdWatchMessage::Event& event : message.events) {
        FUZZ_CHECK(event.revision > 0);
        check_bytes(event.key);
        if (event.put) check_value(event.value);
        events.push_back({{"type", event.put ? "PUT" : "DELETE"},
                          {"kv",
                           {{"key", discovery::base64_encode(event.key)},
                            {"value", discovery::base64_encode(event.value)},
                            {"mod_revision", std::to_string(event.revision)}}}});
      }
      Json canonical = {{"result", {{"events", events}}}};
      discovery::EtcdWatchMessage again = discovery::parse_etcd_watch_message(canonical.dump());
      FUZZ_CHECK(again.kind == Kind::kEvents && again.events.size() == message.events.size());
      for (size_t i = 0; i < again.events.size(); ++i) {
        FUZZ_CHECK(again.events[i].put == message.events[i].put);
        FUZZ_CHECK(again.events[i].key == message.events[i].key);
        FUZZ_CHECK(again.events[i].value == message.events[i].value);
        FUZZ_CHECK(again.events[i].revision == message.events[i].revision);
      }
      break;
    }
    default:
      FUZZ_CHECK(message.events.empty());
      break;
  }
}

}  // namespace
}  // namespace waygate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace waygate;
  if (size == 0) return 0;
  std::string_view body = fuzz::as_text(data + 1, size - 1);
  (void)discovery::etcd_error_text(body);
  if ((data[0] & 1) == 0) {
    fuzz::check_range(body);
    return 0;
  }
  while (!body.empty()) {
    size_t newline = body.find('\n');
    fuzz::check_watch_line(body.substr(0, newline));
    if (newline == std::string_view::npos) break;
    body.remove_prefix(newline + 1);
  }
  return 0;
}
