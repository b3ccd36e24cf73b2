#include "admin/live_page.h"

#include <vector>

#include "admin/json_writer.h"
#include "proxy/server.h"
#include "proxy/worker.h"

namespace waygate::admin {

AdminResponse answer_live(const proxy::Server& server, uint64_t now_ms) {
  std::vector<uint64_t> stuck;
  for (size_t w = 0; w < server.worker_count(); ++w) {
    uint64_t last = server.worker(w).last_tick_ms();  // in the future once it has drained
    if (now_ms > last && now_ms - last >= kStuckAfterMs) stuck.push_back(w);
  }
  JsonWriter out;
  out.begin_object().member("live", stuck.empty()).key("stuck_workers").array_of(stuck);
  out.end_object();
  return AdminResponse::json(stuck.empty() ? 200 : 503, out.take());
}

}  // namespace waygate::admin
