// GET /live: whether waygate is alive. The control loop answering proves itself; a worker proves
// itself by its loop running its timers, so one stuck in a callback is named.
#pragma once

#include <cstdint>

#include "admin/admin_server.h"

namespace waygate::proxy {
class Server;
}  // namespace waygate::proxy

namespace waygate::admin {

// A worker loop that has not run its timers for this long is stuck.
inline constexpr uint64_t kStuckAfterMs = 10'000;

// 200 {"live": true, "stuck_workers": []}, or 503 {"live": false, "stuck_workers": [index, ...]}.
// `now_ms` is uv_hrtime in milliseconds.
AdminResponse answer_live(const proxy::Server& server, uint64_t now_ms);

}  // namespace waygate::admin
