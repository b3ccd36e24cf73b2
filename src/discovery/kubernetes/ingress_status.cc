#include "discovery/kubernetes/ingress_status.h"

#include <arpa/inet.h>

#include "discovery/json_member.h"

namespace waygate::discovery::kubernetes {
namespace {

using Json = nlohmann::json;

bool is_ip_address(const std::string& text) {
  unsigned char bytes[16];
  return inet_pton(AF_INET, text.c_str(), bytes) == 1 ||
         inet_pton(AF_INET6, text.c_str(), bytes) == 1;
}

// status.loadBalancer.ingress, or null.
const Json* published(const Json& ingress) {
  const Json* at = &ingress;
  for (const char* name : {"status", "loadBalancer", "ingress"}) {
    at = json_member(*at, name);
    if (!at) return nullptr;
  }
  return at;
}

}  // namespace

IngressStatusWriter::IngressStatusWriter(uv_loop_t* loop, std::shared_ptr<const ApiClient> api,
                                         std::string address, std::string describe)
    : wanted_(Json::array({{{is_ip_address(address) ? "ip" : "hostname", address}}})),
      patcher_(loop, std::move(api), std::move(describe), "Ingress") {}

void IngressStatusWriter::update(const std::set<std::string>& routed,
                                 const std::map<std::string, Json>& ingresses) {
  for (const std::string& key : routed) {
    auto it = ingresses.find(key);
    if (it == ingresses.end()) continue;
    const Json* now = published(it->second);
    if (now && *now == wanted_) continue;
    size_t slash = key.find('/');
    std::string target = "/apis/networking.k8s.io/v1/namespaces/" + key.substr(0, slash) +
                         "/ingresses/" + key.substr(slash + 1) + "/status";
    // Only status.loadBalancer.ingress changes.
    patcher_.patch(key, std::move(target),
                   Json{{"status", {{"loadBalancer", {{"ingress", wanted_}}}}}}.dump());
  }
  // An Ingress no longer routed (or gone) is not patched.
  patcher_.retain(
      [&](const std::string& key) { return routed.count(key) && ingresses.count(key); });
}

}  // namespace waygate::discovery::kubernetes
