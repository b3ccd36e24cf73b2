// A worker serving keep-alive requests through to a keep-alive upstream allocates nothing per
// request once warm: every allocation in the process but the upstream thread's is counted
// (allocation_counter.h) while a client sends a thousand requests on one connection. The client
// uses a fixed buffer and a plain socket, so every allocation counted is the proxy's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ostream>
#include <string>
#include <string_view>
#include <thread>

#include "allocation_counter.h"
#include "loopback_worker.h"

namespace waygate {
namespace {

using test::connect_to_loopback;
using test::listen_on_loopback;

constexpr int kWarmUpRequests = 200;
constexpr int kCountedRequests = 1000;

// Reads until `terminator` ends what was read (a whole response here: the bodies are fixed).
bool read_until(int fd, char* buffer, size_t size, std::string_view terminator) {
  size_t used = 0;
  while (used < size) {
    ssize_t n = ::recv(fd, buffer + used, size - used, 0);
    if (n <= 0) return false;
    used += static_cast<size_t>(n);
    if (std::string_view(buffer, used).ends_with(terminator)) return true;
  }
  return false;
}

// A keep-alive upstream on one blocking socket: every request gets the same small response.
void serve_upstream(int listen_fd) {
  test::exclude_this_thread_from_counting();
  fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) & ~O_NONBLOCK);
  int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd < 0) return;
  static constexpr std::string_view kResponse =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";
  char buffer[8192];
  while (read_until(fd, buffer, sizeof(buffer), "\r\n\r\n")) {
    if (::send(fd, kResponse.data(), kResponse.size(), MSG_NOSIGNAL) < 0) break;
  }
  ::close(fd);
}

// Each run logs every request to /dev/null in one of the access log's formats.
struct LogFormat {
  const char* name;
  const char* access_log;
};

void PrintTo(const LogFormat& format, std::ostream* out) {
  *out << format.access_log;
}

class SteadyKeepAlive : public testing::TestWithParam<LogFormat> {};

INSTANTIATE_TEST_SUITE_P(
    AccessLog, SteadyKeepAlive,
    testing::Values(LogFormat{"Text", "/dev/null"},
                    LogFormat{"Json", "{ path: /dev/null, format: json }"},
                    LogFormat{"Template",
                              "{ path: /dev/null, template: '$time $request_id $client $method "
                              "$target $protocol $status $bytes_sent $bytes_received $duration_ms "
                              "$upstream_connect_ms $upstream_response_ms $host $listener $route "
                              "$cluster $endpoint $error' }"}),
    [](const testing::TestParamInfo<LogFormat>& format) { return std::string(format.param.name); });

TEST_P(SteadyKeepAlive, RequestsAllocateNothingOnceWarm) {
  uint16_t upstream_port = 0;
  int upstream_listener = listen_on_loopback(&upstream_port);
  std::thread upstream(serve_upstream, upstream_listener);

  std::string config_text =
      "workers: 1\n"
      "access_log: " +
      std::string(GetParam().access_log) +
      "\n"
      "listeners: [{ name: web, address: 127.0.0.1:1 }]\n"
      "routes: [{ hosts: ['*'], paths: [{ prefix: /, cluster: app }] }]\n"
      "clusters: [{ name: app, endpoints: ['127.0.0.1:" +
      std::to_string(upstream_port) + "'] }]\n";
  uint16_t proxy_port = 0;
  int proxy_listener = listen_on_loopback(&proxy_port);
  std::string error;
  auto worker = test::LoopbackWorker::start(config_text, proxy_listener, &error);
  ASSERT_TRUE(worker) << error;

  int client = connect_to_loopback(proxy_port);
  ASSERT_GE(client, 0);
  static constexpr std::string_view kRequest =
      "GET /resource?id=42 HTTP/1.1\r\nHost: app.example\r\nUser-Agent: test\r\n"
      "Accept: */*\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n";
  char buffer[8192];
  int answered = 0;
  for (int i = 0; i < kWarmUpRequests + kCountedRequests; ++i) {
    if (i == kWarmUpRequests) test::start_counting_allocations();
    if (::send(client, kRequest.data(), kRequest.size(), MSG_NOSIGNAL) < 0) break;
    if (!read_until(client, buffer, sizeof(buffer), "hello\n")) break;
    ++answered;
  }
  uint64_t allocations = test::stop_counting_allocations();
  ::close(client);
  worker.reset();
  upstream.join();
  ::close(upstream_listener);

  EXPECT_EQ(answered, kWarmUpRequests + kCountedRequests);
  EXPECT_EQ(allocations, 0u) << "allocations during " << kCountedRequests << " keep-alive requests";
}

}  // namespace
}  // namespace waygate
