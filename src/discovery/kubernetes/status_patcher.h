// Sends JSON merge patches to the status subresource of Kubernetes objects, one at a time, in the
// order queued; a failure is retried with backoff (the object first), an object gone (404) or
// changed meanwhile (409, for a patch that names the resourceVersion it was made from) is
// dropped: the watch brings its new version, from which the caller makes another. What the
// Ingress and HTTPRoute status writers share. Runs on the control loop.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "core/uv_handle.h"
#include "discovery/kubernetes/api_client.h"
#include "http/client.h"

namespace waygate::discovery::kubernetes {

class StatusPatcher final : private http::ClientHandler {
 public:
  // `describe` names the source in warnings, `kind` the objects ("Ingress").
  StatusPatcher(uv_loop_t* loop, std::shared_ptr<const ApiClient> api, std::string describe,
                std::string kind);
  ~StatusPatcher();
  StatusPatcher(const StatusPatcher&) = delete;
  StatusPatcher& operator=(const StatusPatcher&) = delete;

  // Queues the patch `body` of `target` (".../NAME/status") for the object `key`
  // ("NAMESPACE/NAME"), in place of one queued for it still; nothing when it is the patch under
  // way. (Another is sent after it: the object may have changed since that one was made.)
  void patch(const std::string& key, std::string target, std::string body);
  // Drops the queued patches of the objects `keep` says no to.
  void retain(const std::function<bool(const std::string& key)>& keep);

 private:
  struct Patch {
    std::string target;
    std::string body;
  };
  void send_next();
  void retry_later(const std::string& error);

  void on_response_head(const http::MessageHead& head) override;
  void on_response_body(std::string_view bytes) override;
  void on_response_complete() override;
  void on_client_error(const char* reason) override;

  uv_loop_t* loop_;
  std::shared_ptr<const ApiClient> api_;
  std::string describe_;
  std::string kind_;
  std::deque<std::string> queue_;        // the keys to patch, in turn
  std::map<std::string, Patch> queued_;  // by key
  std::string in_flight_;                // the object being patched; empty: none
  Patch sending_;                        // its patch (the client reads it while sending)
  std::string body_;                     // of the response, its start
  http::HeaderList headers_;
  std::unique_ptr<http::Client> client_;
  UvHandle<uv_timer_t> timer_;  // the retry after a failure
  uint64_t backoff_ms_;
  std::mt19937 random_;
  int status_ = 0;
};

}  // namespace waygate::discovery::kubernetes
