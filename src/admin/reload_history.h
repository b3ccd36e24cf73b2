// The last reloads and how each ended, whatever triggered it, for GET /reloads and the dashboard.
// Control thread only.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace waygate::admin {

class ReloadHistory {
 public:
  static constexpr size_t kKept = 32;

  struct Entry {
    std::string time;     // RFC 3339 UTC, when it ended
    std::string trigger;  // "file", "SIGHUP", "admin", "certificate", "etcd"
    std::string result;   // "applied", "refused", "unchanged"
    std::string message;  // for a refused one: every error, one per line
    double duration_ms = 0;
  };

  // Keeps the entry; past kKept, the oldest is forgotten.
  void record(Entry entry);
  // {"reloads": [...]}, newest first.
  std::string render() const;

 private:
  std::vector<Entry> ring_;  // up to kKept; next_ is the oldest once full
  size_t next_ = 0;
};

}  // namespace waygate::admin
