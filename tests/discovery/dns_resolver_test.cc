// DnsResolver against a real dnsmasq on loopback (records, TTLs, NXDOMAIN, reloads, a stopped
// server) and against a fake server on the test's loop (SERVFAIL, malformed answers, silence),
// plus the lifetime rules: no callback inside the starting call, none after destruction.
#include "discovery/dns_resolver.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/uv_handle.h"
#include "dnsmasq_process.h"
#include "fake_dns_server.h"

namespace waygate::discovery {
namespace {

using namespace test;

std::vector<std::string> sorted(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  return values;
}

// A loop per test. TearDown destroys what the test left and runs the loop on, so that
// uv_loop_close proves every handle was closed.
class LoopTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }

  void TearDown() override {
    resolver_.reset();
    fake_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  void make_resolver(const std::string& server, uint64_t timeout_ms = 1000, int tries = 2) {
    resolver_ =
        std::make_unique<DnsResolver>(&loop_, DnsResolver::Options{server, timeout_ms, tries});
    ASSERT_EQ(resolver_->error(), "");
  }

  // Runs the loop until done() holds; false if a 10 s guard (against hangs) expired first.
  template <typename Done>
  bool run_until(Done done) {
    bool expired = false;
    UvHandle<uv_timer_t> guard;
    guard.init(uv_timer_init, &loop_, &expired);
    uv_timer_start(
        guard.get(), [](uv_timer_t* timer) { *static_cast<bool*>(timer->data) = true; }, 10000, 0);
    while (!done() && !expired)
      uv_run(&loop_, UV_RUN_ONCE);
    return done();
  }

  // The answers live on the heap: a callback that came after a failed test must not write into
  // a returned stack frame.
  AddressAnswer resolve(const std::string& name, AddressFamily family = AddressFamily::kAny) {
    auto answer = std::make_shared<std::optional<AddressAnswer>>();
    resolver_->resolve_addresses(name, family, [answer](AddressAnswer a) { *answer = a; });
    EXPECT_TRUE(run_until([&] { return answer->has_value(); })) << "no answer for " << name;
    return answer->value_or(AddressAnswer{});
  }

  SrvAnswer resolve_srv(const std::string& name) {
    auto answer = std::make_shared<std::optional<SrvAnswer>>();
    resolver_->resolve_srv(name, [answer](SrvAnswer a) { *answer = a; });
    EXPECT_TRUE(run_until([&] { return answer->has_value(); })) << "no answer for " << name;
    return answer->value_or(SrvAnswer{});
  }

  uv_loop_t loop_;
  std::unique_ptr<FakeDnsServer> fake_;
  std::unique_ptr<DnsResolver> resolver_;
};

constexpr int kBigCount = 60;  // A records of big.test: more than a 512-byte UDP answer holds

std::string hosts() {
  std::string hosts =
      "127.0.0.5 web.test\n"
      "127.0.0.6 web.test\n"
      "2001:db8::5 web.test\n"
      "127.0.0.7 v4only.test\n"
      "127.0.0.11 web1.test\n"
      "127.0.0.12 web2.test\n";
  for (int i = 1; i <= kBigCount; ++i)
    hosts += "127.0.1." + std::to_string(i) + " big.test\n";
  return hosts;
}

class DnsmasqTest : public LoopTest {
 protected:
  void SetUp() override {
    LoopTest::SetUp();
    ASSERT_TRUE(dnsmasq_.start(hosts(), {
                                            "--local-ttl=42",
                                            "--local=/test/",  // NXDOMAIN for unknown .test names
                                            "--srv-host=_http._tcp.svc.test,web1.test,8080,10,60",
                                            "--srv-host=_http._tcp.svc.test,web2.test,8081,20,5",
                                        }));
    make_resolver(dnsmasq_.server());
    // Readiness: dnsmasq answers a query.
    AddressAnswer probe = resolve("web.test", AddressFamily::kIPv4);
    ASSERT_EQ(probe.status, DnsStatus::kOk) << probe.error << "\n" << dnsmasq_.log();
  }

  DnsmasqProcess dnsmasq_;
};

TEST_F(DnsmasqTest, ARecordsCarryTheServersTtl) {
  AddressAnswer answer = resolve("web.test", AddressFamily::kIPv4);
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(sorted(answer.addresses), (std::vector<std::string>{"127.0.0.5", "127.0.0.6"}));
  EXPECT_EQ(answer.ttl, 42u);
  EXPECT_EQ(answer.error, "");
}

TEST_F(DnsmasqTest, AaaaRecordsAreIpv6Text) {
  AddressAnswer answer = resolve("web.test", AddressFamily::kIPv6);
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.addresses, std::vector<std::string>{"2001:db8::5"});
  EXPECT_EQ(answer.ttl, 42u);
}

TEST_F(DnsmasqTest, AnyFamilyListsIpv4BeforeIpv6) {
  AddressAnswer answer = resolve("web.test", AddressFamily::kAny);
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  ASSERT_EQ(answer.addresses.size(), 3u);
  EXPECT_EQ(sorted({answer.addresses[0], answer.addresses[1]}),
            (std::vector<std::string>{"127.0.0.5", "127.0.0.6"}));
  EXPECT_EQ(answer.addresses[2], "2001:db8::5");
  EXPECT_EQ(answer.ttl, 42u);
}

TEST_F(DnsmasqTest, AnyFamilyAnswersWithTheOneFamilyThereIs) {
  AddressAnswer answer = resolve("v4only.test", AddressFamily::kAny);
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.addresses, std::vector<std::string>{"127.0.0.7"});
}

TEST_F(DnsmasqTest, UnknownNameIsNoData) {
  AddressAnswer answer = resolve("nope.test");
  EXPECT_EQ(answer.status, DnsStatus::kNoData);
  EXPECT_TRUE(answer.addresses.empty());
  EXPECT_NE(answer.error.find("NXDOMAIN"), std::string::npos) << answer.error;
}

TEST_F(DnsmasqTest, NameWithoutRecordsOfTheFamilyIsNoData) {
  AddressAnswer answer = resolve("v4only.test", AddressFamily::kIPv6);
  EXPECT_EQ(answer.status, DnsStatus::kNoData);
  EXPECT_NE(answer.error.find("AAAA v4only.test: no records"), std::string::npos) << answer.error;
}

TEST_F(DnsmasqTest, RefusedQueryIsAFailure) {
  // Outside its local domain and without upstream servers, dnsmasq answers REFUSED.
  AddressAnswer answer = resolve("web.example", AddressFamily::kIPv4);
  EXPECT_EQ(answer.status, DnsStatus::kFailure);
  EXPECT_NE(answer.error.find("REFUSED"), std::string::npos) << answer.error;
}

TEST_F(DnsmasqTest, ChangedHostsFileIsAnsweredAfterSighup) {
  dnsmasq_.write_hosts("127.0.0.9 web.test\n");
  ASSERT_TRUE(dnsmasq_.reload());
  AddressAnswer answer = resolve("web.test", AddressFamily::kIPv4);
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.addresses, std::vector<std::string>{"127.0.0.9"});
}

TEST_F(DnsmasqTest, SrvRecordsCarryPriorityWeightPortAndTarget) {
  SrvAnswer answer = resolve_srv("_http._tcp.svc.test");
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  ASSERT_EQ(answer.records.size(), 2u);
  std::sort(answer.records.begin(), answer.records.end(),
            [](const SrvRecord& a, const SrvRecord& b) { return a.priority < b.priority; });
  EXPECT_EQ(answer.records[0].target, "web1.test");
  EXPECT_EQ(answer.records[0].port, 8080);
  EXPECT_EQ(answer.records[0].priority, 10);
  EXPECT_EQ(answer.records[0].weight, 60);
  EXPECT_EQ(answer.records[1].target, "web2.test");
  EXPECT_EQ(answer.records[1].port, 8081);
  EXPECT_EQ(answer.records[1].priority, 20);
  EXPECT_EQ(answer.records[1].weight, 5);
  EXPECT_EQ(answer.ttl, 42u);
  // The targets resolve with a lookup of their own.
  AddressAnswer target = resolve(answer.records[0].target);
  ASSERT_EQ(target.status, DnsStatus::kOk) << target.error;
  EXPECT_EQ(target.addresses, std::vector<std::string>{"127.0.0.11"});
}

TEST_F(DnsmasqTest, UnknownServiceIsNoData) {
  SrvAnswer answer = resolve_srv("_ftp._tcp.svc.test");
  EXPECT_EQ(answer.status, DnsStatus::kNoData) << answer.error;
  EXPECT_TRUE(answer.records.empty());
}

TEST_F(DnsmasqTest, StoppedServerFailsTheLookup) {
  dnsmasq_.stop(SIGKILL);
  AddressAnswer answer = resolve("web.test");
  EXPECT_EQ(answer.status, DnsStatus::kFailure);
  EXPECT_TRUE(answer.addresses.empty());
  EXPECT_NE(answer.error, "");
}

TEST_F(DnsmasqTest, LargeAnswerArrivesOverTcp) {
  // dnsmasq truncates the UDP answer (TC); c-ares asks again over TCP.
  AddressAnswer answer = resolve("big.test", AddressFamily::kIPv4);
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.addresses.size(), static_cast<size_t>(kBigCount));
}

TEST_F(DnsmasqTest, TwoResolversShareOneLoop) {
  DnsResolver other(&loop_, DnsResolver::Options{dnsmasq_.server(), 1000, 2});
  std::optional<AddressAnswer> first, second;
  resolver_->resolve_addresses("web.test", AddressFamily::kIPv6,
                               [&](AddressAnswer a) { first = a; });
  other.resolve_addresses("v4only.test", AddressFamily::kIPv4,
                          [&](AddressAnswer a) { second = a; });
  ASSERT_TRUE(run_until([&] { return first && second; }));
  EXPECT_EQ(first->addresses, std::vector<std::string>{"2001:db8::5"});
  EXPECT_EQ(second->addresses, std::vector<std::string>{"127.0.0.7"});
}

// The fake server answers A and AAAA queries with these records.
std::optional<Bytes> answer_a_and_aaaa(const Bytes& query) {
  if (query_type(query) == kDnsTypeA) {
    return reply(query, kResponseFlags, 3, [](Bytes& m) {
      put_pointer(m, kQuestionOffset);
      put_a(m, 30, "10.0.0.1");
      put_pointer(m, kQuestionOffset);
      put_a(m, 50, "10.0.0.1");
      put_pointer(m, kQuestionOffset);
      put_a(m, 40, "10.0.0.2");
    });
  }
  return reply(query, kResponseFlags, 1, [](Bytes& m) {
    put_pointer(m, kQuestionOffset);
    put_aaaa(m, 20, "2001:db8::1");
  });
}

class FakeServerTest : public LoopTest {
 protected:
  void serve(FakeDnsServer::Respond respond, uint64_t timeout_ms = 1000, int tries = 2) {
    fake_ = std::make_unique<FakeDnsServer>(&loop_, std::move(respond));
    make_resolver(fake_->server(), timeout_ms, tries);
  }
};

TEST_F(FakeServerTest, AnyFamilyDropsDuplicatesAndKeepsTheSmallestTtl) {
  serve(answer_a_and_aaaa);
  AddressAnswer answer = resolve("web.test");
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.addresses, (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "2001:db8::1"}));
  EXPECT_EQ(answer.ttl, 20u);
}

TEST_F(FakeServerTest, AnyFamilySucceedsWhenOneFamilyFails) {
  serve([](const Bytes& query) -> std::optional<Bytes> {
    if (query_type(query) == kDnsTypeAaaa)
      return reply(query, kResponseFlags | kDnsRcodeServFail, 0);
    return answer_a_and_aaaa(query);
  });
  AddressAnswer answer = resolve("web.test");
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.addresses, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(answer.ttl, 30u);
}

TEST_F(FakeServerTest, CnameTtlBoundsTheAnswersTtl) {
  serve([](const Bytes& query) -> std::optional<Bytes> {
    return reply(query, kResponseFlags, 2, [](Bytes& m) {
      put_pointer(m, kQuestionOffset);
      put_cname(m, 7, "edge.test");
      put_name(m, "edge.test");
      put_a(m, 60, "10.0.0.3");
    });
  });
  AddressAnswer answer = resolve("www.test", AddressFamily::kIPv4);
  ASSERT_EQ(answer.status, DnsStatus::kOk) << answer.error;
  EXPECT_EQ(answer.addresses, std::vector<std::string>{"10.0.0.3"});
  EXPECT_EQ(answer.ttl, 7u);
}

TEST_F(FakeServerTest, ServerFailureIsAFailure) {
  serve([](const Bytes& query) -> std::optional<Bytes> {
    return reply(query, kResponseFlags | kDnsRcodeServFail, 0);
  });
  AddressAnswer answer = resolve("web.test", AddressFamily::kIPv4);
  EXPECT_EQ(answer.status, DnsStatus::kFailure);
  EXPECT_NE(answer.error.find("SERVFAIL"), std::string::npos) << answer.error;
}

TEST_F(FakeServerTest, MalformedAnswerIsAFailure) {
  serve([](const Bytes& query) -> std::optional<Bytes> {
    return reply(query, kResponseFlags, 1, [](Bytes& m) {
      put_pointer(m, kQuestionOffset);
      put_fields(m, kDnsTypeA, 30, 5);  // an A record of 5 octets
      m.insert(m.end(), {10, 0, 0, 1, 0});
    });
  });
  AddressAnswer answer = resolve("web.test", AddressFamily::kIPv4);
  EXPECT_EQ(answer.status, DnsStatus::kFailure);
  EXPECT_NE(answer.error.find("malformed answer"), std::string::npos) << answer.error;
}

TEST_F(FakeServerTest, SrvTargetRootMeansNoService) {
  serve([](const Bytes& query) -> std::optional<Bytes> {
    return reply(query, kResponseFlags, 1, [](Bytes& m) {
      put_pointer(m, kQuestionOffset);
      put_srv(m, 30, 0, 0, 0, "");
    });
  });
  SrvAnswer answer = resolve_srv("_http._tcp.svc.test");
  EXPECT_EQ(answer.status, DnsStatus::kNoData);
  EXPECT_TRUE(answer.records.empty());
}

TEST_F(FakeServerTest, SilentServerFailsOnceItsTriesRunOut) {
  // The one test that waits for a timeout, as the timeout is the behaviour: 2 tries of 100 ms.
  serve([](const Bytes&) { return std::optional<Bytes>(); }, 100, 2);
  AddressAnswer answer = resolve("web.test", AddressFamily::kIPv4);
  EXPECT_EQ(answer.status, DnsStatus::kFailure);
  EXPECT_NE(answer.error.find("no answer within 200 ms"), std::string::npos) << answer.error;
  EXPECT_EQ(fake_->queries(), 2);
}

TEST_F(FakeServerTest, DestroyingTheResolverWithALookupInFlightCallsNothing) {
  bool called = false;
  serve([&](const Bytes&) {
    resolver_.reset();  // the query has reached the server: it is in flight
    return std::optional<Bytes>();
  });
  resolver_->resolve_addresses("web.test", AddressFamily::kAny,
                               [&](AddressAnswer) { called = true; });
  ASSERT_TRUE(run_until([&] { return resolver_ == nullptr; }));
  fake_.reset();
  uv_run(&loop_, UV_RUN_DEFAULT);  // until no handle is left: no timer may fire a callback
  EXPECT_FALSE(called);
}

TEST_F(LoopTest, CallbackNeverRunsInsideTheStartingCall) {
  // A bad server address: every lookup fails at once, yet the answer comes from the loop.
  resolver_ = std::make_unique<DnsResolver>(&loop_, DnsResolver::Options{"not-an-address", 100, 1});
  EXPECT_NE(resolver_->error(), "");
  bool called = false;
  resolver_->resolve_addresses("web.test", AddressFamily::kAny, [&](AddressAnswer answer) {
    called = true;
    EXPECT_EQ(answer.status, DnsStatus::kFailure);
    EXPECT_EQ(answer.error, resolver_->error());
  });
  EXPECT_FALSE(called);
  ASSERT_TRUE(run_until([&] { return called; }));
}

TEST_F(FakeServerTest, InvalidNameFailsFromTheLoop) {
  // c-ares refuses the name inside ares_query; the answer must still come from the loop.
  serve(answer_a_and_aaaa);
  bool called = false;
  std::string error;
  resolver_->resolve_addresses(std::string(64, 'a') + ".test", AddressFamily::kAny,
                               [&](AddressAnswer answer) {
                                 called = true;
                                 EXPECT_EQ(answer.status, DnsStatus::kFailure);
                                 error = answer.error;
                               });
  EXPECT_FALSE(called);
  ASSERT_TRUE(run_until([&] { return called; }));
  EXPECT_NE(error.find("not a valid DNS name"), std::string::npos) << error;
  EXPECT_EQ(fake_->queries(), 0);
}

TEST_F(LoopTest, ACallbackMayDestroyTheResolver) {
  resolver_ = std::make_unique<DnsResolver>(&loop_, DnsResolver::Options{"not-an-address", 100, 1});
  int calls = 0;
  for (int i = 0; i < 2; ++i) {
    resolver_->resolve_srv("_http._tcp.svc.test", [&](SrvAnswer) {
      ++calls;
      resolver_.reset();
    });
  }
  ASSERT_TRUE(run_until([&] { return calls > 0; }));
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace waygate::discovery
