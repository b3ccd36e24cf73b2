// int64 fields come as JSON strings (proto3's JSON mapping) and bytes fields as base64; both are
// checked here, so the watcher only ever sees whole, decoded messages.
#include "discovery/etcd_messages.h"

#include <nlohmann/json.hpp>

#include <charconv>

#include "discovery/base64.h"
#include "discovery/json_member.h"

namespace waygate::discovery {
namespace {

using Json = nlohmann::json;

// int64 fields come as JSON strings (proto3's JSON mapping); numbers are taken too. Absent: 0.
std::optional<uint64_t> revision_field(const Json* object, const char* name) {
  const Json* value = object ? json_member(*object, name) : nullptr;
  if (!value) return 0;
  if (value->is_number_unsigned()) return value->get<uint64_t>();
  if (value->is_string()) {
    const std::string& text = value->get_ref<const std::string&>();
    uint64_t number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return number;
  }
  return std::nullopt;
}

// bytes fields are base64 strings; an absent one is empty (proto3 omits defaults).
std::optional<std::string> bytes_field(const Json& object, const char* name) {
  const Json* value = json_member(object, name);
  if (!value) return std::string();
  if (!value->is_string()) return std::nullopt;
  return base64_decode(value->get_ref<const std::string&>());
}

bool bool_field(const Json& object, const char* name) {
  const Json* value = json_member(object, name);
  return value && value->is_boolean() && value->get<bool>();
}

std::string string_field(const Json& object, const char* name) {
  const Json* value = json_member(object, name);
  return value && value->is_string() ? value->get<std::string>() : std::string();
}

// The gateway answers a failed call with {"error": "...", "message": "...", "code": N}; in a
// watch stream the error may also be an object.
std::string error_text(const Json& body) {
  std::string message = string_field(body, "message");
  if (!message.empty()) return message;
  const Json* error = json_member(body, "error");
  if (error && error->is_string()) return error->get<std::string>();
  if (error) return string_field(*error, "message");
  return {};
}

EtcdWatchMessage invalid(std::string error) {
  EtcdWatchMessage message;
  message.error = std::move(error);
  return message;
}

// Everything is checked before anything is returned: the view never takes half a batch.
EtcdWatchMessage read_events(const Json& events) {
  if (!events.is_array()) return invalid("events is not a list");
  EtcdWatchMessage message;
  message.kind = EtcdWatchMessage::Kind::kEvents;
  for (const Json& event : events) {
    std::string type = string_field(event, "type");
    const Json* kv = json_member(event, "kv");
    std::optional<std::string> key = kv ? bytes_field(*kv, "key") : std::nullopt;
    std::optional<std::string> value = kv ? bytes_field(*kv, "value") : std::nullopt;
    std::optional<uint64_t> revision = revision_field(kv, "mod_revision");
    if (!key || !value || !revision || *revision == 0 ||
        (type != "" && type != "PUT" && type != "DELETE")) {
      return invalid("an event that cannot be read");
    }
    message.events.push_back({type != "DELETE", std::move(*key), std::move(*value), *revision});
  }
  return message;
}

}  // namespace

std::optional<EtcdRange> parse_etcd_range(std::string_view body, std::string* error) {
  Json json = Json::parse(body, nullptr, false);
  std::optional<uint64_t> revision = revision_field(json_member(json, "header"), "revision");
  if (json.is_discarded() || !revision || *revision == 0) {
    *error = "not a range response";
    return std::nullopt;
  }
  EtcdRange range;
  range.revision = *revision;
  if (const Json* kvs = json_member(json, "kvs")) {
    if (!kvs->is_array()) {
      *error = "kvs is not a list";
      return std::nullopt;
    }
    for (const Json& kv : *kvs) {
      std::optional<std::string> key = bytes_field(kv, "key");
      std::optional<std::string> value = bytes_field(kv, "value");
      if (!key || !value) {
        *error = "a key or value is not base64";
        return std::nullopt;
      }
      std::optional<uint64_t> mod_revision = revision_field(&kv, "mod_revision");
      if (!mod_revision) {
        *error = "a mod_revision is not a number";
        return std::nullopt;
      }
      range.mod_revisions[*key] = *mod_revision;
      range.keys[std::move(*key)] = std::move(*value);
    }
  }
  return range;
}

EtcdWatchMessage parse_etcd_watch_message(std::string_view line) {
  using Kind = EtcdWatchMessage::Kind;
  Json json = Json::parse(line, nullptr, false);
  if (json.is_discarded()) return invalid("a line that is not JSON");
  EtcdWatchMessage message;
  if (json_member(json, "error")) {
    message.kind = Kind::kError;
    message.error = error_text(json);
    return message;
  }
  const Json* result = json_member(json, "result");
  if (!result || !result->is_object()) return invalid("a message without a result");
  if (bool_field(*result, "canceled")) {
    std::optional<uint64_t> compacted = revision_field(result, "compact_revision");
    if (compacted && *compacted > 0) {
      message.kind = Kind::kCompacted;
      message.revision = *compacted;
      message.has_revision = true;
    } else {
      message.kind = Kind::kCanceled;
      message.error = string_field(*result, "cancel_reason");
    }
    return message;
  }
  if (bool_field(*result, "created")) {
    message.kind = Kind::kCreated;
    return message;
  }
  const Json* events = json_member(*result, "events");
  if (!events) {
    // A progress notification: etcd sends them only to a watcher that has caught up.
    std::optional<uint64_t> revision = revision_field(json_member(*result, "header"), "revision");
    message.kind = Kind::kProgress;
    message.has_revision = revision.has_value();
    message.revision = revision.value_or(0);
    return message;
  }
  return read_events(*events);
}

std::string etcd_error_text(std::string_view body) {
  Json json = Json::parse(body, nullptr, false);
  return json.is_discarded() ? std::string() : error_text(json);
}

}  // namespace waygate::discovery
