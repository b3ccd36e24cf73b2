// Notices when the config file's content changes on disk, so the control thread can reload it.
// Watches the parent directory, not the file: editors and Kubernetes ConfigMaps replace the file
// by rename (a ConfigMap swaps a `..data` symlink), which a watch on the file's inode never sees.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/uv_handle.h"

namespace waygate::routing {

// FNV-1a (64 bit) of the bytes: stable across runs and builds, unlike std::hash, so it can be
// logged and compared. Reload logic uses it to tell "unchanged" from "reloaded" too.
uint64_t content_hash(std::string_view content);

class ConfigWatcher {
 public:
  // Counters for logs, metrics and tests.
  struct Stats {
    uint64_t events = 0;   // directory events for the config file (or a `..` name)
    uint64_t ignored = 0;  // directory events for other names
    uint64_t checks = 0;   // debounced reads of the file
    uint64_t changes = 0;  // checks that found new content, i.e. on_change calls
  };

  // on_change runs on the loop's thread, 100 ms after the last of a burst of events, only when
  // the file's bytes differ from the content last seen (read by a check, or noted by
  // note_loaded()). A file missing at that moment (mid-rename) is not a change.
  ConfigWatcher(uv_loop_t* loop, std::string path, std::function<void()> on_change);
  // Calls stop(). Safe at any time: the handles belong to their close callbacks once stop() has
  // run, so the loop only has to run on for those callbacks to free them.
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // Starts watching. Returns an error text ("watch /etc/waygate: no such file or directory"), or
  // empty. Reads nothing: call note_loaded() with the content the process started with, or the
  // first event reports whatever the file holds.
  std::string start();
  // Stops watching and closes the handles (uv_close); no on_change call follows. Idempotent.
  void stop();

  // The content the process has just loaded (at start, on SIGHUP, on POST /reload), so that the
  // watcher does not report it again. Pass the bytes that were read, whether or not they were
  // valid: an invalid file is not worth a second attempt until it changes again.
  void note_loaded(std::string_view content) { note_loaded_hash(content_hash(content)); }
  void note_loaded_hash(uint64_t hash) { known_hash_ = hash; }

  // Called (on the loop's thread) when a check finds the file missing, once until it is back.
  void set_on_missing(std::function<void()> on_missing) { on_missing_ = std::move(on_missing); }

  const Stats& stats() const { return stats_; }
  const std::string& path() const { return path_; }

 private:
  void on_event(const char* filename);
  void check();
  static void on_fs_event(uv_fs_event_t* event, const char* filename, int events, int status);
  static void on_timer(uv_timer_t* timer);

  uv_loop_t* loop_;
  std::string path_;
  std::string directory_;
  std::string basename_;
  std::function<void()> on_change_;
  std::function<void()> on_missing_;
  bool missing_ = false;
  UvHandle<uv_fs_event_t> event_;
  UvHandle<uv_timer_t> timer_;  // the debounce
  std::optional<uint64_t> known_hash_;
  Stats stats_;
};

}  // namespace waygate::routing
