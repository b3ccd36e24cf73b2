#include "discovery/kubernetes/ingress_source.h"

#include <utility>

#include "core/log.h"
#include "discovery/kubernetes/tls_secret.h"

namespace waygate::discovery::kubernetes {
namespace {

// "NAMESPACE/NAME", or NAME for an object without a namespace (an IngressClass).
std::string object_key(const nlohmann::json& object) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  std::string name = metadata->value("name", "");
  std::string namespace_name = metadata->value("namespace", "");
  if (name.empty()) return "";
  return namespace_name.empty() ? name : namespace_name + "/" + name;
}

}  // namespace

IngressSource::IngressSource(uv_loop_t* loop, std::shared_ptr<const ApiClient> api,
                             routing::IngressSourceConfig source, RoutesFn on_routes)
    : loop_(loop),
      api_(std::move(api)),
      source_(std::move(source)),
      on_routes_(std::move(on_routes)) {}

std::string IngressSource::describe() const {
  std::string text = "kubernetes ingresses of class " + source_.ingress_class;
  if (!source_.namespace_name.empty()) text += " in namespace " + source_.namespace_name;
  return text;
}

void IngressSource::start() {
  std::string in_namespace =
      source_.namespace_name.empty() ? "" : "/namespaces/" + source_.namespace_name;
  watch(ingresses_, "/apis/networking.k8s.io/v1" + in_namespace + "/ingresses");
  watch(classes_, "/apis/networking.k8s.io/v1/ingressclasses");
  watch(services_, "/api/v1" + in_namespace + "/services");
  // Every TLS Secret of the namespace (or cluster), not only those Ingresses name: one watch,
  // where a watch per name would need one for each and a new one whenever an Ingress names
  // another. Secrets of other types (tokens, passwords) are never sent.
  watch(secrets_, "/api/v1" + in_namespace + "/secrets", "type=kubernetes.io/tls");
  if (!source_.publish_address.empty()) {
    status_ =
        std::make_unique<IngressStatusWriter>(loop_, api_, source_.publish_address, describe());
  }
}

void IngressSource::stop() {
  stopped_ = true;
  status_.reset();
  for (Collection* collection : {&ingresses_, &classes_, &services_, &secrets_})
    collection->watch.reset();
}

void IngressSource::watch(Collection& collection, const std::string& path,
                          const std::string& field_selector) {
  ListWatch::Options options;
  options.path = path;
  options.field_selector = field_selector;
  Collection* target = &collection;
  collection.watch = std::make_unique<ListWatch>(
      loop_, api_, options,
      [this, target](std::vector<nlohmann::json> items) {
        target->objects.clear();
        for (nlohmann::json& item : items) {
          std::string key = object_key(item);
          if (!key.empty()) target->objects[key] = std::move(item);
        }
        target->listed = true;
        rebuild();
      },
      [this, target](ListWatch::Event event, const nlohmann::json& object) {
        std::string key = object_key(object);
        if (key.empty()) return;
        if (event == ListWatch::Event::kDeleted) {
          target->objects.erase(key);
        } else {
          target->objects[key] = object;
        }
        rebuild();
      },
      [this, target](const std::string& error, uint64_t next_try_ms) {
        WG_LOG_WARN(
            "routes_source %s: %ss from %s: %s (the routes last made from them keep serving; "
            "next try in %llu ms)",
            describe().c_str(), target->kind, api_->access().server.c_str(), error.c_str(),
            static_cast<unsigned long long>(next_try_ms));
      });
  collection.watch->start();
}

void IngressSource::set_file_hosts(std::set<std::string> hosts) {
  if (hosts == file_hosts_) return;
  file_hosts_ = std::move(hosts);
  if (publishing_) {
    dirty_ = true;
    return;
  }
  rebuild();
}

void IngressSource::rebuild() {
  if (!ingresses_.listed || !classes_.listed || !services_.listed || !secrets_.listed) return;
  if (publishing_) {
    dirty_ = true;
    return;
  }
  do {
    dirty_ = false;
    IngressObjects objects{ingresses_.objects, classes_.objects, services_.objects};
    IngressRoutes routes = ingress_routes(objects, source_, file_hosts_);
    std::vector<routing::PemCertificate> certificates =
        read_certificates(routes.tls_secrets, routes.problems);
    // Each problem is told once, when it appears; not again on every change to other objects.
    std::set<std::string> problems(routes.problems.begin(), routes.problems.end());
    for (const std::string& problem : problems) {
      if (!problems_.count(problem)) {
        WG_LOG_WARN("routes_source %s: %s", describe().c_str(), problem.c_str());
      }
    }
    problems_ = std::move(problems);
    if (status_) status_->update(routes.routed, ingresses_.objects);
    if (routes.document == document_ && certificates == certificates_) continue;
    document_ = std::move(routes.document);
    certificates_ = std::move(certificates);
    hosts_ = std::move(routes.hosts);
    publishing_ = true;
    on_routes_(document_, certificates_);  // may stop this source
    publishing_ = false;
  } while (dirty_ && !stopped_);
}

std::vector<routing::PemCertificate> IngressSource::read_certificates(
    const std::map<std::string, std::string>& secrets, std::vector<std::string>& problems) {
  std::map<std::string, routing::PemCertificate> served;
  std::vector<routing::PemCertificate> out;
  for (const auto& [key, ingress] : secrets) {
    std::string what = std::string("Secret ")
                           .append(key)
                           .append(" (spec.tls of Ingress ")
                           .append(ingress)
                           .append(")");
    auto secret = secrets_.objects.find(key);
    if (secret == secrets_.objects.end()) {
      problems.push_back(what +
                         " is not found (or not of type kubernetes.io/tls); no certificate "
                         "from it is served");
      continue;
    }
    std::string error;
    std::optional<routing::PemCertificate> read = read_tls_secret(key, secret->second, &error);
    auto last = served_.find(key);
    if (!read) {
      // A Secret being rotated badly: its last good certificate is better than none.
      problems.push_back(std::string(what).append(": ").append(error).append(
          last != served_.end() ? "; the certificate read from it before serves on"
                                : "; no certificate from it is served"));
      if (last == served_.end()) continue;
      read = last->second;
    }
    out.push_back(*read);
    served[key] = std::move(*read);
  }
  served_ = std::move(served);
  return out;
}

}  // namespace waygate::discovery::kubernetes
