// One call to etcd's v3 JSON gateway, for the admin API's edits of route entries, which answer
// only once etcd has taken (or refused) the write. It runs on the control thread's loop and
// waits for nothing there: reloads, discovery and health checks go on while etcd is slow.
#pragma once

#include <uv.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace waygate::discovery {

// The answer's JSON (for the call only), or null with the reason ("127.0.0.1:2379: connect
// refused", or etcd's own message for a call it refused).
using EtcdAnswerFn = std::function<void(const nlohmann::json* answer, const std::string& error)>;

// POSTs `body` to `path` ("/v3/kv/txn") on each endpoint in turn until one answers; an endpoint
// that cannot be reached has timeout_ms for every step. `done` is called once, on the loop's
// thread: later, or at once when no endpoint can be tried. The call owns itself until then.
void call_etcd(uv_loop_t* loop, std::vector<std::string> endpoints, std::string_view path,
               const nlohmann::json& body, uint64_t timeout_ms, EtcdAnswerFn done);

// A revision field of an answer (int64 as a JSON string, proto3's mapping); 0 when absent.
uint64_t etcd_revision(const nlohmann::json* object, const char* name);

}  // namespace waygate::discovery
