#include "discovery/kubernetes/ingress_routes.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <string_view>

#include "discovery/json_member.h"
#include "discovery/kubernetes/ingress_annotations.h"
#include "routing/cluster_loader.h"
#include "routing/yaml_reader.h"

namespace waygate::discovery::kubernetes {
namespace {

using Json = nlohmann::json;

constexpr const char* kDefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class";
// Before spec.ingressClassName (Kubernetes 1.18) the class was this annotation; still honoured.
constexpr const char* kLegacyClassAnnotation = "kubernetes.io/ingress.class";

std::string string_at(const Json& object, std::initializer_list<const char*> path) {
  const Json* at = &object;
  for (const char* name : path) {
    at = json_member(*at, name);
    if (!at) return "";
  }
  return at->is_string() ? at->get<std::string>() : "";
}

// The cluster an Ingress backend sends to: one per Service and port, shared by every Ingress that
// names them. (The NOLINT: nlohmann::json's destructor flattens deep trees into a vector, which
// clang-tidy counts as a throw from the implicit destructor; bad_alloc there ends the process
// anyway.)
struct Backend {        // NOLINT(bugprone-exception-escape)
  std::string cluster;  // "shop/web:80", "shop/web:80 hashed on header x-user"
  Json discovery;       // { kubernetes: { service, port } }
  Json hash_on;         // null, or the cluster's hash_on (lb ring_hash)
};

enum class Match : uint8_t { kExact, kPrefix };

struct Claim {
  std::string host;  // "a.example.com", "*.example.com" or "*"
  Match match = Match::kPrefix;
  std::string path;  // a Prefix without its trailing '/'
  const Backend* backend = nullptr;
  std::string ingress;  // "shop/web", the route's name in logs
  std::shared_ptr<const IngressAnnotations> options;
  bool fallback = false;  // a defaultBackend's: rewrite-target is for paths only
  // A canary Ingress's backend for the same host and path, taking canary_weight of canary_total.
  const Backend* canary = nullptr;
  uint32_t canary_weight = 0;
  uint32_t canary_total = 100;
};

// One Ingress of the class, read whole before any of it is routed: an Ingress with a part waygate
// cannot route is left out entirely, not half-applied.
struct Ingress {
  std::string key;
  std::string created;  // RFC 3339 UTC: its text sorts as its time
  std::vector<Claim> claims;
  std::vector<std::string> hosts;  // of its rules, for its default backend
  std::optional<Backend> default_backend;
  std::shared_ptr<const IngressAnnotations> options;
  std::vector<std::string> tls_secrets;  // spec.tls[].secretName, as "NAMESPACE/NAME"
};

bool is_path_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("-._~!$&'()*+,;=:@/").find(c) != std::string_view::npos;
}

bool is_hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// An absolute path of RFC 3986 path characters and %XX escapes: what waygate matches against.
bool is_plain_path(const std::string& path) {
  if (!path.starts_with('/')) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%') {
      if (i + 2 >= path.size() || !is_hex(path[i + 1]) || !is_hex(path[i + 2])) return false;
      i += 2;
    } else if (!is_path_char(path[i])) {
      return false;
    }
  }
  return true;
}

// "*" for a rule without host (every host), else the lower-cased host, exact or "*.suffix";
// nullopt for one that is neither.
std::optional<std::string> read_host(const Json& rule) {
  const Json* host = json_member(rule, "host");
  if (!host || host->is_null()) return "*";
  if (!host->is_string()) return std::nullopt;
  std::string text = host->get<std::string>();
  for (char& c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string_view rest = text;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (text.empty()) return "*";
  if (!routing::is_dns_subdomain(rest)) return std::nullopt;
  return text;
}

class Reader {
 public:
  Reader(const IngressObjects& objects, std::map<std::string, Backend>& backends)
      : objects_(objects), backends_(backends) {}

  // nullopt with *error for an Ingress waygate cannot route.
  // nullopt with *error for an Ingress waygate cannot route; `notes` gets what it routes without.
  std::optional<Ingress> read(const std::string& key, const Json& object, std::string* error,
                              std::vector<std::string>* notes) {
    Ingress ingress;
    ingress.key = key;
    ingress.created = string_at(object, {"metadata", "creationTimestamp"});
    namespace_ = string_at(object, {"metadata", "namespace"});
    const Json* metadata = json_member(object, "metadata");
    std::optional<IngressAnnotations> options =
        read_annotations(metadata ? json_member(*metadata, "annotations") : nullptr, error, notes);
    if (!options) return std::nullopt;
    ingress.options = std::make_shared<const IngressAnnotations>(std::move(*options));
    options_ = ingress.options.get();
    const Json* spec = json_member(object, "spec");
    if (const Json* fallback = spec ? json_member(*spec, "defaultBackend") : nullptr) {
      const Backend* backend = read_backend(*fallback, "spec.defaultBackend", error);
      if (!backend) return std::nullopt;
      ingress.default_backend = *backend;
    }
    const Json* tls = spec ? json_member(*spec, "tls") : nullptr;
    for (size_t i = 0; tls && tls->is_array() && i < tls->size(); ++i) {
      // An entry without secretName is for the default certificate: nothing to read.
      std::string secret = string_at((*tls)[i], {"secretName"});
      if (!secret.empty()) ingress.tls_secrets.push_back(namespace_ + "/" + secret);
    }
    const Json* rules = spec ? json_member(*spec, "rules") : nullptr;
    if (rules && !rules->is_null() && !rules->is_array()) {
      *error = "spec.rules is not a list";
      return std::nullopt;
    }
    for (size_t i = 0; rules && rules->is_array() && i < rules->size(); ++i) {
      if (!read_rule((*rules)[i], "spec.rules[" + std::to_string(i) + "]", ingress, error)) {
        return std::nullopt;
      }
    }
    return ingress;
  }

 private:
  bool read_rule(const Json& rule, const std::string& where, Ingress& ingress, std::string* error) {
    std::optional<std::string> host = read_host(rule);
    if (!host) {
      *error = where + ".host " + routing::quoted_value(string_at(rule, {"host"})) +
               " is not a host name (or *.suffix)";
      return false;
    }
    ingress.hosts.push_back(*host);
    const Json* http = json_member(rule, "http");
    const Json* paths = http ? json_member(*http, "paths") : nullptr;
    if (!paths || paths->is_null()) return true;  // a host for the default backend alone
    if (!paths->is_array()) {
      *error = where + ".http.paths is not a list";
      return false;
    }
    for (size_t i = 0; i < paths->size(); ++i) {
      std::string at = where + ".http.paths[" + std::to_string(i) + "]";
      const Json& item = (*paths)[i];
      Claim claim;
      claim.host = *host;
      claim.ingress = ingress.key;
      claim.options = ingress.options;
      std::string type = string_at(item, {"pathType"});
      if (type == "Exact") {
        claim.match = Match::kExact;
      } else if (type != "Prefix" && type != "ImplementationSpecific") {
        *error = at + ".pathType " + routing::quoted_value(type) +
                 " is not Exact, Prefix or ImplementationSpecific";
        return false;
      }
      const Json* path = json_member(item, "path");
      claim.path = path && path->is_string() ? path->get<std::string>() : "";
      if (claim.path.empty() && type == "ImplementationSpecific") claim.path = "/";
      if (!is_plain_path(claim.path)) {
        *error = at + ".path " + routing::quoted_value(claim.path) +
                 " is not an absolute path (letters, digits, -._~!$&'()*+,;=:@/ and %XX)";
        return false;
      }
      // Prefix matches by path elements, a trailing '/' aside: /foo/ matches /foo as /foo does.
      if (claim.match == Match::kPrefix) {
        while (claim.path.size() > 1 && claim.path.ends_with('/'))
          claim.path.pop_back();
      } else if (options_->rewrite_target) {
        *error = at +
                 ": annotation nginx.ingress.kubernetes.io/rewrite-target applies to Prefix "
                 "paths only, not Exact";
        return false;
      }
      const Json* backend = json_member(item, "backend");
      claim.backend = backend ? read_backend(*backend, at + ".backend", error) : nullptr;
      if (!backend) *error = at + " has no backend";
      if (!claim.backend) return false;
      ingress.claims.push_back(std::move(claim));
    }
    return true;
  }

  // The Service's cluster, made on first use; null with *error for a backend that is not a
  // Service with a port.
  const Backend* read_backend(const Json& backend, const std::string& where, std::string* error) {
    const Json* service = json_member(backend, "service");
    if (!service) {
      *error = where + ": only Service backends are supported (not resource)";
      return nullptr;
    }
    std::string name = string_at(*service, {"name"});
    if (!routing::is_dns_label(name)) {
      *error = where + ".service.name " + routing::quoted_value(name) + " is not a Service name";
      return nullptr;
    }
    const Json* port = json_member(*service, "port");
    const Json* number = port ? json_member(*port, "number") : nullptr;
    std::string port_name = port ? string_at(*port, {"name"}) : "";
    Json discovery = {{"service", namespace_ + "/" + name}};
    std::string port_text;
    if (number && number->is_number_integer() && *number >= 1 && *number <= 65535) {
      port_text = std::to_string(number->get<unsigned>());
      // The Ingress names the Service's port; its EndpointSlices name the same port by the
      // Service port's name (none when the Service has one unnamed port).
      std::optional<std::string> slice_port = service_port_name(name, number->get<unsigned>());
      if (!slice_port) {
        discovery["port"] = number->get<unsigned>();  // the Service is not known (yet)
      } else if (!slice_port->empty()) {
        discovery["port"] = *slice_port;
      }
    } else if (routing::is_dns_label(port_name) && port_name.size() <= 15) {
      port_text = port_name;
      discovery["port"] = port_name;
    } else {
      *error = where + ".service.port needs a number (1-65535) or a port name";
      return nullptr;
    }
    std::string cluster = namespace_ + "/" + name + ":" + port_text;
    // upstream-hash-by balances the Service apart from Ingresses that do not hash on the same.
    if (!options_->hash_label.empty()) cluster += " hashed on " + options_->hash_label;
    auto [it, added] = backends_.try_emplace(cluster);
    if (added) {
      it->second = Backend{cluster, {{"kubernetes", std::move(discovery)}}, options_->hash_on};
    }
    return &it->second;
  }

  // The name of the Service's port `number` ("" when unnamed); nullopt when the Service or that
  // port is not known.
  std::optional<std::string> service_port_name(const std::string& service, unsigned number) {
    auto it = objects_.services.find(namespace_ + "/" + service);
    if (it == objects_.services.end()) return std::nullopt;
    const Json* spec = json_member(it->second, "spec");
    const Json* ports = spec ? json_member(*spec, "ports") : nullptr;
    if (!ports || !ports->is_array()) return std::nullopt;
    for (const Json& port : *ports) {
      const Json* value = json_member(port, "port");
      if (value && value->is_number_integer() && *value == number) {
        return string_at(port, {"name"});
      }
    }
    return std::nullopt;
  }

  const IngressObjects& objects_;
  std::map<std::string, Backend>& backends_;
  std::string namespace_;
  const IngressAnnotations* options_ = nullptr;  // the Ingress being read's
};

bool is_default_class(const IngressObjects& objects, const std::string& name) {
  auto it = objects.classes.find(name);
  return it != objects.classes.end() &&
         string_at(it->second, {"metadata", "annotations", kDefaultClassAnnotation}) == "true";
}

bool of_class(const Json& ingress, const std::string& wanted, bool wanted_is_default) {
  std::string name = string_at(ingress, {"spec", "ingressClassName"});
  if (name.empty()) name = string_at(ingress, {"metadata", "annotations", kLegacyClassAnnotation});
  return name.empty() ? wanted_is_default : name == wanted;
}

const char* match_name(Match match) {
  return match == Match::kExact ? "Exact" : "Prefix";
}

// The claim's path in a route's `paths:`; with ssl-redirect, a path before it that sends plain
// HTTP to https.
void add_path_entries(const Claim& claim, Json& paths) {
  Json entry = Json::object();
  if (claim.match == Match::kExact) {
    entry["exact"] = claim.path;
  } else {
    entry["prefix"] = claim.path;
    entry["segments"] = true;
  }
  entry["name"] = "ingress " + claim.ingress;
  const IngressAnnotations& options = *claim.options;
  if (!options.allow_from.empty()) entry["allow_from"] = options.allow_from;
  if (options.ssl_redirect) {
    Json redirect = entry;
    redirect["scheme"] = "http";
    redirect["redirect"] = {{"scheme", "https"}, {"code", 308}};  // ingress-nginx's code
    paths.push_back(std::move(redirect));
  }
  if (!claim.canary || claim.canary_weight == 0) {
    entry["cluster"] = claim.backend->cluster;
  } else if (claim.canary_weight >= claim.canary_total) {
    entry["cluster"] = claim.canary->cluster;
  } else {
    entry["clusters"] = {
        {{"name", claim.backend->cluster}, {"weight", claim.canary_total - claim.canary_weight}},
        {{"name", claim.canary->cluster}, {"weight", claim.canary_weight}}};
  }
  if (options.rewrite_target && !claim.fallback) {
    entry["rewrite"] = {{"prefix", *options.rewrite_target}};
  }
  if (options.max_body_bytes) entry["max_body_bytes"] = *options.max_body_bytes;
  if (options.read_timeout_s) entry["timeout"] = std::to_string(*options.read_timeout_s) + "s";
  paths.push_back(std::move(entry));
}

}  // namespace

IngressRoutes ingress_routes(const IngressObjects& objects,
                             const routing::IngressSourceConfig& source,
                             const std::set<std::string>& reserved_hosts) {
  IngressRoutes out;
  std::map<std::string, Backend> backends;
  Reader reader(objects, backends);
  bool class_is_default = is_default_class(objects, source.ingress_class);
  std::vector<Ingress> ingresses;
  for (const auto& [key, object] : objects.ingresses) {
    if (!of_class(object, source.ingress_class, class_is_default)) continue;
    std::string error;
    std::vector<std::string> notes;
    std::optional<Ingress> ingress = reader.read(key, object, &error, &notes);
    for (const std::string& note : notes)
      out.problems.push_back(std::string("Ingress ").append(key).append(": ").append(note));
    if (!ingress) {
      out.problems.push_back(std::string("Ingress ")
                                 .append(key)
                                 .append(": ")
                                 .append(error)
                                 .append("; the Ingress is skipped"));
      continue;
    }
    ingresses.push_back(std::move(*ingress));
  }
  std::stable_sort(ingresses.begin(), ingresses.end(), [](const Ingress& a, const Ingress& b) {
    return a.created != b.created ? a.created < b.created : a.key < b.key;
  });
  for (const Ingress& ingress : ingresses) {
    out.routed.insert(ingress.key);
    for (const std::string& secret : ingress.tls_secrets)
      out.tls_secrets.try_emplace(secret, ingress.key);
  }

  // (host, match, path) -> the claim that won it: the oldest Ingress's.
  std::map<std::tuple<std::string, Match, std::string>, Claim> winners;
  std::set<std::pair<std::string, std::string>> reserved_told;  // (Ingress, host) logged
  auto claim = [&](const Claim& wanted, const char* what) {
    if (reserved_hosts.count(wanted.host)) {
      if (reserved_told.emplace(wanted.ingress, wanted.host).second) {
        out.problems.push_back("Ingress " + wanted.ingress + ": host " + wanted.host +
                               " is routed by the config file; its paths there are skipped");
      }
      return;
    }
    auto [it, added] = winners.try_emplace({wanted.host, wanted.match, wanted.path}, wanted);
    if (!added && what) {
      out.problems.push_back("Ingress " + wanted.ingress + ": " + what + " host " + wanted.host +
                             " " + match_name(wanted.match) + " " + wanted.path +
                             " is already routed by Ingress " + it->second.ingress +
                             " (older); skipped");
    }
  };
  for (const Ingress& ingress : ingresses) {
    if (ingress.options->canary) continue;
    for (const Claim& wanted : ingress.claims)
      claim(wanted, "path");
  }
  // An Ingress's defaultBackend serves what its rules' hosts do not match, after every rule's
  // paths; the oldest one also serves the hosts no rule names.
  for (const Ingress& ingress : ingresses) {
    if (!ingress.default_backend || ingress.options->canary) continue;
    Claim fallback;
    fallback.path = "/";
    fallback.backend = &backends.at(ingress.default_backend->cluster);
    fallback.ingress = ingress.key;
    fallback.options = ingress.options;
    fallback.fallback = true;
    for (const std::string& host : ingress.hosts) {
      fallback.host = host;
      claim(fallback, nullptr);
    }
    fallback.host = "*";
    claim(fallback, "defaultBackend for");
  }

  // A canary Ingress (canary: "true") routes nothing of its own: its backends take a share of
  // the paths that another Ingress routes, the oldest canary of a path winning.
  for (const Ingress& ingress : ingresses) {
    if (!ingress.options->canary) continue;
    for (const Claim& wanted : ingress.claims) {
      auto it = winners.find({wanted.host, wanted.match, wanted.path});
      std::string what =
          "canary path host " + wanted.host + " " + match_name(wanted.match) + " " + wanted.path;
      if (it == winners.end() || it->second.fallback) {
        out.problems.push_back("Ingress " + wanted.ingress + ": " + what +
                               " is routed by no other Ingress; skipped");
      } else if (it->second.canary) {
        out.problems.push_back("Ingress " + wanted.ingress + ": " + what +
                               " already has a canary (older); skipped");
      } else {
        it->second.canary = wanted.backend;
        it->second.canary_weight = ingress.options->canary_weight;
        it->second.canary_total = ingress.options->canary_total;
      }
    }
  }

  std::map<std::string, std::vector<const Claim*>> by_host;
  std::set<std::string> used_clusters;
  for (const auto& [key, winner] : winners) {
    by_host[winner.host].push_back(&winner);
    used_clusters.insert(winner.backend->cluster);
    if (winner.canary) used_clusters.insert(winner.canary->cluster);
  }
  if (by_host.empty()) return out;
  Json routes = Json::array();
  for (auto& [host, claims] : by_host) {
    // Kubernetes' precedence: Exact before Prefix, then the longest path; waygate takes the
    // first that matches.
    std::stable_sort(claims.begin(), claims.end(), [](const Claim* a, const Claim* b) {
      if (a->match != b->match) return a->match == Match::kExact;
      return a->path.size() > b->path.size();
    });
    Json paths = Json::array();
    for (const Claim* claim_ptr : claims)
      add_path_entries(*claim_ptr, paths);
    routes.push_back({{"hosts", {host}}, {"paths", std::move(paths)}});
    out.hosts.insert(host);
  }
  Json clusters = Json::array();
  for (const std::string& name : used_clusters) {
    const Backend& backend = backends.at(name);
    Json cluster = {{"name", name}, {"discovery", backend.discovery}};
    if (!backend.hash_on.is_null()) {
      cluster["lb"] = "ring_hash";
      cluster["hash_on"] = backend.hash_on;
    }
    clusters.push_back(std::move(cluster));
  }
  Json document = {{"routes", std::move(routes)}, {"clusters", std::move(clusters)}};
  out.document = document.dump(1);
  return out;
}

}  // namespace waygate::discovery::kubernetes
