// One request and its response as they pass through a downstream session. Exchanges are pooled per
// worker, so the buffers a request head needs are reused rather than allocated per request.
#pragma once

#include <cstdint>
#include <memory>

#include "http/message_head.h"
#include "http/serialize.h"
#include "routing/snapshot.h"

namespace waygate::proxy {

class UpstreamConnection;
class UpstreamPool;

struct Exchange {
  void reset() {
    snapshot.reset();
    route = nullptr;
    cluster = nullptr;
    pool = nullptr;
    upstream = nullptr;
    start_ns = 0;
    body_bytes_received = 0;
    response_bytes_sent = 0;
    status = 0;
    pending_status = 0;
    error = "-";
    generated_id[0] = '\0';
    response_framing = http::BodyFraming::kNone;
    attempts = 0;
    request_done = response_head_sent = response_done = false;
    expect_continue = upgrade = close_after = upstream_reused = routed_response = false;
    response_head.clear();
    upstream_target.clear();
  }

  http::MessageHead request;
  std::shared_ptr<const routing::Snapshot> snapshot;  // kept until the exchange ends
  const routing::RouteAction* route = nullptr;
  const routing::Cluster* cluster = nullptr;
  UpstreamPool* pool = nullptr;
  UpstreamConnection* upstream = nullptr;
  uint64_t start_ns = 0;
  uint64_t body_bytes_received = 0;
  uint64_t response_bytes_sent = 0;
  uint16_t status = 0;
  uint16_t pending_status = 0;  // a response waiting for the (bodiless) request to end
  const char* error = "-";      // why waygate answered itself, for the access log
  char generated_id[33] = {};   // X-Request-Id we added, when the client sent none
  // The response head waits here until the first body bytes (or the end of the upstream read),
  // so a small response leaves in one write.
  std::string response_head;
  http::BodyFraming response_framing = http::BodyFraming::kNone;
  uint8_t attempts = 0;
  bool request_done = false;
  bool response_head_sent = false;
  bool response_done = false;
  bool expect_continue = false;
  bool upgrade = false;
  bool close_after = false;  // the client connection closes once this response is written
  bool upstream_reused = false;
  bool routed_response = false;  // the route answers itself (redirect, fixed response)
  std::string upstream_target;   // the rewritten request target, when the route rewrites
};

}  // namespace waygate::proxy
