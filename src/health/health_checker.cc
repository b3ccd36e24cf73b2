// HealthChecker: every checked endpoint sits in one DueHeap under one uv_timer, due when its next
// check starts or, while a check is under way, at that check's deadline; the timer fires for the
// earliest and starts or times out whatever is due by then.
#include "health/health_checker.h"

#include <algorithm>
#include <random>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "core/log.h"
#include "core/tls_context.h"
#include "core/uv_handle.h"
#include "health/due_heap.h"
#include "health/http2_probe.h"
#include "health/http_probe.h"
#include "health/tcp_probe.h"
#include "routing/upstream_tls.h"

namespace waygate::health {
namespace {

using routing::HealthCheckConfig;

// Checks that fall due within one tick start together, a little late: the loop wakes at most once
// a tick for them instead of every millisecond that has a check due, and sends each batch at once.
constexpr uint64_t kTickMs = 10;

// Compares every field: a change in any of them restarts the cluster's checks.
bool same_checks(const std::optional<HealthCheckConfig>& a,
                 const std::optional<HealthCheckConfig>& b) {
  if (!a || !b) return !a && !b;
  auto fields = [](const HealthCheckConfig& c) {
    return std::tie(c.kind, c.method, c.path, c.host, c.expect, c.body, c.interval_ms,
                    c.unhealthy_interval_ms, c.timeout_ms, c.jitter_percent, c.healthy_threshold,
                    c.unhealthy_threshold, c.start_healthy, c.http2, c.grpc_service);
  };
  auto tls_identity = [](const HealthCheckConfig& c) { return c.tls ? c.tls->identity : 0; };
  return fields(*a) == fields(*b) && tls_identity(*a) == tls_identity(*b);
}

}  // namespace

class HealthChecker::Impl {
 public:
  Impl(uv_loop_t* loop, VerdictFn on_verdict)
      : loop_(loop), on_verdict_(std::move(on_verdict)), random_(std::random_device{}()) {
    timer_.init(uv_timer_init, loop, this);
  }

  // Endpoints go first: their probes close their connections; then the timer closes.
  ~Impl() { clusters_.clear(); }

  void set_cluster(const std::string& name, const std::optional<HealthCheckConfig>& config,
                   const std::vector<routing::EndpointSpec>& specs);
  void remove_cluster(const std::string& name);
  routing::HealthVerdict verdict(const std::string& cluster, const std::string& address) const;
  const Stats& stats() const { return stats_; }

 private:
  struct Cluster;

  struct Endpoint final : ProbeSink {
    Endpoint(Impl& owner, Cluster& in, const routing::EndpointSpec& spec, bool start_healthy)
        : checker(owner),
          cluster(in),
          address_text(spec.address_text),
          server_name(spec.server_name),
          address(spec.address),
          healthy(start_healthy),
          proven(start_healthy) {}

    void on_probe_done(bool passed, const char* reason) override {
      checker.finish(*this, passed, reason);
    }

    Impl& checker;
    Cluster& cluster;
    const std::string address_text;
    const std::string server_name;  // the DNS name it was found under (TLS names)
    const SocketAddress address;
    bool healthy;
    bool proven;            // has been healthy at some time
    uint32_t passes = 0;    // in a row
    uint32_t failures = 0;  // in a row
    // A check is under way, and the schedule holds its deadline rather than the next check.
    bool checking = false;
    size_t heap_index = DueHeap<Endpoint>::kNotQueued;
    std::unique_ptr<Probe> probe;  // made at the first check; keeps an HTTP connection open
  };

  struct Cluster {
    std::string name;
    std::optional<HealthCheckConfig> config;
    std::unordered_map<std::string, std::unique_ptr<Endpoint>> endpoints;  // by address text
  };

  struct Verdict {
    std::string cluster;
    std::string address;
  };

  bool knows(const std::string& cluster, const std::string& address) const;
  std::unique_ptr<Probe> make_probe(Endpoint& endpoint);
  void start_check(Endpoint& endpoint, uint64_t now);
  void finish(Endpoint& endpoint, bool passed, const char* reason);
  void stop(Endpoint& endpoint);
  void schedule_first_check(Endpoint& endpoint);
  uint64_t jittered(uint64_t interval_ms, uint32_t jitter_percent);
  void arm_timer();
  static void on_timer(uv_timer_t* timer);
  void run_due();

  uv_loop_t* loop_;
  VerdictFn on_verdict_;
  std::minstd_rand random_;
  UvHandle<uv_timer_t> timer_;
  bool timer_armed_ = false;
  uint64_t timer_due_ = 0;
  uint64_t last_run_ = 0;  // when the timer last fired
  DueHeap<Endpoint> schedule_;
  std::unordered_map<std::string, std::unique_ptr<Cluster>> clusters_;
  // Endpoints made healthy by turning a cluster's checks off: told from the timer, so the verdict
  // callback never runs inside set_cluster.
  std::vector<Verdict> healthy_without_checks_;
  Stats stats_;
};

void HealthChecker::Impl::set_cluster(const std::string& name,
                                      const std::optional<HealthCheckConfig>& config,
                                      const std::vector<routing::EndpointSpec>& specs) {
  // The loop's clock may be stale here (a long startup, a slow reload): new checks are spread
  // from the real now, or a stale one would make them all due at the first turn of the loop.
  uv_update_time(loop_);
  std::unique_ptr<Cluster>& slot = clusters_[name];
  if (!slot) {
    slot = std::make_unique<Cluster>();
    slot->name = name;
  }
  Cluster& cluster = *slot;
  if (!config) {
    // Without checks every endpoint is healthy and none is tracked, so a change to a cluster of
    // 100,000 endpoints costs nothing here. Those that were unhealthy are healthy from now on.
    for (auto& [address, endpoint] : cluster.endpoints) {
      stop(*endpoint);
      if (!endpoint->healthy) healthy_without_checks_.push_back({name, address});
    }
    cluster.endpoints.clear();
    cluster.config.reset();
    arm_timer();
    return;
  }

  std::unordered_set<std::string_view> wanted;
  for (const routing::EndpointSpec& spec : specs)
    wanted.insert(spec.address_text);
  std::erase_if(cluster.endpoints, [&](const auto& entry) {
    if (wanted.contains(entry.first)) return false;
    stop(*entry.second);
    return true;
  });

  if (!same_checks(cluster.config, config)) {
    for (auto& [address, endpoint] : cluster.endpoints) {
      stop(*endpoint);
      endpoint->probe.reset();  // made for the old config
      endpoint->passes = endpoint->failures = 0;
    }
    cluster.config = config;
    for (auto& entry : cluster.endpoints)
      schedule_first_check(*entry.second);
  }

  for (const routing::EndpointSpec& spec : specs) {
    auto [it, inserted] = cluster.endpoints.try_emplace(spec.address_text);
    if (!inserted) continue;
    it->second = std::make_unique<Endpoint>(*this, cluster, spec, config->start_healthy);
    schedule_first_check(*it->second);
  }
  arm_timer();
}

void HealthChecker::Impl::remove_cluster(const std::string& name) {
  auto it = clusters_.find(name);
  if (it == clusters_.end()) return;
  for (auto& entry : it->second->endpoints)
    stop(*entry.second);
  clusters_.erase(it);
}

// Whether the endpoint is still in the cluster (it may have left since a verdict was queued).
bool HealthChecker::Impl::knows(const std::string& cluster, const std::string& address) const {
  auto in_cluster = clusters_.find(cluster);
  if (in_cluster == clusters_.end()) return false;
  // A cluster without checks tracks no endpoint: each is healthy, whichever it is.
  return !in_cluster->second->config || in_cluster->second->endpoints.contains(address);
}

routing::HealthVerdict HealthChecker::Impl::verdict(const std::string& cluster,
                                                    const std::string& address) const {
  using routing::HealthVerdict;
  auto in_cluster = clusters_.find(cluster);
  if (in_cluster == clusters_.end()) return HealthVerdict::kHealthy;
  auto found = in_cluster->second->endpoints.find(address);
  if (found == in_cluster->second->endpoints.end()) return HealthVerdict::kHealthy;
  const Endpoint& endpoint = *found->second;
  if (endpoint.healthy) return HealthVerdict::kHealthy;
  return endpoint.proven ? HealthVerdict::kUnhealthy : HealthVerdict::kUnproven;
}

std::unique_ptr<Probe> HealthChecker::Impl::make_probe(Endpoint& endpoint) {
  const HealthCheckConfig& config = *endpoint.cluster.config;
  if (config.kind == HealthCheckConfig::Kind::kTcp) {
    return std::make_unique<TcpProbe>(loop_, endpoint.address, endpoint);
  }
  std::string_view host = config.host.empty() ? endpoint.address_text : config.host;
  http::Client::TlsSessionFn new_tls_session;
  if (config.tls) {
    new_tls_session = [tls = config.tls, peer = endpoint.address_text,
                       names = routing::tls_peer_names(*config.tls, endpoint.server_name,
                                                       endpoint.address_text)] {
      return tls->context->new_ssl(peer, names.sni, names.verify);
    };
  }
  if (config.http2) {  // the HTTP check in HTTP/2, or the gRPC check (validated: http2 only)
    return std::make_unique<Http2Probe>(loop_, endpoint.address, config, host, endpoint,
                                        std::move(new_tls_session));
  }
  return std::make_unique<HttpProbe>(loop_, endpoint.address, config, host, endpoint,
                                     std::move(new_tls_session));
}

void HealthChecker::Impl::start_check(Endpoint& endpoint, uint64_t now) {
  if (!endpoint.probe) endpoint.probe = make_probe(endpoint);
  endpoint.checking = true;
  ++stats_.in_flight;
  schedule_.schedule(endpoint, now + std::max<uint64_t>(endpoint.cluster.config->timeout_ms, 1));
  if (!endpoint.probe->start()) finish(endpoint, false, "connect-failed");
}

void HealthChecker::Impl::finish(Endpoint& endpoint, bool passed, const char* reason) {
  const HealthCheckConfig& config = *endpoint.cluster.config;
  endpoint.checking = false;
  --stats_.in_flight;
  ++stats_.checks;
  bool was_healthy = endpoint.healthy;
  if (passed) {
    ++stats_.passed;
    endpoint.failures = 0;
    ++endpoint.passes;
    if (endpoint.passes >= std::max<uint32_t>(config.healthy_threshold, 1)) {
      endpoint.healthy = endpoint.proven = true;
    }
  } else {
    ++stats_.failed;
    endpoint.passes = 0;
    ++endpoint.failures;
    if (endpoint.failures >= std::max<uint32_t>(config.unhealthy_threshold, 1)) {
      endpoint.healthy = false;
    }
  }

  uint64_t interval = !endpoint.healthy && config.unhealthy_interval_ms > 0
                          ? config.unhealthy_interval_ms
                          : config.interval_ms;
  schedule_.schedule(endpoint, uv_now(loop_) + jittered(interval, config.jitter_percent));
  arm_timer();

  if (endpoint.healthy == was_healthy) return;
  bool healthy = endpoint.healthy;
  // Copies: the callback may remove the endpoint (a reload, a discovery update).
  std::string cluster = endpoint.cluster.name;
  std::string address = endpoint.address_text;
  if (healthy) {
    WG_LOG_INFO("health: cluster %s: endpoint %s is now healthy (%u checks passed in a row)",
                cluster.c_str(), address.c_str(), endpoint.passes);
  } else {
    WG_LOG_WARN(
        "health: cluster %s: endpoint %s is now unhealthy (%u checks failed in a row, last: %s)",
        cluster.c_str(), address.c_str(), endpoint.failures, reason);
  }
  on_verdict_(cluster, address, healthy);
}

void HealthChecker::Impl::stop(Endpoint& endpoint) {
  if (endpoint.checking) {
    endpoint.checking = false;
    --stats_.in_flight;
  }
  if (endpoint.probe) endpoint.probe->abandon();
  schedule_.remove(endpoint);
}

// Somewhere in the first interval (the shorter one when there are two), so endpoints added
// together, at start or by a reload, do not all get checked at once.
void HealthChecker::Impl::schedule_first_check(Endpoint& endpoint) {
  const HealthCheckConfig& config = *endpoint.cluster.config;
  uint64_t interval = config.interval_ms;
  if (config.unhealthy_interval_ms > 0) interval = std::min(interval, config.unhealthy_interval_ms);
  std::uniform_int_distribution<uint64_t> offset(0, interval);
  schedule_.schedule(endpoint, uv_now(loop_) + offset(random_));
}

// interval +- jitter_percent, uniformly, so checks that started together drift apart.
uint64_t HealthChecker::Impl::jittered(uint64_t interval_ms, uint32_t jitter_percent) {
  auto interval = static_cast<int64_t>(std::max<uint64_t>(interval_ms, 1));
  int64_t span = interval * std::min<uint32_t>(jitter_percent, 100) / 100;
  std::uniform_int_distribution<int64_t> jitter(-span, span);
  return static_cast<uint64_t>(std::max<int64_t>(interval + jitter(random_), 1));
}

// Re-armed only when something became due earlier than the timer is set for; a timer that fires
// early (its endpoint left or was rescheduled later) finds nothing due and re-arms.
void HealthChecker::Impl::arm_timer() {
  uint64_t now = uv_now(loop_);
  uint64_t due;
  if (!healthy_without_checks_.empty()) {
    due = now;
  } else if (!schedule_.empty()) {
    due = schedule_.top_due();
  } else {
    return;
  }
  due = std::max(due, last_run_ + kTickMs);
  if (timer_armed_ && timer_due_ <= due) return;
  timer_armed_ = true;
  timer_due_ = due;
  uv_timer_start(timer_.get(), &Impl::on_timer, due > now ? due - now : 0, 0);
}

void HealthChecker::Impl::on_timer(uv_timer_t* timer) {
  auto* self = static_cast<Impl*>(timer->data);
  self->timer_armed_ = false;
  self->last_run_ = uv_now(self->loop_);
  self->run_due();
  self->arm_timer();
}

void HealthChecker::Impl::run_due() {
  std::vector<Verdict> verdicts;
  verdicts.swap(healthy_without_checks_);
  for (const Verdict& verdict : verdicts) {
    if (!knows(verdict.cluster, verdict.address)) continue;
    WG_LOG_INFO("health: cluster %s: endpoint %s is now healthy (checks turned off)",
                verdict.cluster.c_str(), verdict.address.c_str());
    on_verdict_(verdict.cluster, verdict.address, true);
  }

  uint64_t now = uv_now(loop_);
  while (!schedule_.empty() && schedule_.top_due() <= now) {
    Endpoint& endpoint = schedule_.top();
    if (endpoint.checking) {
      endpoint.probe->abandon();
      finish(endpoint, false, "timeout");
    } else {
      start_check(endpoint, now);
    }
  }
}

HealthChecker::HealthChecker(uv_loop_t* loop, VerdictFn on_verdict)
    : impl_(std::make_unique<Impl>(loop, std::move(on_verdict))) {}

HealthChecker::~HealthChecker() = default;

void HealthChecker::set_cluster(const std::string& cluster,
                                const std::optional<routing::HealthCheckConfig>& config,
                                const std::vector<routing::EndpointSpec>& endpoints) {
  impl_->set_cluster(cluster, config, endpoints);
}

void HealthChecker::remove_cluster(const std::string& cluster) {
  impl_->remove_cluster(cluster);
}

routing::HealthVerdict HealthChecker::verdict(const std::string& cluster,
                                              const std::string& address) const {
  return impl_->verdict(cluster, address);
}

const HealthChecker::Stats& HealthChecker::stats() const {
  return impl_->stats();
}

}  // namespace waygate::health
