// One collection of Kubernetes objects kept current the way the API asks clients to: a LIST (in
// pages) that gives the objects and a resourceVersion, then a WATCH from that resourceVersion
// (bookmarks requested, ended by the server now and then and resumed from the last resourceVersion
// seen). When the server has compacted that version (HTTP 410 Gone, or an ERROR event with code
// 410) the collection is listed again. Failures retry with backoff and jitter; the consumer keeps
// what it had meanwhile. Runs on the control loop.
#pragma once

#include <uv.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "discovery/kubernetes/api_client.h"

namespace waygate::discovery::kubernetes {

class ListWatch {
 public:
  struct Options {
    std::string path;            // "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
    std::string label_selector;  // "kubernetes.io/service-name=web"; empty: every object
    std::string field_selector;  // "type=kubernetes.io/tls"; empty: every object
    // A LIST asks for at most this many objects at a time (limit, then continue), as client-go
    // does: neither the server nor waygate holds the whole collection as one response. 0: all
    // at once.
    uint32_t page_size = 500;
    // What is kept of each listed object, applied as its page arrives (null: all of it), so that
    // a large collection is never held whole.
    std::function<nlohmann::json(nlohmann::json object)> trim_item;
    uint64_t request_timeout_ms = 10'000;
    // Each watch asks the server to end it after this many seconds, plus up to as many again at
    // random, so that many watchers do not come back in step.
    uint32_t watch_timeout_s = 300;
    uint64_t min_backoff_ms = 100;  // the first retry after a failure, doubling with jitter
    uint64_t max_backoff_ms = 10'000;
  };

  enum class Event : uint8_t { kAdded, kModified, kDeleted };
  // After each LIST: every object in the collection, replacing what the consumer knew.
  using ListedFn = std::function<void(std::vector<nlohmann::json> items)>;
  // For each change the watch reports.
  using EventFn = std::function<void(Event event, const nlohmann::json& object)>;
  // A request failed, or the server refused it ("HTTP 401: Unauthorized"); the next try is in
  // next_try_ms.
  using ErrorFn = std::function<void(const std::string& error, uint64_t next_try_ms)>;

  ListWatch(uv_loop_t* loop, std::shared_ptr<const ApiClient> api, Options options,
            ListedFn on_listed, EventFn on_event, ErrorFn on_error);
  // Stops; no callback afterwards.
  ~ListWatch();
  ListWatch(const ListWatch&) = delete;
  ListWatch& operator=(const ListWatch&) = delete;

  void start();
  // The resourceVersion the consumer's view is at (empty before the first LIST).
  const std::string& resource_version() const;

  // "a/b=c" with every byte but unreserved ones as %XX, for a query string.
  static std::string query_escape(std::string_view text);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace waygate::discovery::kubernetes
