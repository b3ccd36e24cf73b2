// A worker serving keep-alive requests through to a keep-alive upstream allocates nothing per
// request once warm: every allocation in the process (operator new, and libuv's own through
// uv_replace_allocator) is counted while a client sends a thousand requests on one connection.
// The client and the upstream here use fixed buffers and plain sockets, so every allocation
// counted is the proxy's.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>

#include "proxy/listen_socket.h"
#include "proxy/worker.h"
#include "routing/config_loader.h"
#include "routing/topology.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<uint64_t> g_allocations{0};

void note_allocation() {
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
}

void* counted_malloc(size_t size) {
  note_allocation();
  return std::malloc(size);
}
void* counted_realloc(void* pointer, size_t size) {
  note_allocation();
  return std::realloc(pointer, size);
}
void* counted_calloc(size_t count, size_t size) {
  note_allocation();
  return std::calloc(count, size);
}

}  // namespace

// The replacements below pair malloc with free on purpose; GCC cannot see that they replace the
// global operators and warns about the pairing.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(size_t size) {
  note_allocation();
  if (void* pointer = std::malloc(size == 0 ? 1 : size)) return pointer;
  throw std::bad_alloc();
}
void operator delete(void* pointer) noexcept {
  std::free(pointer);
}
void operator delete(void* pointer, size_t) noexcept {
  std::free(pointer);
}

namespace waygate {
namespace {

constexpr int kWarmUpRequests = 200;
constexpr int kCountedRequests = 1000;

int listen_on_loopback(uint16_t* port) {
  std::string error;
  int fd = proxy::open_listen_socket(*parse_socket_address("127.0.0.1:0"), &error);
  sockaddr_in bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  *port = ntohs(bound.sin_port);
  return fd;
}

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval guard{10, 0};  // ends a test that would hang; not a timing assertion
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return -1;
  return fd;
}

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
  uv_replace_allocator(counted_malloc, counted_realloc, counted_calloc, std::free);
  g_allocations = 0;
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
  routing::ConfigResult loaded = routing::load_config_text(config_text, "test.yaml");
  ASSERT_TRUE(loaded.ok()) << loaded.errors.front();
  routing::Topology topology;
  topology.apply_config(loaded.config, routing::literal_endpoints(loaded.config));
  uint16_t proxy_port = 0;
  int proxy_listener = listen_on_loopback(&proxy_port);
  const routing::AccessLogConfig* log = &loaded.config.access_log;
  proxy::AccessLogFiles files;
  std::string error;
  ASSERT_TRUE(proxy::open_access_log_files({&log, 1}, nullptr, false, &files, &error)) << error;
  proxy::AccessLogTarget target{0, "web", log};
  routing::RouteNameSlots route_names;
  proxy::WorkerUpdate initial{
      routing::build_snapshot(std::make_shared<const routing::Config>(loaded.config), topology,
                              route_names),
      topology.all_host_sets(),
      {},
      {proxy::ListenerChange{"127.0.0.1:1", proxy_listener}},
      0,
      proxy::make_access_log_setup(std::move(files), {&target, 1})};
  auto worker = std::make_unique<proxy::Worker>(0, std::move(initial), nullptr);
  worker->start();

  int client = connect_to(proxy_port);
  ASSERT_GE(client, 0);
  static constexpr std::string_view kRequest =
      "GET /resource?id=42 HTTP/1.1\r\nHost: app.example\r\nUser-Agent: test\r\n"
      "Accept: */*\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n";
  char buffer[8192];
  int answered = 0;
  for (int i = 0; i < kWarmUpRequests + kCountedRequests; ++i) {
    if (i == kWarmUpRequests) g_counting = true;
    if (::send(client, kRequest.data(), kRequest.size(), MSG_NOSIGNAL) < 0) break;
    if (!read_until(client, buffer, sizeof(buffer), "hello\n")) break;
    ++answered;
  }
  g_counting = false;
  ::close(client);
  worker->request_drain();
  worker->join();
  worker.reset();
  upstream.join();
  ::close(upstream_listener);

  EXPECT_EQ(answered, kWarmUpRequests + kCountedRequests);
  EXPECT_EQ(g_allocations.load(), 0u)
      << "allocations during " << kCountedRequests << " keep-alive requests";
}

}  // namespace
}  // namespace waygate
