// Notices which files of a routes_dir change on disk, so the control thread re-reads those alone.
// Watches the directory: editors replace a file by rename, and files appear and disappear.
#pragma once

#include <uv.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/uv_handle.h"

namespace waygate::routing {

class RoutesDirWatcher {
 public:
  // on_change runs on the loop's thread 100 ms after the last of a burst of events, with the route
  // file names (routing::is_routes_file_name) the burst touched; `everything` when an event named
  // no file or a hidden `..` entry (a ConfigMap's swap of `..data`): every file may have changed.
  using OnChange = std::function<void(const std::vector<std::string>& names, bool everything)>;

  RoutesDirWatcher(uv_loop_t* loop, std::string directory, OnChange on_change);
  ~RoutesDirWatcher();
  RoutesDirWatcher(const RoutesDirWatcher&) = delete;
  RoutesDirWatcher& operator=(const RoutesDirWatcher&) = delete;

  // Returns an error text ("watch /etc/waygate/routes.d: no such file or directory"), or empty.
  std::string start();
  // Closes the handles (uv_close); no on_change call follows. Idempotent.
  void stop();
  const std::string& directory() const { return directory_; }

 private:
  static void on_fs_event(uv_fs_event_t* event, const char* filename, int events, int status);
  static void on_timer(uv_timer_t* timer);

  uv_loop_t* loop_;
  std::string directory_;
  OnChange on_change_;
  UvHandle<uv_fs_event_t> event_;
  UvHandle<uv_timer_t> timer_;  // the debounce
  std::set<std::string> pending_;
  bool everything_ = false;
};

}  // namespace waygate::routing
