// `routes_source: { kubernetes: { ingress_class } }`: the Ingresses, IngressClasses, Services and
// TLS Secrets of a cluster, each listed and then watched (the Services through the collection the
// Gateway source reads too), kept as a routes_source document (see
// ingress_routes.h) and the certificates of the Secrets the Ingresses name, handed on whenever
// either changes; and the status of the Ingresses routed (publish_address). Runs on the control
// loop.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "discovery/kubernetes/api_client.h"
#include "discovery/kubernetes/ingress_routes.h"
#include "discovery/kubernetes/ingress_status.h"
#include "discovery/kubernetes/object_collection.h"
#include "routing/config.h"

namespace waygate::discovery::kubernetes {

class IngressSource {
 public:
  // The document or the certificates changed; called only once every collection has been listed.
  using RoutesFn = std::function<void(const std::string& document,
                                      const std::vector<routing::PemCertificate>& certificates)>;

  IngressSource(uv_loop_t* loop, std::shared_ptr<ObjectCollections> collections,
                routing::IngressSourceConfig source, RoutesFn on_routes);
  IngressSource(const IngressSource&) = delete;
  IngressSource& operator=(const IngressSource&) = delete;

  void start();
  // No callback afterwards; may be called from within one.
  void stop();
  // The hosts the config file routes itself: Ingress rules for them are left out.
  void set_file_hosts(std::set<std::string> hosts);
  // The hosts of the last document handed on.
  const std::set<std::string>& hosts() const { return hosts_; }
  // "kubernetes ingresses of class waygate"
  std::string describe() const;

 private:
  ObjectCollection::Subscription watch(const char* kind, const std::string& path,
                                       const std::string& field_selector = "");
  void rebuild();
  // The certificates of `secrets` (as IngressRoutes names them), each as last read whole: a
  // Secret that cannot serve keeps the certificate read from it before. Adds a line to
  // `problems` for each that cannot.
  std::vector<routing::PemCertificate> read_certificates(
      const std::map<std::string, std::string>& secrets, std::vector<std::string>& problems);

  uv_loop_t* loop_;
  std::shared_ptr<ObjectCollections> collections_;
  routing::IngressSourceConfig source_;
  RoutesFn on_routes_;
  ObjectCollection::Subscription ingresses_;
  ObjectCollection::Subscription classes_;
  ObjectCollection::Subscription services_;
  ObjectCollection::Subscription secrets_;
  std::unique_ptr<IngressStatusWriter> status_;  // with publish_address
  std::set<std::string> file_hosts_;
  std::string document_;                                   // the last handed on
  std::vector<routing::PemCertificate> certificates_;      // the last handed on
  std::map<std::string, routing::PemCertificate> served_;  // by Secret, the last read whole
  std::set<std::string> hosts_;
  std::set<std::string> problems_;  // logged already
  bool publishing_ = false;         // in on_routes_, which reloads and may set the file hosts
  bool dirty_ = false;
  bool stopped_ = false;
};

}  // namespace waygate::discovery::kubernetes
