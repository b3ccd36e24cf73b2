#include "routing/routes_dir_watcher.h"

#include <string_view>

#include "core/log.h"
#include "routing/route_entries.h"

namespace waygate::routing {
namespace {

// As for the config file: one re-read per burst of writes, renames and chmods.
constexpr uint64_t kDebounceMs = 100;

}  // namespace

RoutesDirWatcher::RoutesDirWatcher(uv_loop_t* loop, std::string directory, OnChange on_change)
    : loop_(loop), directory_(std::move(directory)), on_change_(std::move(on_change)) {}

RoutesDirWatcher::~RoutesDirWatcher() {
  stop();
}

std::string RoutesDirWatcher::start() {
  if (event_) return "already watching " + directory_;
  event_.init(uv_fs_event_init, loop_, this);
  timer_.init(uv_timer_init, loop_, this);
  int rc = uv_fs_event_start(event_.get(), &RoutesDirWatcher::on_fs_event, directory_.c_str(), 0);
  if (rc < 0) {
    stop();
    return "watch " + directory_ + ": " + uv_strerror(rc);
  }
  return {};
}

void RoutesDirWatcher::stop() {
  event_.reset();
  timer_.reset();
}

void RoutesDirWatcher::on_fs_event(uv_fs_event_t* event, const char* filename, int, int status) {
  auto* self = static_cast<RoutesDirWatcher*>(event->data);
  if (status < 0) {
    WG_LOG_WARN("watching %s: %s", self->directory_.c_str(), uv_strerror(status));
    self->everything_ = true;  // events may have been lost
  } else if (!filename || std::string_view(filename).starts_with("..")) {
    self->everything_ = true;
  } else if (is_routes_file_name(filename)) {
    self->pending_.insert(filename);
  } else {
    return;  // a swap file, a backup, the temporary file of a rename into place
  }
  uv_timer_start(self->timer_.get(), &RoutesDirWatcher::on_timer, kDebounceMs, 0);
}

void RoutesDirWatcher::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<RoutesDirWatcher*>(timer->data);
  std::vector<std::string> names(self->pending_.begin(), self->pending_.end());
  bool everything = self->everything_;
  self->pending_.clear();
  self->everything_ = false;
  OnChange on_change = self->on_change_;  // a copy: it may stop or destroy this watcher
  on_change(names, everything);
}

}  // namespace waygate::routing
