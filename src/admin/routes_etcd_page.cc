#include "admin/routes_etcd_page.h"

#include <nlohmann/json.hpp>

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "admin/json_writer.h"
#include "discovery/base64.h"
#include "discovery/etcd_call.h"
#include "discovery/json_member.h"
#include "http/header_names.h"

namespace waygate::admin {
namespace {

using Json = nlohmann::json;
using discovery::json_member;

// An edit waits this long for each etcd endpoint.
constexpr uint64_t kEtcdTimeoutMs = 5000;

AdminResponse json_error(uint16_t status, std::string_view error) {
  JsonWriter out;
  out.begin_object().member("error", error).end_object();
  return AdminResponse::json(status, out.take() + "\n");
}

// What If-Match asks of the key: that it exists ("*"), or that its mod_revision is one of the
// tags. nullopt: no tag can match (a tag that is not a revision).
std::optional<Json> if_match_compare(std::string_view header, const std::string& key) {
  std::string key_b64 = discovery::base64_encode(key);
  std::optional<Json> compare;
  bool any = http::any_list_item(header, [&](std::string_view tag) {
    if (tag == "*") return true;
    // One revision at most: etcd's compares all hold or the transaction fails.
    if (!compare && tag.size() > 2 && tag.front() == '"' && tag.back() == '"') {
      std::string digits(tag.substr(1, tag.size() - 2));
      if (digits.find_first_not_of("0123456789") == std::string::npos) {
        compare = Json{
            {"key", key_b64}, {"target", "MOD"}, {"result", "EQUAL"}, {"mod_revision", digits}};
      }
    }
    return false;
  });
  if (any) {
    return Json{{"key", key_b64}, {"target", "VERSION"}, {"result", "GREATER"}, {"version", "0"}};
  }
  return compare;
}

// A GET's answer from etcd's range answer: the key's value, with its mod_revision as the ETag.
AdminResponse key_response(const Json& answer, const std::string& shown) {
  const Json* kvs = json_member(answer, "kvs");
  if (!kvs || !kvs->is_array() || kvs->empty()) return json_error(404, "no key " + shown);
  const Json* value = json_member(kvs->front(), "value");
  std::optional<std::string> text =
      value && value->is_string() ? discovery::base64_decode(value->get_ref<const std::string&>())
                                  : std::optional<std::string>("");
  if (!text) return json_error(502, "etcd answered a value that is not base64");
  AdminResponse response = AdminResponse::with_type(200, "application/yaml", std::move(*text));
  response.headers.emplace_back(
      "ETag", revision_tag(discovery::etcd_revision(&kvs->front(), "mod_revision")));
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

// A PUT's or DELETE's answer from etcd's transaction answer, applied at once (like the watch
// would apply it) when the transaction succeeded.
AdminResponse edit_response(const Json& answer, const std::string& entry, const std::string& shown,
                            std::optional<std::string> put_text, const std::string& if_match,
                            proxy::Reloader& reloader, const RecordOutcomes& record) {
  bool put = put_text.has_value();
  const Json* succeeded = json_member(answer, "succeeded");  // proto3 JSON leaves out false
  const Json* responses = json_member(answer, "responses");
  const Json* first =
      responses && responses->is_array() && !responses->empty() ? &responses->front() : nullptr;
  if (!succeeded || !succeeded->is_boolean() || !succeeded->get<bool>()) {
    const Json* range = first ? json_member(*first, "response_range") : nullptr;
    const Json* kvs = range ? json_member(*range, "kvs") : nullptr;
    std::string now = kvs && kvs->is_array() && !kvs->empty()
                          ? revision_tag(discovery::etcd_revision(&kvs->front(), "mod_revision"))
                          : "absent";
    return json_error(412,
                      "If-Match " + if_match + " does not match " + shown + " (now " + now + ")");
  }
  uint64_t revision = discovery::etcd_revision(json_member(answer, "header"), "revision");
  bool existed = false;
  if (put) {
    const Json* result = first ? json_member(*first, "response_put") : nullptr;
    existed = result && json_member(*result, "prev_kv");
  } else {
    const Json* result = first ? json_member(*first, "response_delete_range") : nullptr;
    existed = discovery::etcd_revision(result, "deleted") > 0;
    if (!existed) return json_error(404, "no key " + shown);
  }
  // Applied now, so the answer tells the outcome; the watch brings the same bytes later, and
  // they change nothing then.
  std::vector<proxy::Reloader::FileOutcome> outcomes =
      reloader.reload_routes_files({{entry, std::move(put_text), revision}}, false, "admin");
  record(outcomes);
  for (const proxy::Reloader::FileOutcome& outcome : outcomes) {
    if (outcome.result == proxy::Reloader::Result::kRefused) {
      return AdminResponse::text(400, outcome.message);
    }
  }
  JsonWriter out;
  out.begin_object().member("name", entry);
  if (put) {
    out.member("version", revision_tag(revision));
  } else {
    out.member("deleted", true);
  }
  out.member("result", outcomes.empty() ? "unchanged" : "applied").end_object();
  AdminResponse response = AdminResponse::json(put && !existed ? 201 : 200, out.take() + "\n");
  if (put) response.headers.emplace_back("ETag", revision_tag(revision));
  return response;
}

}  // namespace

std::string revision_tag(uint64_t revision) {
  char text[24];
  std::snprintf(text, sizeof(text), "\"%" PRIu64 "\"", revision);
  return text;
}

AdminResponse answer_routes_entry_in_etcd(const AdminRequest& request, std::string_view name,
                                          proxy::Reloader& reloader, const RecordOutcomes& record) {
  const routing::RouteEntries& entries = *reloader.route_entries();
  std::vector<std::string> endpoints = reloader.config().routes_prefix->endpoints;
  std::string entry(name);
  std::string key = entries.directory() + entry;
  std::string shown = entries.path_of(entry);
  std::string key_b64 = discovery::base64_encode(key);
  AdminReply reply = request.reply;
  if (request.method == "GET" || request.method == "HEAD") {
    discovery::call_etcd(reply.loop(), std::move(endpoints), "/v3/kv/range", Json{{"key", key_b64}},
                         kEtcdTimeoutMs,
                         [reply, shown](const Json* answer, const std::string& error) {
                           reply(answer ? key_response(*answer, shown) : json_error(502, error));
                         });
    return AdminResponse::later();
  }
  bool put = request.method == "PUT";
  std::optional<std::string> put_text;
  if (put) {
    put_text.emplace(request.body);
    std::vector<std::string> errors = entries.validate(entry, *put_text);
    if (!errors.empty()) {
      std::string text;
      for (const std::string& line : errors)
        text.append(line).append("\n");
      return AdminResponse::text(400, text);
    }
  }
  Json txn = Json::object();
  if (request.has_if_match) {
    std::optional<Json> compare = if_match_compare(request.if_match, key);
    if (!compare) {
      return json_error(412, "If-Match " + std::string(request.if_match) + " is no version of " +
                                 shown + " (a version is an etcd mod_revision, quoted)");
    }
    txn["compare"] = Json::array({*compare});
  }
  Json operation = put ? Json{{"request_put",
                               {{"key", key_b64},
                                {"value", discovery::base64_encode(*put_text)},
                                {"prev_kv", true}}}}
                       : Json{{"request_delete_range", {{"key", key_b64}}}};
  txn["success"] = Json::array({operation});
  // When the compare fails: the key as it is now, for the message.
  txn["failure"] = Json::array({Json{{"request_range", {{"key", key_b64}}}}});
  discovery::call_etcd(
      reply.loop(), std::move(endpoints), "/v3/kv/txn", txn, kEtcdTimeoutMs,
      [reply, entry, shown, put_text = std::move(put_text),
       if_match = std::string(request.if_match), &reloader,
       record](const Json* answer, const std::string& error) mutable {
        if (!answer) return reply(json_error(502, error));
        // A client that left (or a server that closed its admin port to stop) applies nothing:
        // the write is in etcd, and the watch, while it runs, brings it.
        if (!reply.wanted()) return;
        const routing::RouteEntries* now = reloader.route_entries();
        if (!now || now->backend() != routing::RouteEntries::Backend::kEtcd) {
          return reply(json_error(409,
                                  "written to etcd, but a reload took the routes_source "
                                  "etcd prefix away meanwhile: not applied"));
        }
        reply(
            edit_response(*answer, entry, shown, std::move(put_text), if_match, reloader, record));
      });
  return AdminResponse::later();
}

}  // namespace waygate::admin
