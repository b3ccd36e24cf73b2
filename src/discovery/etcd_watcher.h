// A live view of the keys under a prefix (or of one key) in an etcd v3 cluster, through its
// HTTP/JSON gateway (POST /v3/kv/range, then a streaming POST /v3/watch): a range read, then a
// watch from the next revision. After a disconnect the watch resumes from the last revision seen;
// when that revision has been compacted, the whole range is read again. Several endpoints are
// tried in turn, with backoff and jitter between rounds. Runs on the control loop.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace waygate::discovery {

class EtcdWatcher {
 public:
  struct Options {
    std::vector<std::string> endpoints;  // "http://127.0.0.1:2379" (IP literals; http only)
    std::string key;                     // the prefix, or the one key
    bool prefix = true;                  // false: watch exactly `key`
    uint64_t request_timeout_ms = 5000;
    uint64_t min_backoff_ms = 100;  // first retry after a failure, doubling with jitter
    uint64_t max_backoff_ms = 10'000;
  };

  using Keys = std::map<std::string, std::string>;  // key -> value, as bytes
  struct Change {
    enum class Kind : uint8_t { kPut, kDelete };
    Kind kind;
    std::string key;
  };
  // Called after the first read, after each batch of watch events, and after a re-list (then
  // `relisted` is true and `changes` lists what differs from the previous view). `keys` is the
  // whole current view.
  using UpdateFn = std::function<void(const Keys& keys, const std::vector<Change>& changes,
                                      uint64_t revision, bool relisted)>;
  // Called when an endpoint fails or the cluster cannot be reached ("127.0.0.1:2379: connect
  // refused"); the view keeps its last contents and retries go on.
  using ErrorFn = std::function<void(const std::string& error)>;

  EtcdWatcher(uv_loop_t* loop, Options options, UpdateFn on_update, ErrorFn on_error);
  // Stops; no callback afterwards.
  ~EtcdWatcher();
  EtcdWatcher(const EtcdWatcher&) = delete;
  EtcdWatcher& operator=(const EtcdWatcher&) = delete;

  void start();
  const Keys& keys() const;
  uint64_t revision() const;  // the revision the view is at
  // The revision of the last write to `key` in the view; 0 when the view does not hold it.
  uint64_t mod_revision(const std::string& key) const;
  bool synced() const;  // a first read has completed

  // Validates an endpoint text ("http://IP:PORT"); returns an error message, or empty.
  static std::string check_endpoint(const std::string& endpoint);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace waygate::discovery
