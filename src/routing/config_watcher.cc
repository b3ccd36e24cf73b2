#include "routing/config_watcher.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/log.h"

namespace waygate::routing {
namespace {

// Editors write a file in several steps (truncate, write, rename, chmod); a ConfigMap update is a
// burst of creates and renames. One reload per burst, once it has settled.
constexpr uint64_t kDebounceMs = 100;

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::ostringstream content;
  content << file.rdbuf();
  if (file.bad()) return std::nullopt;
  return std::move(content).str();
}

}  // namespace

uint64_t content_hash(std::string_view content) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : content) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

ConfigWatcher::ConfigWatcher(uv_loop_t* loop, std::string path, std::function<void()> on_change)
    : loop_(loop), path_(std::move(path)), on_change_(std::move(on_change)) {
  std::filesystem::path file(path_);
  directory_ = file.has_parent_path() ? file.parent_path().string() : std::string(".");
  basename_ = file.filename().string();
}

ConfigWatcher::~ConfigWatcher() {
  stop();
}

std::string ConfigWatcher::start() {
  if (event_) return "already watching " + path_;
  if (basename_.empty()) return path_ + ": not a file path";
  event_.init(uv_fs_event_init, loop_, this);
  timer_.init(uv_timer_init, loop_, this);
  int rc = uv_fs_event_start(event_.get(), &ConfigWatcher::on_fs_event, directory_.c_str(), 0);
  if (rc < 0) {
    stop();
    return "watch " + directory_ + ": " + uv_strerror(rc);
  }
  return {};
}

void ConfigWatcher::stop() {
  // The close callbacks free the handles; the watcher may be destroyed at once.
  event_.reset();
  timer_.reset();
}

void ConfigWatcher::on_fs_event(uv_fs_event_t* event, const char* filename, int, int status) {
  auto* self = static_cast<ConfigWatcher*>(event->data);
  if (status < 0) {
    WG_LOG_WARN("watching %s: %s", self->directory_.c_str(), uv_strerror(status));
    return;
  }
  self->on_event(filename);
}

void ConfigWatcher::on_event(const char* filename) {
  // The name is the entry in the watched directory. `..data` and its siblings are the ConfigMap's
  // swap; with no name at all, checking costs one small read and the hash filters it.
  std::string_view name = filename ? filename : "";
  bool relevant = !filename || name == basename_ || name.starts_with("..");
  if (!relevant) {
    ++stats_.ignored;
    return;
  }
  ++stats_.events;
  // Restarting the timer on every event: the check runs once the burst has been quiet for 100 ms.
  uv_timer_start(timer_.get(), &ConfigWatcher::on_timer, kDebounceMs, 0);
}

void ConfigWatcher::on_timer(uv_timer_t* timer) {
  static_cast<ConfigWatcher*>(timer->data)->check();
}

void ConfigWatcher::check() {
  ++stats_.checks;
  // Missing means mid-replacement (or deleted): the event that brings the file back checks again.
  std::optional<std::string> content = read_file(path_);
  if (!content) {
    if (!missing_ && on_missing_) {
      missing_ = true;
      std::function<void()> on_missing = on_missing_;  // a copy: it may destroy this watcher
      on_missing();
    }
    return;
  }
  missing_ = false;
  uint64_t hash = content_hash(*content);
  if (known_hash_ == hash) return;
  known_hash_ = hash;
  ++stats_.changes;
  // A copy: on_change may stop or destroy this watcher.
  std::function<void()> on_change = on_change_;
  on_change();
}

}  // namespace waygate::routing
