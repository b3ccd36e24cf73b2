#include "discovery/kubernetes/httproute_status.h"

#include <ctime>

#include "discovery/json_member.h"

namespace waygate::discovery::kubernetes {
namespace {

using Json = nlohmann::json;

std::string rfc3339_now() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return {text, length};
}

// status.parents, or an empty list.
Json parents_of(const Json& route) {
  const Json* status = json_member(route, "status");
  const Json* parents = status ? json_member(*status, "parents") : nullptr;
  return parents && parents->is_array() ? *parents : Json::array();
}

std::string text_at(const Json& object, const char* name) {
  const Json* value = json_member(object, name);
  return value && value->is_string() ? value->get<std::string>() : "";
}

Json condition(const char* type, bool status, const std::string& reason, const std::string& message,
               const Json& generation, const Json& before, const std::string& now) {
  std::string value = status ? "True" : "False";
  // The time of the last change of status: kept from the condition written before while the
  // status is the same.
  std::string since = now;
  for (const Json& old : before.is_array() ? before : Json::array()) {
    if (text_at(old, "type") == type && text_at(old, "status") == value &&
        !text_at(old, "lastTransitionTime").empty()) {
      since = text_at(old, "lastTransitionTime");
    }
  }
  Json out = {{"type", type},
              {"status", value},
              {"reason", reason},
              {"message", message},
              {"lastTransitionTime", since}};
  if (generation.is_number_integer()) out["observedGeneration"] = generation;
  return out;
}

}  // namespace

Json route_parents(const Json& route, const std::string& controller_name,
                   const std::vector<ParentStatus>& statuses, const std::string& now) {
  Json before = parents_of(route);
  const Json* metadata = json_member(route, "metadata");
  const Json* generation = metadata ? json_member(*metadata, "generation") : nullptr;
  Json parents = Json::array();
  for (const Json& entry : before) {
    if (text_at(entry, "controllerName") != controller_name) parents.push_back(entry);
  }
  for (const ParentStatus& status : statuses) {
    Json old_conditions;
    for (const Json& entry : before) {
      const Json* ref = json_member(entry, "parentRef");
      if (text_at(entry, "controllerName") == controller_name && ref && *ref == status.parent_ref) {
        if (const Json* conditions = json_member(entry, "conditions")) old_conditions = *conditions;
      }
    }
    Json conditions = Json::array();
    const Json& observed = generation ? *generation : Json();
    conditions.push_back(condition("Accepted", status.accepted, status.accepted_reason,
                                   status.accepted_message, observed, old_conditions, now));
    conditions.push_back(condition("ResolvedRefs", status.resolved, status.resolved_reason,
                                   status.resolved_message, observed, old_conditions, now));
    parents.push_back({{"parentRef", status.parent_ref},
                       {"controllerName", controller_name},
                       {"conditions", std::move(conditions)}});
  }
  return parents;
}

HttpRouteStatusWriter::HttpRouteStatusWriter(uv_loop_t* loop, std::shared_ptr<const ApiClient> api,
                                             std::string describe)
    : patcher_(loop, std::move(api), std::move(describe), "HTTPRoute") {}

void HttpRouteStatusWriter::update(const GatewayRoutes& routes,
                                   const std::map<std::string, Json>& http_routes) {
  if (routes.controller_name.empty()) return;  // no GatewayClass: nothing is said
  static const std::vector<ParentStatus> kNone;
  std::string now = rfc3339_now();
  for (const auto& [key, route] : http_routes) {
    auto statuses = routes.statuses.find(key);
    Json parents = route_parents(route, routes.controller_name,
                                 statuses == routes.statuses.end() ? kNone : statuses->second, now);
    if (parents == parents_of(route)) continue;
    const Json* metadata = json_member(route, "metadata");
    std::string version = metadata ? text_at(*metadata, "resourceVersion") : "";
    size_t slash = key.find('/');
    std::string target = "/apis/gateway.networking.k8s.io/v1/namespaces/" + key.substr(0, slash) +
                         "/httproutes/" + key.substr(slash + 1) + "/status";
    // The whole list replaces the one read: the resourceVersion makes sure it is that one.
    Json patch = {{"status", {{"parents", std::move(parents)}}}};
    if (!version.empty()) patch["metadata"] = {{"resourceVersion", version}};
    patcher_.patch(key, std::move(target), patch.dump());
  }
  patcher_.retain([&](const std::string& key) { return http_routes.count(key) > 0; });
}

}  // namespace waygate::discovery::kubernetes
