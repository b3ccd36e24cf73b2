// A worker thread: its own uv_loop, its own listening sockets, and everything its connections
// need (upstream pools, read buffer, exchange pool, access log). Nothing here is shared with
// other workers; the control thread reaches a worker only through publish() and request_drain().
#pragma once

#include <uv.h>

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "proxy/access_log.h"
#include "proxy/downstream_session.h"
#include "proxy/exchange.h"
#include "proxy/upstream_pool.h"
#include "routing/snapshot.h"

namespace waygate::proxy {

// A listening socket handed to a worker (fd >= 0), or the order to close the one on that
// address (fd < 0). Listeners are known by address: a reload that renames a listener or moves a
// name to another address keeps every socket whose address stays, so no queued connection is lost.
struct ListenerChange {
  std::string address;
  int fd = -1;
};

class Worker {
 public:
  // Takes ownership of the listening sockets in `listeners` (all with fd >= 0).
  Worker(unsigned index, std::shared_ptr<const routing::Snapshot> snapshot,
         std::vector<ListenerChange> listeners, int access_log_fd);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  void join();

  // Any thread: the worker takes the snapshot for its next requests, and opens or closes the
  // listeners in `changes` (taking ownership of their sockets).
  void publish(std::shared_ptr<const routing::Snapshot> snapshot,
               std::vector<ListenerChange> changes = {});
  // Any thread: stop accepting, finish in-flight requests, then let the thread end.
  void request_drain();

  // Worker thread only, from here on.
  uv_loop_t* loop() { return &loop_; }
  const routing::Snapshot& snapshot() const { return *snapshot_; }
  const std::shared_ptr<const routing::Snapshot>& snapshot_ptr() const { return snapshot_; }
  bool draining() const { return draining_; }

  UpstreamPool& pool_for(const routing::Endpoint& endpoint);
  uint32_t next_round_robin(uint32_t cluster_index);
  std::unique_ptr<Exchange> acquire_exchange();
  void release_exchange(std::unique_ptr<Exchange> exchange);
  AccessLog& access_log() { return access_log_; }
  // A buffer for building one head or chunk header at a time; never held across callbacks.
  std::string& scratch() { return scratch_; }
  void generate_request_id(char out[33]);
  // A fast, unshared random number (weighted cluster picks).
  uint32_t next_random();
  void destroy_session(DownstreamSession& session);

  // uv_alloc_cb for every stream of this worker: reads land in one loop-owned buffer and are
  // handled before the next read, so an idle connection holds no read buffer.
  static void allocate_read_buffer(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);

 private:
  struct Listener {
    uv_tcp_t tcp;
    Worker* worker;
    std::string address;
  };

  void run();
  void apply_messages();
  void open_listener(const std::string& address, int fd);
  void close_listener(const std::string& address);
  static void on_listener_closed(uv_handle_t* handle);
  void close_pools_left_out();
  void begin_drain();
  void finish_drain_if_idle();
  static void on_connection(uv_stream_t* server, int status);
  static void on_async(uv_async_t* async);
  static void on_drain_timeout(uv_timer_t* timer);

  unsigned index_;
  uv_loop_t loop_;
  uv_async_t async_;
  uv_timer_t drain_timer_;
  std::thread thread_;
  std::shared_ptr<const routing::Snapshot> snapshot_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::list<std::unique_ptr<DownstreamSession>> sessions_;
  std::unordered_map<std::string, std::unique_ptr<UpstreamPool>> pools_;
  std::vector<uint32_t> round_robin_;
  std::vector<std::unique_ptr<Exchange>> free_exchanges_;
  std::unique_ptr<std::array<char, 64 * 1024>> read_buffer_;
  std::string scratch_;
  AccessLog access_log_;
  uint64_t id_state_[2];
  bool draining_ = false;
  bool drained_ = false;

  // Messages from the control thread, taken whole by on_async (uv_async_send coalesces).
  std::mutex inbox_mutex_;
  std::shared_ptr<const routing::Snapshot> inbox_snapshot_;
  std::vector<ListenerChange> inbox_listeners_;
  bool inbox_drain_ = false;
};

}  // namespace waygate::proxy
