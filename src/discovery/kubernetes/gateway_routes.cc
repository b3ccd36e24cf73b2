#include "discovery/kubernetes/gateway_routes.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <tuple>

#include "discovery/json_member.h"
#include "discovery/kubernetes/service_backend.h"
#include "http/field_syntax.h"
#include "routing/cluster_loader.h"
#include "routing/route_loader.h"
#include "routing/yaml_reader.h"

namespace waygate::discovery::kubernetes {
namespace {

using Json = nlohmann::json;
using routing::quoted_value;

constexpr std::string_view kGroup = "gateway.networking.k8s.io";

// Why a rule (or a route) cannot be routed faithfully; thrown while reading it and caught where
// the rule is given up.
struct Unsupported {
  std::string reason;  // "spec.rules[0].filters[1].type 'RequestMirror' is not supported"
};

std::string string_at(const Json& object, std::initializer_list<const char*> path) {
  const Json* at = &object;
  for (const char* name : path) {
    at = json_member(*at, name);
    if (!at) return "";
  }
  return at->is_string() ? at->get<std::string>() : "";
}

std::string lower(std::string text) {
  for (char& c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// A list member: null when absent, or Unsupported when it is there but not a list.
const Json* list_at(const Json& object, const char* name, const std::string& where) {
  const Json* list = json_member(object, name);
  if (!list || list->is_null()) return nullptr;
  if (!list->is_array()) throw Unsupported{where + "." + name + " is not a list"};
  return list;
}

std::string at_index(const std::string& where, const char* name, size_t i) {
  return where + "." + name + "[" + std::to_string(i) + "]";
}

bool is_path_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("-._~!$&'()*+,;=:@/").find(c) != std::string_view::npos;
}

// An absolute path of RFC 3986 path characters and %XX escapes: what waygate matches against and
// writes into a request target or a Location.
bool is_plain_path(const std::string& path) {
  if (!path.starts_with('/')) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') {
      if (i + 2 >= path.size() || !std::isxdigit(static_cast<unsigned char>(path[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(path[i + 2]))) {
        return false;
      }
      i += 2;
    } else if (!is_path_char(path[i])) {
      return false;
    }
  }
  return true;
}

std::string plain_path(const Json& value, const std::string& where) {
  std::string path = value.is_string() ? value.get<std::string>() : "";
  if (!is_plain_path(path)) {
    throw Unsupported{where + " " + quoted_value(path) +
                      " is not an absolute path (letters, digits, -._~!$&'()*+,;=:@/ and %XX)"};
  }
  return path;
}

// A lower-cased host name, or "*.suffix" when `wildcard` allows it; nullopt for neither.
std::optional<std::string> read_hostname(const Json& value, bool wildcard) {
  if (!value.is_string()) return std::nullopt;
  std::string text = lower(value.get<std::string>());
  std::string_view rest = text;
  if (wildcard && rest.starts_with("*.")) rest.remove_prefix(2);
  if (!routing::is_dns_subdomain(rest)) return std::nullopt;
  return text;
}

// Whether every request `host` (a name or a wildcard) matches is matched by `wildcard` too: a name
// or wildcard under the wildcard's suffix with at least one label of its own; "*" covers all.
bool covers(const std::string& wildcard, const std::string& host) {
  if (wildcard == "*") return host != "*";
  if (!wildcard.starts_with("*.")) return false;
  std::string_view suffix = std::string_view(wildcard).substr(1);  // ".example.com"
  return host.size() > suffix.size() && host.ends_with(suffix) && host != wildcard;
}

// The hostname a route's and a listener's hostnames both match, as the Gateway API intersects
// them ("*": none given); nullopt when they share none.
std::optional<std::string> intersect(const std::string& route, const std::string& listener) {
  if (listener == "*") return route;
  if (route == "*" || route == listener) return listener;
  if (covers(listener, route)) return route;
  if (covers(route, listener)) return listener;
  return std::nullopt;
}

// A Gateway listener an HTTPRoute may attach to.
struct Listener {
  std::string name;
  std::string hostname = "*";
  int64_t port = 0;
  bool takes_http_routes = true;  // an HTTP or HTTPS listener that allows the HTTPRoute kind
  std::string from = "Same";      // allowedRoutes.namespaces.from: Same | All | Selector
};

struct Gateway {
  std::string namespace_name;
  std::vector<Listener> listeners;
};

bool allows_http_routes(const Json& listener) {
  std::string protocol = string_at(listener, {"protocol"});
  if (protocol != "HTTP" && protocol != "HTTPS") return false;
  const Json* allowed = json_member(listener, "allowedRoutes");
  const Json* kinds = allowed ? json_member(*allowed, "kinds") : nullptr;
  if (!kinds || !kinds->is_array() || kinds->empty()) return true;
  return std::any_of(kinds->begin(), kinds->end(), [](const Json& kind) {
    std::string group = string_at(kind, {"group"});
    return (group.empty() || group == kGroup) && string_at(kind, {"kind"}) == "HTTPRoute";
  });
}

std::map<std::string, Gateway> read_gateways(const GatewayObjects& objects,
                                             const std::string& gateway_class) {
  std::map<std::string, Gateway> gateways;
  if (!objects.classes.count(gateway_class)) return gateways;
  for (const auto& [key, object] : objects.gateways) {
    if (string_at(object, {"spec", "gatewayClassName"}) != gateway_class) continue;
    Gateway& gateway = gateways[key];
    gateway.namespace_name = string_at(object, {"metadata", "namespace"});
    const Json* spec = json_member(object, "spec");
    const Json* listeners = spec ? json_member(*spec, "listeners") : nullptr;
    if (!listeners || !listeners->is_array()) continue;
    for (const Json& item : *listeners) {
      Listener listener;
      listener.name = string_at(item, {"name"});
      if (const Json* hostname = json_member(item, "hostname"); hostname && !hostname->is_null()) {
        std::optional<std::string> name = read_hostname(*hostname, true);
        if (!name) continue;  // the API server validates it; a listener of no host is no listener
        listener.hostname = *name;
      }
      const Json* port = json_member(item, "port");
      listener.port = port && port->is_number_integer() ? port->get<int64_t>() : 0;
      listener.takes_http_routes = allows_http_routes(item);
      std::string from = string_at(item, {"allowedRoutes", "namespaces", "from"});
      if (!from.empty()) listener.from = from;
      gateway.listeners.push_back(std::move(listener));
    }
  }
  return gateways;
}

// One match of a rule, made into one or two path entries, with what orders it among the others.
struct Claim {
  std::vector<Json> entries;
  int path_rank = 2;  // 0 Exact, 1 RegularExpression, 2 PathPrefix
  size_t path_length = 0;
  bool method = false;
  size_t headers = 0;
  size_t query = 0;
  std::string created;  // of its HTTPRoute, RFC 3339 UTC: its text sorts as its time
  std::string route;    // "shop/web"
  size_t rule = 0;
  size_t match = 0;
};

bool before(const Claim& a, const Claim& b) {
  // Negated where more is first.
  return std::forward_as_tuple(a.path_rank, b.path_length, b.method, b.headers, b.query, a.created,
                               a.route, a.rule, a.match) <
         std::forward_as_tuple(b.path_rank, a.path_length, a.method, a.headers, a.query, b.created,
                               b.route, b.rule, b.match);
}

// A rule's path-independent action, read once for all its matches.
struct Action {
  Json fields = Json::object();  // cluster/clusters/respond/redirect, header edits, rewrite host
  // ReplacePrefixMatch of a URLRewrite or a RequestRedirect: the key ("rewrite" or "redirect")
  // whose prefix it sets, and the replacement.
  const char* prefix_key = nullptr;
  std::string prefix;
  std::string prefix_where;
};

class RuleReader {
 public:
  RuleReader(const GatewayObjects& objects, std::string namespace_name,
             std::map<std::string, ServiceBackend>& backends)
      : objects_(objects), namespace_(std::move(namespace_name)), backends_(backends) {}

  Action read_action(const Json& rule, const std::string& where) {
    if (!rule.is_object()) throw Unsupported{where + " is not an object"};
    // What a rule may say besides (timeouts, sessionPersistence, retry) changes how it is served:
    // left out rather than served otherwise.
    for (const auto& [key, value] : rule.items()) {
      if (key != "matches" && key != "filters" && key != "backendRefs" && key != "name" &&
          !value.is_null()) {
        throw Unsupported{std::string(where).append(".").append(key).append(" is not supported")};
      }
    }
    Action action;
    Json& fields = action.fields;
    std::set<std::string> types;
    bool redirects = false;
    const Json* filters = list_at(rule, "filters", where);
    for (size_t i = 0; filters && i < filters->size(); ++i) {
      const Json& filter = (*filters)[i];
      std::string at = at_index(where, "filters", i);
      std::string type = string_at(filter, {"type"});
      if (!types.insert(type).second) {
        throw Unsupported{at + ".type " + quoted_value(type) + " is given twice"};
      }
      if (type == "RequestHeaderModifier") {
        fields["request_headers"] = header_edits(filter, "requestHeaderModifier", at);
      } else if (type == "ResponseHeaderModifier") {
        fields["response_headers"] = header_edits(filter, "responseHeaderModifier", at);
      } else if (type == "RequestRedirect") {
        redirects = true;
        fields["redirect"] = redirect(filter, at, action);
      } else if (type == "URLRewrite") {
        url_rewrite(filter, at, action);
      } else {
        throw Unsupported{at + ".type " + quoted_value(type) + " is not supported"};
      }
    }
    if (redirects) {
      // A redirect sends nothing upstream: its request header edits have nothing to apply to.
      fields.erase("request_headers");
      if (fields.contains("response_headers")) {
        throw Unsupported{where + ": ResponseHeaderModifier on a RequestRedirect is not supported"};
      }
      if (fields.contains("rewrite")) {
        throw Unsupported{where + ": URLRewrite and RequestRedirect together are not allowed"};
      }
      return action;
    }
    backends(rule, where, fields);
    // A rule that answers 500 itself rewrites nothing.
    if (fields.contains("respond")) action.prefix_key = nullptr;
    return action;
  }

  // The matchers of one match, and what orders it.
  Json read_match(const Json& match, const std::string& where, Claim& claim) {
    Json entry = Json::object();
    const Json* path = json_member(match, "path");
    std::string type = path ? string_at(*path, {"type"}) : "";
    if (type.empty()) type = "PathPrefix";
    const Json* value = path ? json_member(*path, "value") : nullptr;
    if (value && value->is_null()) value = nullptr;
    // Exact and PathPrefix without a value are "/", the CRD's default.
    std::string text = "/";
    if (type == "Exact") {
      if (value) text = plain_path(*value, where + ".path.value");
      entry["exact"] = text;
      claim.path_rank = 0;
    } else if (type == "PathPrefix") {
      if (value) text = plain_path(*value, where + ".path.value");
      // By path elements, a trailing '/' aside: /foo/ matches /foo as /foo does.
      while (text.size() > 1 && text.ends_with('/'))
        text.pop_back();
      entry["prefix"] = text;
      entry["segments"] = true;
      claim.path_rank = 2;
    } else if (type == "RegularExpression") {
      text = value && value->is_string() ? value->get<std::string>() : "";
      if (!RE2(text, RE2::Quiet).ok()) {
        throw Unsupported{where + ".path.value " + quoted_value(text) + " is not an RE2 regex"};
      }
      entry["regex"] = text;
      claim.path_rank = 1;
    } else {
      throw Unsupported{where + ".path.type " + quoted_value(type) + " is not supported"};
    }
    claim.path_length = text.size();
    if (const Json* headers = list_at(match, "headers", where)) {
      entry["headers"] = value_matchers(*headers, where + ".headers", true);
      claim.headers = entry["headers"].size();
    }
    if (const Json* query = list_at(match, "queryParams", where)) {
      entry["query"] = value_matchers(*query, where + ".queryParams", false);
      claim.query = entry["query"].size();
    }
    if (const Json* method = json_member(match, "method"); method && !method->is_null()) {
      std::string name = method->is_string() ? method->get<std::string>() : "";
      if (routing::method_id(name) < 0) {
        throw Unsupported{where + ".method " + quoted_value(name) + " is not a method"};
      }
      entry["methods"] = {name};
      claim.method = true;
    }
    return entry;
  }

 private:
  // headers (case-insensitive names) or queryParams: Exact and RegularExpression (RE2, the whole
  // value). A name given twice: the first counts, as the API says.
  static Json value_matchers(const Json& list, const std::string& where, bool headers) {
    Json matchers = Json::array();
    std::set<std::string> seen;
    for (size_t i = 0; i < list.size(); ++i) {
      std::string at = where + "[" + std::to_string(i) + "]";
      std::string name = string_at(list[i], {"name"});
      std::string value = string_at(list[i], {"value"});
      std::string type = string_at(list[i], {"type"});
      if (headers) name = lower(name);
      if (name.empty() || (headers && !http::is_token(name))) {
        throw Unsupported{at + ".name " + quoted_value(name) + " is not a token"};
      }
      if (!seen.insert(name).second) continue;
      if (type.empty() || type == "Exact") {
        matchers.push_back({{"name", name}, {"exact", value}});
      } else if (type == "RegularExpression") {
        if (!RE2(value, RE2::Quiet).ok()) {
          throw Unsupported{at + ".value " + quoted_value(value) + " is not an RE2 regex"};
        }
        matchers.push_back({{"name", name}, {"regex", value}});
      } else {
        throw Unsupported{at + ".type " + quoted_value(type) + " is not supported"};
      }
    }
    return matchers;
  }

  // set (replaces: the header removed, then added), add (another field) and remove.
  static Json header_edits(const Json& filter, const char* member, const std::string& where) {
    const Json* modifier = json_member(filter, member);
    std::string at = where + "." + member;
    if (!modifier || !modifier->is_object()) throw Unsupported{at + " is missing"};
    Json add = Json::object();
    Json remove = Json::array();
    std::set<std::string> named;
    auto check_name = [&](const std::string& name, const std::string& field, bool adding) {
      if (!http::is_token(name)) {
        throw Unsupported{field + " " + quoted_value(name) + " is not a header name"};
      }
      if (adding ? routing::managed_on_add(name) : routing::managed_on_remove(name)) {
        throw Unsupported{field + " " + quoted_value(name) + " is managed by waygate"};
      }
      if (!named.insert(lower(name)).second) {
        throw Unsupported{field + " " + quoted_value(name) + " is edited twice"};
      }
    };
    for (const char* kind : {"set", "add"}) {
      const Json* list = list_at(*modifier, kind, at);
      for (size_t i = 0; list && i < list->size(); ++i) {
        std::string field = at_index(at, kind, i);
        std::string name = string_at((*list)[i], {"name"});
        std::string value = string_at((*list)[i], {"value"});
        check_name(name, field + ".name", true);
        if (!http::is_field_value(value)) {
          throw Unsupported{field + ".value has a control byte"};
        }
        if (std::string_view(kind) == "set") {
          if (routing::managed_on_remove(name)) {
            throw Unsupported{field + ".name " + quoted_value(name) + " is managed by waygate"};
          }
          remove.push_back(name);
        }
        add[name] = value;
      }
    }
    if (const Json* list = list_at(*modifier, "remove", at)) {
      for (size_t i = 0; i < list->size(); ++i) {
        const Json& name = (*list)[i];
        std::string text = name.is_string() ? name.get<std::string>() : "";
        check_name(text, at_index(at, "remove", i), false);
        remove.push_back(text);
      }
    }
    Json edits = Json::object();
    if (!add.empty()) edits["add"] = std::move(add);
    if (!remove.empty()) edits["remove"] = std::move(remove);
    return edits;
  }

  // Reads a path modifier: ReplaceFullPath into `full_key`, ReplacePrefixMatch into `action`.
  static void path_modifier(const Json& path, const std::string& where, Json& fields,
                            const char* full_key, const char* prefix_key, Action& action) {
    std::string type = string_at(path, {"type"});
    if (type == "ReplaceFullPath" && full_key) {
      const Json* value = json_member(path, "replaceFullPath");
      fields[full_key] = plain_path(value ? *value : Json(), where + ".replaceFullPath");
    } else if (type == "ReplacePrefixMatch") {
      const Json* value = json_member(path, "replacePrefixMatch");
      action.prefix_key = prefix_key;
      action.prefix = plain_path(value ? *value : Json(), where + ".replacePrefixMatch");
      action.prefix_where = where;
    } else {
      throw Unsupported{where + ".type " + quoted_value(type) + " is not supported"};
    }
  }

  static Json redirect(const Json& filter, const std::string& where, Action& action) {
    const Json* config = json_member(filter, "requestRedirect");
    std::string at = where + ".requestRedirect";
    if (!config || !config->is_object()) throw Unsupported{at + " is missing"};
    Json redirect = Json::object();
    std::string scheme = string_at(*config, {"scheme"});
    if (!scheme.empty()) {
      if (scheme != "http" && scheme != "https") {
        throw Unsupported{at + ".scheme " + quoted_value(scheme) + " is not http or https"};
      }
      redirect["scheme"] = scheme;
    }
    if (const Json* hostname = json_member(*config, "hostname"); hostname && !hostname->is_null()) {
      std::optional<std::string> name = read_hostname(*hostname, false);
      if (!name) throw Unsupported{at + ".hostname is not a host name"};
      redirect["host"] = *name;
    }
    const Json* port = json_member(*config, "port");
    if (port && port->is_number_integer() && *port >= 1 && *port <= 65535) {
      redirect["port"] = port->get<unsigned>();
    } else if (port && !port->is_null()) {
      throw Unsupported{at + ".port is not a port number"};
    } else if (!scheme.empty() && !redirect.contains("host")) {
      // Without a port, a new scheme's own port, as the API says: not the one the request's host
      // carries, which waygate would keep.
      redirect["port"] = scheme == "https" ? 443 : 80;
    }
    const Json* code = json_member(*config, "statusCode");
    if (code && code->is_number_integer()) {
      int status = code->get<int>();
      if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) {
        throw Unsupported{at + ".statusCode " + std::to_string(status) + " is not supported"};
      }
      redirect["code"] = status;
    } else {
      redirect["code"] = 302;  // the API's default
    }
    if (const Json* path = json_member(*config, "path"); path && !path->is_null()) {
      path_modifier(*path, at + ".path", redirect, "path", "redirect", action);
    }
    return redirect;
  }

  static void url_rewrite(const Json& filter, const std::string& where, Action& action) {
    const Json* config = json_member(filter, "urlRewrite");
    std::string at = where + ".urlRewrite";
    if (!config || !config->is_object()) throw Unsupported{at + " is missing"};
    Json rewrite = Json::object();
    if (const Json* hostname = json_member(*config, "hostname"); hostname && !hostname->is_null()) {
      std::optional<std::string> name = read_hostname(*hostname, false);
      if (!name) throw Unsupported{at + ".hostname is not a host name"};
      rewrite["host"] = *name;
    }
    if (const Json* path = json_member(*config, "path"); path && !path->is_null()) {
      // waygate rewrites a matched prefix only: a whole path it cannot replace.
      path_modifier(*path, at + ".path", rewrite, nullptr, "rewrite", action);
    }
    if (!rewrite.empty()) action.fields["rewrite"] = std::move(rewrite);
  }

  // backendRefs: Services of the route's namespace by port, split by weight. None with a weight:
  // 500, as the API says for a rule with no backend to send to.
  void backends(const Json& rule, const std::string& where, Json& fields) {
    Json clusters = Json::array();
    const Json* refs = list_at(rule, "backendRefs", where);
    for (size_t i = 0; refs && i < refs->size(); ++i) {
      const Json& ref = (*refs)[i];
      std::string at = at_index(where, "backendRefs", i);
      std::string group = string_at(ref, {"group"});
      std::string kind = string_at(ref, {"kind"});
      if (!group.empty() || (!kind.empty() && kind != "Service")) {
        std::string named = group.empty() ? kind : std::string(group).append("/").append(kind);
        throw Unsupported{std::string(at)
                              .append(": only Service backends are supported (not ")
                              .append(quoted_value(named))
                              .append(")")};
      }
      std::string ref_namespace = string_at(ref, {"namespace"});
      if (!ref_namespace.empty() && ref_namespace != namespace_) {
        throw Unsupported{at + ".namespace " + quoted_value(ref_namespace) +
                          ": Services of another namespace are not supported (ReferenceGrants "
                          "are not read)"};
      }
      if (const Json* filters = json_member(ref, "filters");
          filters && filters->is_array() && !filters->empty()) {
        throw Unsupported{at + ".filters are not supported"};
      }
      std::string name = string_at(ref, {"name"});
      if (!routing::is_dns_label(name)) {
        throw Unsupported{at + ".name " + quoted_value(name) + " is not a Service name"};
      }
      const Json* port = json_member(ref, "port");
      if (!port || !port->is_number_integer() || *port < 1 || *port > 65535) {
        throw Unsupported{at + ".port needs a number (1-65535)"};
      }
      const Json* weight = json_member(ref, "weight");
      int64_t share = 1;
      if (weight && !weight->is_null()) {
        if (!weight->is_number_integer() || *weight < 0 || *weight > 1'000'000) {
          throw Unsupported{at + ".weight is not a number from 0 to 1000000"};
        }
        share = weight->get<int64_t>();
      }
      if (share == 0) continue;
      ServiceBackend backend =
          service_backend(objects_.services, namespace_, name, port->get<uint16_t>());
      clusters.push_back({{"name", backend.cluster}, {"weight", share}});
      backends_.try_emplace(backend.cluster, std::move(backend));
    }
    if (clusters.empty()) {
      fields["respond"] = {{"status", 500}};
      fields.erase("request_headers");
      fields.erase("response_headers");
      fields.erase("rewrite");
    } else if (clusters.size() == 1) {
      fields["cluster"] = clusters[0]["name"];
    } else {
      fields["clusters"] = std::move(clusters);
    }
  }

  const GatewayObjects& objects_;
  std::string namespace_;
  std::map<std::string, ServiceBackend>& backends_;
};

// The path entries of one match: its matchers and the rule's action. A ReplacePrefixMatch
// replaces the matched path elements, so that /foo/bar with prefix /foo and replacement / is /bar:
// waygate's rewrite replaces the matched characters, so a replacement ending in '/' is given /foo/
// (the path below it) and /foo (the path itself) apart.
std::vector<Json> path_entries(const Json& matchers, const Action& action, const std::string& name,
                               const std::string& where) {
  Json entry = matchers;
  entry["name"] = name;
  for (const auto& [key, value] : action.fields.items())
    entry[key] = value;
  if (!action.prefix_key) return {entry};
  if (!entry.contains("prefix")) {
    throw Unsupported{action.prefix_where + ": ReplacePrefixMatch needs a PathPrefix match (" +
                      where + ")"};
  }
  std::string prefix = entry["prefix"].get<std::string>();
  Json& target = entry[action.prefix_key];
  target["prefix"] = action.prefix;
  if (!action.prefix.ends_with('/')) {
    if (prefix == "/") {
      throw Unsupported{action.prefix_where +
                        ": a replacePrefixMatch that does not end in '/' "
                        "for the prefix / is not supported (" +
                        where + ")"};
    }
    return {entry};
  }
  if (prefix == "/") return {entry};
  Json below = entry;
  below["prefix"] = prefix + "/";
  below["segments"] = false;
  return {below, entry};
}

struct Route {
  std::string key;
  std::string created;
  std::set<std::string> hosts;
};

// Whether every backendRef of the route's rules resolves: a Service of the route's namespace
// that exists. The first that does not gives the reason and the message.
void resolve_backend_refs(const Json& spec, const std::string& namespace_name,
                          const std::map<std::string, Json>& services, ParentStatus& status) {
  auto fail = [&status](const char* reason, std::string message) {
    status.resolved = false;
    status.resolved_reason = reason;
    status.resolved_message = std::move(message);
  };
  const Json* rules = json_member(spec, "rules");
  for (size_t r = 0; rules && rules->is_array() && r < rules->size(); ++r) {
    const Json* refs = json_member((*rules)[r], "backendRefs");
    for (size_t i = 0; refs && refs->is_array() && i < refs->size(); ++i) {
      const Json& ref = (*refs)[i];
      std::string at =
          "spec.rules[" + std::to_string(r) + "].backendRefs[" + std::to_string(i) + "]";
      std::string group = string_at(ref, {"group"});
      std::string kind = string_at(ref, {"kind"});
      if (!group.empty() || (!kind.empty() && kind != "Service")) {
        fail("InvalidKind", at + ": only Services are supported");
        return;
      }
      std::string ref_namespace = string_at(ref, {"namespace"});
      if (!ref_namespace.empty() && ref_namespace != namespace_name) {
        fail("RefNotPermitted", at + ": a Service of another namespace (ReferenceGrants are not "
                                     "read)");
        return;
      }
      std::string service = namespace_name + "/" + string_at(ref, {"name"});
      if (!services.count(service)) {
        fail("BackendNotFound", at.append(": Service ").append(service).append(" not found"));
        return;
      }
    }
  }
}

}  // namespace

GatewayRoutes gateway_routes(const GatewayObjects& objects, const std::string& gateway_class,
                             const std::set<std::string>& reserved_hosts) {
  GatewayRoutes out;
  std::map<std::string, Gateway> gateways = read_gateways(objects, gateway_class);
  if (auto found = objects.classes.find(gateway_class); found != objects.classes.end()) {
    out.controller_name = string_at(found->second, {"spec", "controllerName"});
  }
  std::map<std::string, ServiceBackend> backends;
  std::map<std::string, std::vector<Claim>> by_host;
  auto problem = [&out](const std::string& route, const std::string& text) {
    out.problems.push_back("HTTPRoute " + route + ": " + text);
  };

  for (const auto& [key, object] : objects.http_routes) {
    Route route{key, string_at(object, {"metadata", "creationTimestamp"}), {}};
    std::string namespace_name = string_at(object, {"metadata", "namespace"});
    const Json* spec = json_member(object, "spec");
    if (!spec) continue;
    // The hostnames the route names ("*": none), made sure of before its parents are looked at.
    std::vector<std::string> hostnames;
    std::optional<std::string> bad_hostname;
    if (const Json* names = json_member(*spec, "hostnames"); names && names->is_array()) {
      for (const Json& name : *names) {
        std::optional<std::string> host = read_hostname(name, true);
        if (!host) bad_hostname = name.is_string() ? name.get<std::string>() : "";
        if (host) hostnames.push_back(*host);
      }
    }
    if (hostnames.empty()) hostnames.push_back("*");
    bool ours = false;
    std::vector<ParentStatus> statuses;
    const Json* parents = json_member(*spec, "parentRefs");
    for (size_t i = 0; parents && parents->is_array() && i < parents->size(); ++i) {
      const Json& parent = (*parents)[i];
      std::string group = string_at(parent, {"group"});
      std::string kind = string_at(parent, {"kind"});
      if ((!group.empty() && group != kGroup) || (!kind.empty() && kind != "Gateway")) continue;
      std::string gateway_namespace = string_at(parent, {"namespace"});
      if (gateway_namespace.empty()) gateway_namespace = namespace_name;
      std::string gateway_key = gateway_namespace + "/" + string_at(parent, {"name"});
      auto gateway = gateways.find(gateway_key);
      if (gateway == gateways.end()) continue;
      ours = true;
      ParentStatus& status = statuses.emplace_back();
      status.parent_ref = parent;
      std::string section = string_at(parent, {"sectionName"});
      const Json* port = json_member(parent, "port");
      std::set<std::string> attached;  // the hosts this parent gives
      bool matched_listener = false;
      for (const Listener& listener : gateway->second.listeners) {
        if (!section.empty() && listener.name != section) continue;
        if (port && port->is_number_integer() && *port != listener.port) continue;
        if (!listener.takes_http_routes) continue;
        if (listener.from == "Same" && gateway->second.namespace_name != namespace_name) continue;
        if (listener.from != "Same" && listener.from != "All") {
          problem(key, "listener " + listener.name + " of Gateway " + gateway_key +
                           " allows routes from namespaces " + quoted_value(listener.from) +
                           ", which is not supported; not attached there");
          continue;
        }
        matched_listener = true;
        for (const std::string& hostname : hostnames) {
          if (auto host = intersect(hostname, listener.hostname)) attached.insert(*host);
        }
      }
      std::string parent_at = "spec.parentRefs[" + std::to_string(i) + "]";
      if (!matched_listener) {
        status.accepted = false;
        status.accepted_reason = "NotAllowedByListeners";
        status.accepted_message = "no listener of Gateway " + gateway_key +
                                  " takes it (sectionName, port, protocol or allowedRoutes)";
        problem(
            key,
            parent_at.append(": ").append(status.accepted_message).append("; not attached there"));
      } else if (attached.empty()) {
        status.accepted = false;
        status.accepted_reason = "NoMatchingListenerHostname";
        status.accepted_message = "none of its hostnames is a listener's of Gateway " + gateway_key;
        problem(
            key,
            parent_at.append(": ").append(status.accepted_message).append("; not attached there"));
      } else {
        status.accepted_message = "attached to Gateway " + gateway_key;
      }
      route.hosts.insert(attached.begin(), attached.end());
    }
    if (!ours) continue;
    std::vector<ParentStatus>& route_statuses = out.statuses[key] = std::move(statuses);
    for (ParentStatus& status : route_statuses)
      resolve_backend_refs(*spec, namespace_name, objects.services, status);
    if (bad_hostname) {
      std::string why =
          "spec.hostnames " + quoted_value(*bad_hostname) + " is not a host name (or *.suffix)";
      for (ParentStatus& status : route_statuses) {
        status.accepted = false;
        status.accepted_reason = "UnsupportedValue";
        status.accepted_message = why;
      }
      problem(key, why + "; the HTTPRoute is skipped");
      continue;
    }
    if (route.hosts.empty()) continue;

    RuleReader reader(objects, namespace_name, backends);
    const Json* rules = json_member(*spec, "rules");
    std::vector<Claim> claims;
    for (size_t r = 0; rules && rules->is_array() && r < rules->size(); ++r) {
      const Json& rule = (*rules)[r];
      std::string where = "spec.rules[" + std::to_string(r) + "]";
      std::map<std::string, ServiceBackend> before_rule = backends;
      try {
        Action action = reader.read_action(rule, where);
        const Json* matches = list_at(rule, "matches", where);
        Json defaults = Json::array({Json::object()});
        if (!matches || matches->empty()) matches = &defaults;
        std::vector<Claim> rule_claims;
        for (size_t m = 0; m < matches->size(); ++m) {
          std::string at = at_index(where, "matches", m);
          Claim claim;
          Json matchers = reader.read_match((*matches)[m], at, claim);
          claim.entries = path_entries(matchers, action, "httproute " + key, at);
          claim.created = route.created;
          claim.route = key;
          claim.rule = r;
          claim.match = m;
          rule_claims.push_back(std::move(claim));
        }
        claims.insert(claims.end(), rule_claims.begin(), rule_claims.end());
      } catch (const Unsupported& unsupported) {
        backends = std::move(before_rule);  // its Services are not routed to
        problem(key, unsupported.reason + "; the rule is skipped");
      }
    }
    for (const std::string& host : route.hosts) {
      if (reserved_hosts.count(host)) {
        problem(key, "host " + host +
                         " is routed by the config file or an Ingress; its rules "
                         "there are skipped");
        continue;
      }
      std::vector<Claim>& host_claims = by_host[host];
      host_claims.insert(host_claims.end(), claims.begin(), claims.end());
    }
  }

  // A host takes its own rules first, then those of every wildcard that covers it, the most
  // specific first, then those of every host: the Gateway API matches a request by the most
  // specific hostname that has a rule for it, not by the most specific hostname alone.
  std::vector<std::string> wildcards;
  for (auto& [host, claims] : by_host) {
    std::stable_sort(claims.begin(), claims.end(), before);
    if (host.starts_with('*')) wildcards.push_back(host);
  }
  std::stable_sort(wildcards.begin(), wildcards.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  Json routes = Json::array();
  std::set<std::string> used_clusters;
  for (const auto& [host, claims] : by_host) {
    if (claims.empty()) continue;
    Json paths = Json::array();
    auto add = [&](const std::vector<Claim>& from) {
      for (const Claim& claim : from) {
        for (const Json& entry : claim.entries) {
          paths.push_back(entry);
          if (entry.contains("cluster")) used_clusters.insert(entry["cluster"].get<std::string>());
          for (const Json& weighted : entry.value("clusters", Json::array()))
            used_clusters.insert(weighted["name"].get<std::string>());
        }
      }
    };
    add(claims);
    for (const std::string& wildcard : wildcards) {
      if (covers(wildcard, host)) add(by_host.at(wildcard));
    }
    routes.push_back({{"hosts", {host}}, {"paths", std::move(paths)}});
    out.hosts.insert(host);
  }
  if (routes.empty()) return out;
  Json clusters = Json::array();
  for (const std::string& name : used_clusters) {
    clusters.push_back({{"name", name}, {"discovery", backends.at(name).discovery}});
  }
  Json document = {{"routes", std::move(routes)}, {"clusters", std::move(clusters)}};
  out.document = document.dump(1);
  return out;
}

}  // namespace waygate::discovery::kubernetes
