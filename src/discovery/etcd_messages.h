// What etcd's v3 JSON gateway answers, decoded: a range response (POST /v3/kv/range) and one line
// of a watch stream (POST /v3/watch). Pure functions of the bytes, so any answer a server (or an
// attacker in its place) sends is refused with a reason or read whole; EtcdWatcher acts on them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace waygate::discovery {

struct EtcdRange {
  std::map<std::string, std::string> keys;        // key -> value, as bytes
  std::map<std::string, uint64_t> mod_revisions;  // key -> the revision of its last write
  uint64_t revision = 0;  // the store's revision the range was read at (> 0)
};
// The range in `body`, or nullopt with *error saying why ("kvs is not a list").
std::optional<EtcdRange> parse_etcd_range(std::string_view body, std::string* error);

struct EtcdWatchMessage {
  enum class Kind : uint8_t {
    kInvalid,    // not a watch message: `error` says why
    kError,      // the gateway reports an error: `error`
    kCanceled,   // the watch was canceled: `error` is the reason
    kCompacted,  // canceled because `revision` (the compact revision) is past the one asked for
    kCreated,    // the watch stands
    kProgress,   // nothing changed up to `revision`, when has_revision
    kEvents,     // `events`, in order
  };
  struct Event {
    bool put = true;  // false: a delete
    std::string key;
    std::string value;
    uint64_t revision = 0;  // the key's mod_revision (> 0)
  };
  Kind kind = Kind::kInvalid;
  std::string error;
  uint64_t revision = 0;
  bool has_revision = false;
  std::vector<Event> events;
};
EtcdWatchMessage parse_etcd_watch_message(std::string_view line);

// The message of a failed call's body ({"error": ..., "message": ..., "code": N}), or "" when it
// has none.
std::string etcd_error_text(std::string_view body);

}  // namespace waygate::discovery
