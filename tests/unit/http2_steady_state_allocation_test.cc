// An HTTP/2 worker allocates nothing per request once warm, with as many streams in flight as the
// benchmark's load brings (8 connections with 100 streams each): the worker's pooled exchanges,
// the stream and session blocks (BlockPool), each connection's spare stream buffers and nghttp2's
// pooled allocator must all hold that many, or a share of the requests allocate. Every allocation
// of the process but the test's own threads (the HTTP/2 client, the upstream) is counted
// (allocation_counter.h).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "allocation_counter.h"
#include "core/block_pool.h"
#include "loopback_worker.h"

namespace waygate {
namespace {

constexpr int kConnections = 8;
constexpr int kStreamsPerConnection = 100;  // limits.http2_max_concurrent_streams' default
constexpr int kInFlight = kConnections * kStreamsPerConnection;
// Ten rounds of every stream in flight warm the pools up; then windows of ten rounds each are
// counted, until one allocates nothing. The load comes in bursts (the client and the worker each
// answer a batch at a time), so the peak a pool must hold (streams and their sessions alive at
// once, nghttp2's blocks queued) may first be reached after any warm-up: a pool that grows to a
// new peak allocates in one window, while a pool too small for the load allocates in every one.
constexpr int kWarmUpRequests = 10 * kInFlight;
constexpr int kWindowRequests = 10 * kInFlight;
constexpr int kMaxWindows = 10;

constexpr std::string_view kResponseBody = "hello\n";

void set_nonblocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// The proxy opens an upstream connection for each stream in flight, and the upstream here accepts
// each: both ends of those and of the client's connections are descriptors of this one process.
bool raise_descriptor_limit(rlim_t needed) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur >= needed) return true;
  if (limit.rlim_max < needed) return false;
  limit.rlim_cur = needed;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// A keep-alive HTTP/1 upstream for any number of connections at once, on one thread (epoll): each
// request head gets the same small response. Its thread is not counted.
class Upstream {
 public:
  Upstream() {
    listener_ = test::listen_on_loopback(&port_);
    stop_ = eventfd(0, EFD_NONBLOCK);
    thread_ = std::thread([this] { run(); });
  }
  ~Upstream() {
    uint64_t one = 1;
    [[maybe_unused]] ssize_t written = ::write(stop_, &one, sizeof(one));
    thread_.join();
    ::close(stop_);
    ::close(listener_);
  }
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  uint16_t port() const { return port_; }

 private:
  static constexpr std::string_view kResponse =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n";
  static constexpr std::string_view kHeadEnd = "\r\n\r\n";
  static constexpr int kMaxDescriptors = 8192;

  struct Connection {
    size_t head_end_matched = 0;  // how much of kHeadEnd the bytes read so far end with
    size_t owed = 0;              // response bytes answered but not sent yet
  };

  void run() {
    test::exclude_this_thread_from_counting();
    connections_.resize(kMaxDescriptors);
    epoll_ = epoll_create1(0);
    watch(listener_, EPOLLIN);
    watch(stop_, EPOLLIN);
    std::array<epoll_event, 256> events{};
    for (;;) {
      int ready = epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), -1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) break;
      for (int i = 0; i < ready; ++i) {
        int fd = events[i].data.fd;
        if (fd == stop_) {
          close_all();
          return;
        }
        if (fd == listener_) {
          accept_all();
        } else {
          serve(fd, events[i].events);
        }
      }
    }
    close_all();
  }

  void watch(int fd, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
  }

  void accept_all() {
    for (;;) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK);
      if (fd < 0) return;
      if (fd >= kMaxDescriptors) {
        ::close(fd);
        continue;
      }
      connections_[fd] = Connection{};
      watch(fd, EPOLLIN);
    }
  }

  void serve(int fd, uint32_t events) {
    Connection& connection = connections_[fd];
    if (events & EPOLLIN) {
      char buffer[16384];
      for (;;) {
        ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
          ::close(fd);
          return;
        }
        if (n < 0) break;
        for (char c : std::string_view(buffer, static_cast<size_t>(n))) {
          if (c == kHeadEnd[connection.head_end_matched]) {
            if (++connection.head_end_matched == kHeadEnd.size()) {
              connection.head_end_matched = 0;
              connection.owed += kResponse.size();
            }
          } else {
            connection.head_end_matched = c == '\r' ? 1 : 0;
          }
        }
      }
    }
    bool was_blocked = connection.owed > 0 && (events & EPOLLOUT);
    while (connection.owed > 0) {
      size_t offset = (kResponse.size() - connection.owed % kResponse.size()) % kResponse.size();
      ssize_t n = ::send(fd, kResponse.data() + offset, kResponse.size() - offset, MSG_NOSIGNAL);
      if (n < 0 && errno == EAGAIN) break;
      if (n < 0) {
        ::close(fd);
        return;
      }
      connection.owed -= static_cast<size_t>(n);
    }
    // Output the socket would not take waits for it to drain (EPOLLOUT), which is rare here.
    if (connection.owed > 0 || was_blocked) {
      epoll_event event{};
      event.events = connection.owed > 0 ? EPOLLIN | EPOLLOUT : EPOLLIN;
      event.data.fd = fd;
      epoll_ctl(epoll_, EPOLL_CTL_MOD, fd, &event);
    }
  }

  void close_all() {
    for (int fd = 0; fd < kMaxDescriptors; ++fd) {
      // Every descriptor the upstream accepted is still registered with epoll; EPOLL_CTL_DEL
      // tells them apart from the test's others.
      if (fd != listener_ && fd != stop_ && epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr) == 0)
        ::close(fd);
    }
    ::close(epoll_);
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  int stop_ = -1;
  int epoll_ = -1;
  std::vector<Connection> connections_;
  std::thread thread_;
};

// What the client saw: every request answered, and how.
struct ClientResults {
  int completed = 0;
  int ok = 0;  // 200 with the upstream's body
  std::array<uint64_t, kMaxWindows> window_allocations{};
  int windows = 0;      // counted
  std::string failure;  // why the client stopped early
};

// An HTTP/2 client (nghttp2) with kStreamsPerConnection streams in flight on each of
// kConnections prior-knowledge (h2c) connections: a new request goes as each response ends.
// After kWarmUpRequests answers, allocations are counted in windows of kWindowRequests answers
// until one counts none or kMaxWindows did; requests keep being sent until then, so the streams in
// flight stay at their peak while counting. Its thread is not counted.
class Client {
 public:
  explicit Client(uint16_t proxy_port) : proxy_port_(proxy_port) {}
  ~Client() {
    for (Connection& connection : connections_) {
      if (connection.session) nghttp2_session_del(connection.session);
      if (connection.fd >= 0) ::close(connection.fd);
    }
  }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  ClientResults run() {
    test::exclude_this_thread_from_counting();
    if (!open_connections()) return results_;
    while (results_.failure.empty() && (sending_ || in_flight_ > 0)) {
      for (Connection& connection : connections_)
        flush(connection);
      std::array<pollfd, kConnections> polled{};
      for (size_t i = 0; i < connections_.size(); ++i) {
        polled[i].fd = connections_[i].fd;
        polled[i].events = static_cast<short>(
            POLLIN | (connections_[i].sent < connections_[i].output.size() ? POLLOUT : 0));
      }
      // Ends a test that would hang; not a timing assertion.
      int ready = ::poll(polled.data(), polled.size(), 10'000);
      if (ready == 0) fail("no progress for 10 seconds");
      for (size_t i = 0; i < connections_.size() && results_.failure.empty(); ++i) {
        if (polled[i].revents & (POLLIN | POLLHUP | POLLERR)) receive(connections_[i]);
      }
    }
    if (counting_) test::stop_counting_allocations();
    return results_;
  }

 private:
  struct Stream {
    bool status_ok = false;
    size_t body_size = 0;
    char body[16] = {};
  };

  struct Connection {
    Client* client = nullptr;
    int fd = -1;
    nghttp2_session* session = nullptr;
    std::vector<uint8_t> output;  // what nghttp2 produced and the socket has not taken all of
    size_t sent = 0;
    std::array<Stream, kStreamsPerConnection> streams;
    std::vector<Stream*> free_streams;
  };

  bool open_connections() {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, &Client::on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &Client::on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &Client::on_stream_close);
    for (Connection& connection : connections_) {
      connection.client = this;
      connection.fd = test::connect_to_loopback(proxy_port_);
      if (connection.fd < 0) {
        fail("cannot connect to the proxy");
        break;
      }
      set_nonblocking(connection.fd);
      connection.output.reserve(1 << 20);
      for (Stream& stream : connection.streams)
        connection.free_streams.push_back(&stream);
      nghttp2_session_client_new(&connection.session, callbacks, &connection);
      nghttp2_settings_entry no_push{NGHTTP2_SETTINGS_ENABLE_PUSH, 0};
      nghttp2_submit_settings(connection.session, NGHTTP2_FLAG_NONE, &no_push, 1);
      for (int i = 0; i < kStreamsPerConnection; ++i)
        submit_request(connection);
    }
    nghttp2_session_callbacks_del(callbacks);
    return results_.failure.empty();
  }

  void submit_request(Connection& connection) {
    static constexpr auto field = [](std::string_view name, std::string_view value) {
      return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                        reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                        value.size(), NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE};
    };
    static const nghttp2_nv kRequest[] = {
        field(":method", "GET"),
        field(":scheme", "http"),
        field(":authority", "app.example"),
        field(":path", "/resource?id=42"),
        field("user-agent", "test"),
        field("accept", "*/*"),
    };
    Stream* stream = connection.free_streams.back();
    connection.free_streams.pop_back();
    *stream = Stream{};
    if (nghttp2_submit_request(connection.session, nullptr, kRequest, std::size(kRequest), nullptr,
                               stream) < 0) {
      fail("nghttp2_submit_request failed");
      return;
    }
    ++in_flight_;
  }

  // Sends what nghttp2 has to send, until the socket takes no more.
  void flush(Connection& connection) {
    for (;;) {
      if (connection.sent == connection.output.size()) {
        connection.output.clear();
        connection.sent = 0;
        const uint8_t* data = nullptr;
        ssize_t size = 0;
        while (connection.output.size() < 65536 &&
               (size = nghttp2_session_mem_send(connection.session, &data)) > 0) {
          connection.output.insert(connection.output.end(), data, data + size);
        }
        if (size < 0) fail("nghttp2_session_mem_send failed");
        if (connection.output.empty()) return;
      }
      ssize_t n = ::send(connection.fd, connection.output.data() + connection.sent,
                         connection.output.size() - connection.sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EAGAIN) return;
      if (n < 0) {
        fail("send to the proxy failed");
        return;
      }
      connection.sent += static_cast<size_t>(n);
    }
  }

  void receive(Connection& connection) {
    uint8_t buffer[65536];
    for (;;) {
      ssize_t n = ::recv(connection.fd, buffer, sizeof(buffer), 0);
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) {
        fail("the proxy closed a connection");
        return;
      }
      if (nghttp2_session_mem_recv(connection.session, buffer, static_cast<size_t>(n)) != n) {
        fail("nghttp2_session_mem_recv failed");
        return;
      }
    }
  }

  static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                       size_t name_size, const uint8_t* value, size_t value_size, uint8_t, void*) {
    auto* stream =
        static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
    if (stream && std::string_view(reinterpret_cast<const char*>(name), name_size) == ":status")
      stream->status_ok =
          std::string_view(reinterpret_cast<const char*>(value), value_size) == "200";
    return 0;
  }

  static int on_data(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data,
                     size_t size, void*) {
    auto* stream = static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, stream_id));
    if (!stream) return 0;
    // A body longer than the buffer cannot be the upstream's: one past it marks it wrong.
    size_t taken = std::min(size, sizeof(stream->body) - stream->body_size);
    std::memcpy(stream->body + stream->body_size, data, taken);
    stream->body_size = taken < size ? sizeof(stream->body) + 1 : stream->body_size + taken;
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                             void* user_data) {
    auto& connection = *static_cast<Connection*>(user_data);
    auto* stream = static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, stream_id));
    if (!stream) return 0;
    bool ok = error_code == NGHTTP2_NO_ERROR && stream->status_ok &&
              stream->body_size <= sizeof(stream->body) &&
              std::string_view(stream->body, stream->body_size) == kResponseBody;
    connection.client->stream_closed(connection, *stream, ok);
    return 0;
  }

  void stream_closed(Connection& connection, Stream& stream, bool ok) {
    connection.free_streams.push_back(&stream);
    --in_flight_;
    ++results_.completed;
    if (ok) ++results_.ok;
    if (results_.completed == kWarmUpRequests) {
      test::start_counting_allocations();
      counting_ = true;
    } else if (counting_ && (results_.completed - kWarmUpRequests) % kWindowRequests == 0) {
      uint64_t allocations = test::stop_counting_allocations();
      results_.window_allocations[results_.windows++] = allocations;
      if (allocations == 0 || results_.windows == kMaxWindows) {
        counting_ = false;
        sending_ = false;  // the streams still in flight are answered, then the client stops
      } else {
        test::start_counting_allocations();
      }
    }
    if (sending_) submit_request(connection);
  }

  void fail(const char* why) {
    if (results_.failure.empty()) results_.failure = why;
  }

  int proxy_port_;
  std::array<Connection, kConnections> connections_;
  int in_flight_ = 0;
  bool sending_ = true;
  bool counting_ = false;
  ClientResults results_;
};

TEST(Http2SteadyState, EightHundredStreamsInFlightAllocateNothingOnceWarm) {
  if (!kReuseFreedBlocks) {
    // Under AddressSanitizer the stream and session blocks and nghttp2's blocks go back to malloc
    // when freed, so that a use after free is caught: there every stream allocates by design.
    GTEST_SKIP() << "freed blocks are not reused under AddressSanitizer (kReuseFreedBlocks)";
  }
  // The client's connections, the proxy's side of them and of each upstream connection, and the
  // upstream's side: a little over twice the streams in flight.
  ASSERT_TRUE(raise_descriptor_limit(4 * kInFlight)) << "RLIMIT_NOFILE is below " << 4 * kInFlight;
  Upstream upstream;
  std::string config_text =
      "workers: 1\n"
      "access_log: /dev/null\n"
      "listeners: [{ name: web, address: 127.0.0.1:1, http2: true }]\n"
      "routes: [{ hosts: ['*'], paths: [{ prefix: /, cluster: app }] }]\n"
      "clusters: [{ name: app, endpoints: ['127.0.0.1:" +
      std::to_string(upstream.port()) + "'] }]\n";
  uint16_t proxy_port = 0;
  int proxy_listener = test::listen_on_loopback(&proxy_port);
  std::string error;
  auto worker = test::LoopbackWorker::start(config_text, proxy_listener, &error);
  ASSERT_TRUE(worker) << error;

  ClientResults results;
  {
    Client client(proxy_port);
    std::thread thread([&] { results = client.run(); });
    thread.join();
  }
  worker.reset();

  EXPECT_EQ(results.failure, "");
  EXPECT_EQ(results.ok, results.completed) << "responses that were not 200 with \"hello\\n\"";
  ASSERT_GE(results.windows, 1);
  std::vector<uint64_t> counted(results.window_allocations.begin(),
                                results.window_allocations.begin() + results.windows);
  uint64_t last_window = results.window_allocations[results.windows - 1];
  EXPECT_EQ(last_window, 0u) << "allocations in each window of " << kWindowRequests
                             << " requests with " << kInFlight
                             << " streams in flight: " << testing::PrintToString(counted);
}

}  // namespace
}  // namespace waygate
