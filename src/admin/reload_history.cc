#include "admin/reload_history.h"

#include "admin/json_writer.h"

namespace waygate::admin {

void ReloadHistory::record(Entry entry) {
  if (ring_.size() < kKept) {
    ring_.push_back(std::move(entry));
  } else {
    ring_[next_] = std::move(entry);
    next_ = (next_ + 1) % kKept;
  }
}

std::string ReloadHistory::render() const {
  JsonWriter out;
  out.begin_object().key("reloads").begin_array();
  size_t count = ring_.size();
  for (size_t i = 0; i < count; ++i) {
    // Newest first: the one before next_, going back.
    const Entry& entry = ring_[(next_ + count - 1 - i) % count];
    out.begin_object()
        .member("time", entry.time)
        .member("trigger", entry.trigger)
        .member("result", entry.result)
        .member("message", entry.message)
        .member("duration_ms", entry.duration_ms)
        .end_object();
  }
  out.end_array().end_object();
  return out.take();
}

}  // namespace waygate::admin
