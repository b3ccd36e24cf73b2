#include "discovery/kubernetes/ingress_source.h"

#include <utility>

#include "core/log.h"
#include "discovery/kubernetes/tls_secret.h"

namespace waygate::discovery::kubernetes {

IngressSource::IngressSource(uv_loop_t* loop, std::shared_ptr<ObjectCollections> collections,
                             routing::IngressSourceConfig source, RoutesFn on_routes)
    : loop_(loop),
      collections_(std::move(collections)),
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
  ingresses_ = watch("Ingress", "/apis/networking.k8s.io/v1" + in_namespace + "/ingresses");
  classes_ = watch("IngressClass", "/apis/networking.k8s.io/v1/ingressclasses");
  services_ = watch("Service", "/api/v1" + in_namespace + "/services");
  // Every TLS Secret of the namespace (or cluster), not only those Ingresses name: one watch,
  // where a watch per name would need one for each and a new one whenever an Ingress names
  // another. Secrets of other types (tokens, passwords) are never sent.
  secrets_ = watch("Secret", "/api/v1" + in_namespace + "/secrets", "type=kubernetes.io/tls");
  if (!source_.publish_address.empty()) {
    status_ = std::make_unique<IngressStatusWriter>(loop_, collections_->api(),
                                                    source_.publish_address, describe());
  }
}

void IngressSource::stop() {
  stopped_ = true;
  status_.reset();
  for (ObjectCollection::Subscription* watched : {&ingresses_, &classes_, &services_, &secrets_})
    watched->reset();
}

ObjectCollection::Subscription IngressSource::watch(const char* kind, const std::string& path,
                                                    const std::string& field_selector) {
  std::shared_ptr<ObjectCollection> collection = collections_->get(kind, path, field_selector);
  return collection->listen(
      {[this] { rebuild(); },
       [this, kind](const std::string& error, uint64_t next_try_ms) {
         WG_LOG_WARN(
             "routes_source %s: %ss from %s: %s (the routes last made from them keep serving; "
             "next try in %llu ms)",
             describe().c_str(), kind, collections_->api()->access().server.c_str(), error.c_str(),
             static_cast<unsigned long long>(next_try_ms));
       }});
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
  if (stopped_ || !ingresses_.listed() || !classes_.listed() || !services_.listed() ||
      !secrets_.listed()) {
    return;
  }
  if (publishing_) {
    dirty_ = true;
    return;
  }
  do {
    dirty_ = false;
    IngressObjects objects{ingresses_.objects(), classes_.objects(), services_.objects()};
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
    if (status_) status_->update(routes.routed, ingresses_.objects());
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
    auto secret = secrets_.objects().find(key);
    if (secret == secrets_.objects().end()) {
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
