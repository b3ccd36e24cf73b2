// HealthChecker against real servers on loopback, all on the test's loop: the servers count what
// reaches them, so each test checks what an endpoint's owner would see, not the checker's word.
#include "health/health_checker.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/uv_handle.h"
#include "loop_http_server.h"

namespace waygate::health {
namespace {

using routing::HealthCheckConfig;

// Ends a test that would otherwise hang; never a timing assertion.
constexpr uint64_t kGuardMs = 10'000;

struct Verdict {
  std::string cluster;
  std::string address;
  bool healthy;
};

routing::EndpointSpec endpoint(const std::string& text) {
  routing::EndpointSpec spec;
  spec.address_text = text;
  spec.address = *parse_socket_address(text);
  return spec;
}

// Quick checks: every 20 ms, and a timeout long enough that a loaded machine never trips it by
// accident.
HealthCheckConfig quick_check(HealthCheckConfig::Kind kind = HealthCheckConfig::Kind::kHttp) {
  HealthCheckConfig config;
  config.kind = kind;
  config.interval_ms = 20;
  config.timeout_ms = 5'000;
  config.healthy_threshold = 2;
  config.unhealthy_threshold = 2;
  return config;
}

class HealthCheckerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    uv_timer_init(&loop_, &guard_);
    checker_ = std::make_unique<HealthChecker>(
        &loop_, [this](const std::string& cluster, const std::string& address, bool healthy) {
          verdicts_.push_back({cluster, address, healthy});
          if (on_verdict_) on_verdict_(verdicts_.back());
        });
  }

  void TearDown() override {
    checker_.reset();
    servers_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&guard_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);       // close callbacks free what the checker left
    EXPECT_EQ(uv_loop_close(&loop_), 0);  // every handle closed: nothing left behind
  }

  LoopServer& serve(LoopServer::Script script) {
    servers_.push_back(std::make_unique<LoopServer>(&loop_, std::move(script)));
    return *servers_.back();
  }

  void check(const std::string& cluster, const HealthCheckConfig& config,
             const std::vector<std::string>& addresses) {
    std::vector<routing::EndpointSpec> endpoints;
    for (const std::string& address : addresses)
      endpoints.push_back(endpoint(address));
    checker_->set_cluster(cluster, config, endpoints);
  }

  // Runs the loop until `done` holds, or the guard expires; returns whether it holds.
  bool run_until(const std::function<bool()>& done) {
    bool expired = false;
    guard_.data = &expired;
    uv_timer_start(
        &guard_, [](uv_timer_t* timer) { *static_cast<bool*>(timer->data) = true; }, kGuardMs, 0);
    while (!done() && !expired)
      uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&guard_);
    return done();
  }

  bool run_until_verdicts(size_t count) {
    return run_until([&] { return verdicts_.size() >= count; });
  }

  const HealthChecker::Stats& stats() const { return checker_->stats(); }

  uv_loop_t loop_;
  uv_timer_t guard_;
  std::vector<std::unique_ptr<LoopServer>> servers_;
  std::unique_ptr<HealthChecker> checker_;
  std::vector<Verdict> verdicts_;
  std::function<void(const Verdict&)> on_verdict_;  // runs inside the checker's callback
};

TEST_F(HealthCheckerTest, HealthyServerTurnsHealthyAfterHealthyThresholdPasses) {
  LoopServer& server = serve(LoopServer::always(http_response(200)));
  HealthCheckConfig config = quick_check();
  config.healthy_threshold = 3;
  int requests_at_verdict = 0;
  on_verdict_ = [&](const Verdict&) { requests_at_verdict = server.requests(); };
  check("api", config, {server.address()});
  EXPECT_FALSE(checker_->healthy("api", server.address()));

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_EQ(verdicts_[0].cluster, "api");
  EXPECT_EQ(verdicts_[0].address, server.address());
  EXPECT_TRUE(verdicts_[0].healthy);
  EXPECT_EQ(requests_at_verdict, 3);
  EXPECT_TRUE(checker_->healthy("api", server.address()));
}

TEST_F(HealthCheckerTest, FailingServerTurnsUnhealthyAfterUnhealthyThresholdFailures) {
  LoopServer& server = serve(LoopServer::always(http_response(500)));
  HealthCheckConfig config = quick_check();
  config.start_healthy = true;
  config.unhealthy_threshold = 3;
  int requests_at_verdict = 0;
  on_verdict_ = [&](const Verdict&) { requests_at_verdict = server.requests(); };
  check("api", config, {server.address()});
  EXPECT_TRUE(checker_->healthy("api", server.address()));

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_FALSE(verdicts_[0].healthy);
  EXPECT_EQ(requests_at_verdict, 3);
  EXPECT_FALSE(checker_->healthy("api", server.address()));
}

// Unproven (never passed) stays apart from unhealthy (passed once, fails now): only the latter
// takes traffic when its cluster panics.
TEST_F(HealthCheckerTest, EndpointThatNeverPassedIsUnprovenAndOneThatFailedLaterIsUnhealthy) {
  bool passing = true;
  LoopServer& flaky = serve([&](const LoopServer::Request&) {
    return LoopServer::Action{http_response(passing ? 200 : 500)};
  });
  LoopServer& broken = serve(LoopServer::always(http_response(500)));
  check("api", quick_check(), {flaky.address(), broken.address()});
  EXPECT_EQ(checker_->verdict("api", broken.address()), routing::HealthVerdict::kUnproven);

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_EQ(checker_->verdict("api", flaky.address()), routing::HealthVerdict::kHealthy);
  passing = false;
  ASSERT_TRUE(run_until_verdicts(2));
  EXPECT_EQ(checker_->verdict("api", flaky.address()), routing::HealthVerdict::kUnhealthy);
  EXPECT_EQ(checker_->verdict("api", broken.address()), routing::HealthVerdict::kUnproven);
}

TEST_F(HealthCheckerTest, PassingChecksOfAHealthyEndpointReportNothing) {
  LoopServer& server = serve(LoopServer::always(http_response(200)));
  HealthCheckConfig config = quick_check();
  config.start_healthy = true;
  check("api", config, {server.address()});

  ASSERT_TRUE(run_until([&] { return stats().passed >= 5; }));
  EXPECT_TRUE(verdicts_.empty());
  EXPECT_EQ(stats().failed, 0u);
}

TEST_F(HealthCheckerTest, StatusInAnExpectedRangePasses) {
  LoopServer& server = serve(LoopServer::always(http_response(204, "")));
  HealthCheckConfig config = quick_check();
  config.expect = {{200, 299}};
  check("api", config, {server.address()});

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_TRUE(verdicts_[0].healthy);
}

TEST_F(HealthCheckerTest, StatusOutsideEveryExpectedRangeFails) {
  LoopServer& server =
      serve(LoopServer::always(http_response(302, "", "Location: /elsewhere\r\n")));
  HealthCheckConfig config = quick_check();
  config.expect = {{200, 299}};
  config.start_healthy = true;
  check("api", config, {server.address()});

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_FALSE(verdicts_[0].healthy);
  EXPECT_EQ(stats().passed, 0u);
}

TEST_F(HealthCheckerTest, StatusInAnyOfSeveralRangesPasses) {
  LoopServer& server =
      serve(LoopServer::always(http_response(302, "", "Location: /elsewhere\r\n")));
  HealthCheckConfig config = quick_check();
  config.expect = {{200, 299}, {300, 302}};
  check("api", config, {server.address()});

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_TRUE(verdicts_[0].healthy);
}

TEST_F(HealthCheckerTest, BodyContainingTheTextPasses) {
  LoopServer& server = serve(LoopServer::always(http_response(200, "{\"status\": \"serving\"}")));
  HealthCheckConfig config = quick_check();
  config.body = "\"serving\"";
  check("api", config, {server.address()});

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_TRUE(verdicts_[0].healthy);
}

TEST_F(HealthCheckerTest, BodyWithoutTheTextFails) {
  LoopServer& server = serve(LoopServer::always(http_response(200, "{\"status\": \"draining\"}")));
  HealthCheckConfig config = quick_check();
  config.body = "\"serving\"";
  config.start_healthy = true;
  check("api", config, {server.address()});

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_FALSE(verdicts_[0].healthy);
  EXPECT_EQ(stats().passed, 0u);
}

TEST_F(HealthCheckerTest, OnlyTheFirst64KiBOfTheBodyAreSearched) {
  std::string early = "serving" + std::string(200 * 1024, 'x');
  std::string late = std::string(200 * 1024, 'x') + "serving";
  LoopServer& early_server = serve(LoopServer::always(http_response(200, early)));
  LoopServer& late_server = serve(LoopServer::always(http_response(200, late)));
  HealthCheckConfig config = quick_check();
  config.body = "serving";
  config.healthy_threshold = 1;
  check("api", config, {early_server.address(), late_server.address()});

  ASSERT_TRUE(run_until([&] { return stats().failed >= 3 && !verdicts_.empty(); }));
  ASSERT_EQ(verdicts_.size(), 1u);
  EXPECT_EQ(verdicts_[0].address, early_server.address());
  EXPECT_FALSE(checker_->healthy("api", late_server.address()));
}

TEST_F(HealthCheckerTest, SilentServerFailsByTimeout) {
  LoopServer& server = serve(LoopServer::silent());
  HealthCheckConfig config = quick_check();
  config.timeout_ms = 50;
  config.start_healthy = true;
  check("api", config, {server.address()});

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_FALSE(verdicts_[0].healthy);
  EXPECT_EQ(stats().failed, 2u);
  // A timed-out check drops its connection: each check came on a new one.
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(HealthCheckerTest, RefusedConnectionFails) {
  std::string address = refused_address();
  HealthCheckConfig config = quick_check();
  config.start_healthy = true;
  check("api", config, {address});

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_FALSE(verdicts_[0].healthy);
  EXPECT_EQ(verdicts_[0].address, address);
}

TEST_F(HealthCheckerTest, RequestCarriesTheConfiguredMethodPathAndHost) {
  LoopServer& server = serve(LoopServer::always(http_response(200, "")));
  HealthCheckConfig config = quick_check();
  config.method = "HEAD";
  config.path = "/healthz?deep=1";
  config.host = "health.internal";
  check("api", config, {server.address()});

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_TRUE(verdicts_[0].healthy);
  const std::string& head = server.request_log().at(0).head;
  EXPECT_EQ(head.rfind("HEAD /healthz?deep=1 HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nHost: health.internal\r\n"), std::string::npos) << head;
}

TEST_F(HealthCheckerTest, HostDefaultsToTheEndpointAddress) {
  LoopServer& server = serve(LoopServer::always(http_response(200)));
  check("api", quick_check(), {server.address()});

  ASSERT_TRUE(run_until([&] { return server.requests() >= 1; }));
  const std::string& head = server.request_log().at(0).head;
  EXPECT_EQ(head.rfind("GET / HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nHost: " + server.address() + "\r\n"), std::string::npos) << head;
}

TEST_F(HealthCheckerTest, KeepAliveConnectionServesSeveralChecks) {
  LoopServer& server = serve(LoopServer::always(http_response(200)));
  check("api", quick_check(), {server.address()});

  ASSERT_TRUE(run_until([&] { return stats().passed >= 5; }));
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.requests(), 5);
}

TEST_F(HealthCheckerTest, ConnectionCloseAnswerMeansANewConnectionForEachCheck) {
  LoopServer& server = serve([](const LoopServer::Request&) {
    return LoopServer::Action{http_response(200, "ok", "Connection: close\r\n"), true};
  });
  HealthCheckConfig config = quick_check();
  config.start_healthy = true;
  check("api", config, {server.address()});

  ASSERT_TRUE(run_until([&] { return stats().passed >= 4; }));
  EXPECT_EQ(stats().failed, 0u);
  EXPECT_EQ(server.connections(), 4);
}

// The race every keep-alive client meets: the server closes an idle connection just as the next
// request goes out on it. That is no sign of ill health.
TEST_F(HealthCheckerTest, KeptConnectionClosedByTheServerIsNotAFailure) {
  // The second request on the first connection finds it closing.
  LoopServer& server = serve([on_first = 0](const LoopServer::Request& request) mutable {
    if (request.connection == 0 && on_first++ == 1) return LoopServer::Action{std::nullopt, true};
    return LoopServer::Action{http_response(200)};
  });
  HealthCheckConfig config = quick_check();
  config.start_healthy = true;
  config.unhealthy_threshold = 1;
  check("api", config, {server.address()});

  ASSERT_TRUE(run_until([&] { return stats().passed >= 4; }));
  EXPECT_EQ(stats().failed, 0u);
  EXPECT_TRUE(verdicts_.empty());
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(HealthCheckerTest, TcpCheckPassesWhenTheConnectSucceeds) {
  LoopServer& server = serve(LoopServer::silent());
  check("db", quick_check(HealthCheckConfig::Kind::kTcp), {server.address()});

  ASSERT_TRUE(run_until([&] { return !verdicts_.empty() && server.connections() >= 2; }));
  EXPECT_TRUE(verdicts_[0].healthy);
  EXPECT_EQ(server.requests(), 0);  // a connect, and not a byte more
}

TEST_F(HealthCheckerTest, TcpCheckFailsWhenRefused) {
  std::string address = refused_address();
  HealthCheckConfig config = quick_check(HealthCheckConfig::Kind::kTcp);
  config.start_healthy = true;
  check("db", config, {address});

  ASSERT_TRUE(run_until_verdicts(1));
  EXPECT_FALSE(verdicts_[0].healthy);
}

TEST_F(HealthCheckerTest, UnhealthyEndpointIsCheckedAtTheUnhealthyInterval) {
  LoopServer& server = serve(LoopServer::always(http_response(503)));
  HealthCheckConfig config = quick_check();
  config.interval_ms = 60'000;  // never reached in this test
  config.unhealthy_interval_ms = 20;
  check("api", config, {server.address()});

  EXPECT_TRUE(run_until([&] { return server.requests() >= 4; }));
}

TEST_F(HealthCheckerTest, EndpointThatStaysKeepsItsVerdict) {
  LoopServer& stays = serve(LoopServer::always(http_response(200)));
  LoopServer& leaves = serve(LoopServer::always(http_response(200)));
  LoopServer& joins = serve(LoopServer::always(http_response(200)));
  check("api", quick_check(), {stays.address(), leaves.address()});
  ASSERT_TRUE(run_until_verdicts(2));

  check("api", quick_check(), {stays.address(), joins.address()});
  EXPECT_TRUE(checker_->healthy("api", stays.address()));
  EXPECT_FALSE(checker_->healthy("api", joins.address()));
  int stays_requests = stays.requests();
  ASSERT_TRUE(run_until_verdicts(3));
  EXPECT_EQ(verdicts_[2].address, joins.address());
  EXPECT_TRUE(verdicts_[2].healthy);
  ASSERT_TRUE(run_until([&] { return stays.requests() >= stays_requests + 3; }));
  EXPECT_EQ(verdicts_.size(), 3u);  // nothing more about the endpoint that stayed
  EXPECT_EQ(stays.connections(), 1);
}

TEST_F(HealthCheckerTest, RemovedEndpointIsNoLongerChecked) {
  LoopServer& stays = serve(LoopServer::always(http_response(200)));
  LoopServer& leaves = serve(LoopServer::always(http_response(200)));
  check("api", quick_check(), {stays.address(), leaves.address()});
  ASSERT_TRUE(run_until([&] { return leaves.requests() >= 1 && stays.requests() >= 1; }));

  check("api", quick_check(), {stays.address()});
  int leaves_requests = leaves.requests();
  int stays_requests = stays.requests();
  ASSERT_TRUE(run_until([&] { return stays.requests() >= stays_requests + 10; }));
  // A request already on its way when the endpoint left may still arrive.
  EXPECT_LE(leaves.requests(), leaves_requests + 1);
  EXPECT_EQ(leaves.open_connections(), 0);
  EXPECT_TRUE(checker_->healthy("api", leaves.address()));  // unknown now
}

TEST_F(HealthCheckerTest, ChangedConfigKeepsTheVerdictAndChecksTheNewWay) {
  LoopServer& server = serve([](const LoopServer::Request& request) {
    bool old_path = request.head.rfind("GET /old ", 0) == 0;
    return LoopServer::Action{http_response(old_path ? 200 : 500)};
  });
  HealthCheckConfig config = quick_check();
  config.path = "/old";
  check("api", config, {server.address()});
  ASSERT_TRUE(run_until_verdicts(1));
  ASSERT_TRUE(verdicts_[0].healthy);

  config.path = "/new";
  check("api", config, {server.address()});
  EXPECT_TRUE(checker_->healthy("api", server.address()));
  ASSERT_TRUE(run_until_verdicts(2));
  EXPECT_FALSE(verdicts_[1].healthy);
  EXPECT_EQ(server.request_log().back().head.rfind("GET /new ", 0), 0u);
}

TEST_F(HealthCheckerTest, TurningChecksOffMakesAnUnhealthyEndpointHealthy) {
  LoopServer& server = serve(LoopServer::always(http_response(500)));
  HealthCheckConfig config = quick_check();
  config.start_healthy = true;
  check("api", config, {server.address()});
  ASSERT_TRUE(run_until_verdicts(1));
  ASSERT_FALSE(verdicts_[0].healthy);

  checker_->set_cluster("api", std::nullopt, {endpoint(server.address())});
  EXPECT_TRUE(checker_->healthy("api", server.address()));
  EXPECT_EQ(verdicts_.size(), 1u);  // told from the loop, not inside set_cluster
  ASSERT_TRUE(run_until_verdicts(2));
  EXPECT_TRUE(verdicts_[1].healthy);
  EXPECT_EQ(stats().in_flight, 0u);
}

TEST_F(HealthCheckerTest, RemovingAClusterAbandonsItsCheckSilently) {
  LoopServer& silent = serve(LoopServer::silent());
  LoopServer& other = serve(LoopServer::always(http_response(200)));
  HealthCheckConfig config = quick_check();
  config.start_healthy = true;
  config.unhealthy_threshold = 1;
  config.timeout_ms = 100;
  check("gone", config, {silent.address()});
  check("other", config, {other.address()});
  ASSERT_TRUE(run_until([&] { return silent.requests() == 1; }));

  checker_->remove_cluster("gone");
  // Long enough for the abandoned check's deadline to have passed several times over.
  int other_requests = other.requests();
  ASSERT_TRUE(run_until([&] { return other.requests() >= other_requests + 15; }));
  EXPECT_TRUE(verdicts_.empty());
  EXPECT_EQ(stats().failed, 0u);
  EXPECT_EQ(silent.open_connections(), 0);
  EXPECT_EQ(silent.requests(), 1);
}

// The owner of the checker may act on a verdict at once: a reload or a discovery update from
// inside the callback removes the endpoint whose check is just finishing.
TEST_F(HealthCheckerTest, VerdictCallbackMayRemoveTheEndpoint) {
  LoopServer& failing = serve(LoopServer::always(http_response(500)));
  LoopServer& other = serve(LoopServer::always(http_response(200)));
  HealthCheckConfig config = quick_check();
  config.start_healthy = true;
  config.unhealthy_threshold = 1;
  check("api", config, {failing.address()});
  check("other", config, {other.address()});
  on_verdict_ = [&](const Verdict& verdict) { checker_->remove_cluster(verdict.cluster); };

  ASSERT_TRUE(run_until_verdicts(1));
  int failing_requests = failing.requests();
  int other_requests = other.requests();
  ASSERT_TRUE(run_until([&] { return other.requests() >= other_requests + 5; }));
  EXPECT_EQ(failing.requests(), failing_requests);
  EXPECT_EQ(verdicts_.size(), 1u);
}

TEST_F(HealthCheckerTest, EndpointGoneBeforeItsQueuedVerdictIsToldNothing) {
  LoopServer& server = serve(LoopServer::always(http_response(500)));
  HealthCheckConfig config = quick_check();
  config.start_healthy = true;
  config.unhealthy_threshold = 1;
  check("api", config, {server.address()});
  ASSERT_TRUE(run_until_verdicts(1));

  checker_->set_cluster("api", std::nullopt, {endpoint(server.address())});
  checker_->remove_cluster("api");
  LoopServer& other = serve(LoopServer::always(http_response(200)));
  check("other", config, {other.address()});  // passes from the start: no verdict of its own
  ASSERT_TRUE(run_until([&] { return other.requests() >= 3; }));
  EXPECT_EQ(verdicts_.size(), 1u);
}

TEST_F(HealthCheckerTest, FirstChecksAreSpreadOverTheInterval) {
  HealthCheckConfig config = quick_check();
  config.interval_ms = 10'000;
  std::vector<std::string> addresses;
  for (int i = 0; i < 50; ++i)
    addresses.push_back(serve(LoopServer::always(http_response(200))).address());
  check("api", config, addresses);

  auto started = [&] { return stats().checks + stats().in_flight; };
  ASSERT_TRUE(run_until([&] { return started() >= 1; }));
  // Spread uniformly over 10 s, two first checks rarely share a millisecond; all 50 at once would
  // mean no spread at all.
  EXPECT_LT(started(), 25u);
}

TEST_F(HealthCheckerTest, DestroyingTheCheckerWithAnHttpCheckUnderWayLeavesNothingBehind) {
  LoopServer& server = serve(LoopServer::silent());
  HealthCheckConfig config = quick_check();
  config.start_healthy = true;
  config.unhealthy_threshold = 1;
  config.timeout_ms = 50;
  check("api", config, {server.address()});
  ASSERT_TRUE(run_until([&] { return server.requests() == 1; }));

  checker_.reset();
  ASSERT_TRUE(run_until([&] { return server.open_connections() == 0; }));
  EXPECT_TRUE(verdicts_.empty());
}

TEST_F(HealthCheckerTest, DestroyingTheCheckerWithAConnectUnderWayLeavesNothingBehind) {
  LoopServer& tcp_server = serve(LoopServer::silent());
  LoopServer& http_server = serve(LoopServer::silent());
  HealthCheckConfig config = quick_check(HealthCheckConfig::Kind::kTcp);
  config.interval_ms = 1;
  check("db", config, {tcp_server.address()});
  config.kind = HealthCheckConfig::Kind::kHttp;
  check("api", config, {http_server.address()});
  // A prepare callback runs after the timer that starts a check and before the loop polls for its
  // connect: destroying the checker there, while the HTTP check waits for its answer, catches a
  // TCP connect under way as well.
  UvHandle<uv_prepare_t> prepare;
  prepare.init(uv_prepare_init, &loop_, &checker_);
  uv_prepare_start(prepare.get(), [](uv_prepare_t* handle) {
    auto& checker = *static_cast<std::unique_ptr<HealthChecker>*>(handle->data);
    if (checker && checker->stats().in_flight == 2) checker.reset();
  });
  ASSERT_TRUE(run_until([&] { return checker_ == nullptr; }));
  prepare.reset();
  ASSERT_TRUE(run_until(
      [&] { return tcp_server.open_connections() == 0 && http_server.open_connections() == 0; }));
  EXPECT_TRUE(verdicts_.empty());
}

}  // namespace
}  // namespace waygate::health
