// Writes the address waygate is reached at (`routes_source.kubernetes.publish_address`) into the
// status.loadBalancer.ingress of each Ingress it routes, as `kubectl get ingress` shows it: a JSON
// merge patch on the Ingress's status subresource, one Ingress at a time, sent only to those whose
// status says otherwise. Runs on the control loop.
#pragma once

#include <uv.h>

#include <nlohmann/json.hpp>

#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "core/uv_handle.h"
#include "discovery/kubernetes/api_client.h"
#include "http/client.h"

namespace waygate::discovery::kubernetes {

class IngressStatusWriter final : private http::ClientHandler {
 public:
  // `address`: an IP address (written as `ip`) or a host name (`hostname`). `describe` names the
  // source in warnings.
  IngressStatusWriter(uv_loop_t* loop, std::shared_ptr<const ApiClient> api, std::string address,
                      std::string describe);
  ~IngressStatusWriter();
  IngressStatusWriter(const IngressStatusWriter&) = delete;
  IngressStatusWriter& operator=(const IngressStatusWriter&) = delete;

  // The Ingresses routed ("NAMESPACE/NAME") and every Ingress as the API gives it: each routed one
  // whose status.loadBalancer.ingress is not the address gets a patch.
  void update(const std::set<std::string>& routed,
              const std::map<std::string, nlohmann::json>& ingresses);

 private:
  void send_next();
  void retry_later(const std::string& error);

  void on_response_head(const http::MessageHead& head) override;
  void on_response_body(std::string_view bytes) override;
  void on_response_complete() override;
  void on_client_error(const char* reason) override;

  uv_loop_t* loop_;
  std::shared_ptr<const ApiClient> api_;
  nlohmann::json wanted_;  // [{ "ip": ADDRESS }] or [{ "hostname": ADDRESS }]
  std::string describe_;
  std::deque<std::string> queue_;  // to patch, in turn
  std::set<std::string> queued_;
  std::string in_flight_;     // the Ingress being patched; empty: none
  std::string target_;        // of the request under way (the client reads it while sending)
  std::string request_body_;  // likewise
  std::string body_;          // of the response, its start
  http::HeaderList headers_;
  std::unique_ptr<http::Client> client_;
  UvHandle<uv_timer_t> timer_;  // the retry after a failure
  uint64_t backoff_ms_;
  std::mt19937 random_;
  int status_ = 0;
};

}  // namespace waygate::discovery::kubernetes
