// One request and its response as they pass through a downstream session. Exchanges are pooled per
// worker, so the buffers a request needs are reused rather than allocated per request.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/reused_buffer.h"
#include "http/message_head.h"
#include "http/serialize.h"
#include "proxy/snapshot_holder.h"

namespace waygate::proxy {

class UpstreamConnection;
class UpstreamPool;

struct Exchange {
  // At most this many endpoints are tried for one request (the first and its retries).
  static constexpr size_t kMaxTries = 11;
  // Buffers (and field lists) that a large request grew are given back when the exchange returns
  // to the pool.
  static constexpr size_t kMaxKeptBufferBytes = 4096;
  static constexpr size_t kMaxKeptFields = 64;
  // Request bodies up to this size are kept until the response starts, so a retry can send them
  // again.
  static constexpr size_t kMaxReplayBytes = 64 * 1024;
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr uint64_t kNoTime = UINT64_MAX;

  void reset() {
    snapshot.reset();
    route = nullptr;
    cluster_index = 0;
    pool = nullptr;
    upstream = nullptr;
    start_ns = 0;
    upstream_sent_ns = 0;
    connect_started_ns = 0;
    upstream_connect_ns = upstream_response_ns = kNoTime;
    body_bytes_received = 0;
    response_bytes_sent = 0;
    status = 0;
    error = "";
    generated_id[0] = '\0';
    endpoint[0] = '\0';
    response_framing = http::BodyFraming::kNone;
    tries = 0;
    stale_retries = 0;
    active_endpoint = counted_cluster = kNone;
    counted_pending = counted_retry = sticky_set = false;
    replay_kept = true;
    sticky_hash = 0;
    empty_for_reuse(replay, kMaxKeptBufferBytes);
    host = path = query = target = {};
    request_done = response_head_sent = body_forwarded = false;
    expect_continue = upgrade = upstream_reused = waiting_for_connection = false;
    request.clear_keeping(kMaxKeptBufferBytes, kMaxKeptFields);
    response.clear_keeping(kMaxKeptBufferBytes, kMaxKeptFields);
    empty_for_reuse(response_head, kMaxKeptBufferBytes);
    empty_for_reuse(path_buffer, kMaxKeptBufferBytes);
    empty_for_reuse(target_buffer, kMaxKeptBufferBytes);
  }

  http::MessageHead request;
  http::MessageHead response;    // parsed here by the upstream connection
  SnapshotHolder::Ref snapshot;  // kept until the exchange ends
  const routing::RouteAction* route = nullptr;
  uint32_t cluster_index = 0;  // in snapshot->clusters
  UpstreamPool* pool = nullptr;
  UpstreamConnection* upstream = nullptr;
  uint64_t start_ns = 0;
  uint64_t upstream_sent_ns = 0;    // when the request head last went upstream (a metric's start)
  uint64_t connect_started_ns = 0;  // when the try began waiting for a new or busy connection
  // The last try's, for the access log: from asking for a connection to having one (0 for an idle
  // one), and from the request head sent to the response head.
  uint64_t upstream_connect_ns = kNoTime;
  uint64_t upstream_response_ns = kNoTime;
  uint64_t body_bytes_received = 0;
  uint64_t response_bytes_sent = 0;
  uint16_t status = 0;
  const char* error = "";      // why waygate answered itself, for the access log
  char generated_id[33] = {};  // X-Request-Id we added, when the client sent none
  char endpoint[56] = {};      // the endpoint's address, for the access log
  // What the request addresses, as routed: views into the request or the buffers below.
  std::string_view host;
  std::string_view path;
  std::string_view query;
  std::string_view target;    // the request target sent upstream
  std::string path_buffer;    // the normalised path, when it differs from the client's
  std::string target_buffer;  // the target sent upstream, when it differs from the client's
  // The response head waits here until the first body bytes (or the end of the upstream read),
  // so a small response leaves in one write.
  std::string response_head;
  http::BodyFraming response_framing = http::BodyFraming::kNone;
  std::array<uint32_t, kMaxTries> tried{};  // endpoint ids, in order
  uint8_t tries = 0;
  uint8_t stale_retries = 0;  // pooled connections found closed by the upstream
  bool request_done = false;
  bool response_head_sent = false;
  bool body_forwarded = false;  // some of the body went upstream: it cannot be sent again
  bool expect_continue = false;
  bool upgrade = false;
  bool upstream_reused = false;
  bool waiting_for_connection = false;  // queued at an endpoint at its connection limit
  // What this exchange counts on its worker, given back when it is released.
  uint32_t active_endpoint = kNone;  // the endpoint id it has a request in flight on
  uint32_t counted_cluster = kNone;  // the cluster id whose load counts it
  bool counted_pending = false;
  bool counted_retry = false;
  // The request body as sent, while it fits in kMaxReplayBytes (replay_kept false past that).
  std::string replay;
  bool replay_kept = true;
  // Sticky sessions: the response tells the client which endpoint to come back to.
  bool sticky_set = false;
  uint64_t sticky_hash = 0;
};

}  // namespace waygate::proxy
