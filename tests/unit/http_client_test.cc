// http::Client against a scripted server: blocking sockets, one thread per accepted connection,
// each running the test's script. The client runs on a loop in the test thread.
#include "http/client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace waygate::http {
namespace {

// Guards that end a test which would otherwise hang; never a timing assertion.
constexpr int kGuardSeconds = 10;

// The server's side of one connection.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {
    timeval guard{kGuardSeconds, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
  }
  ~Peer() { close(); }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // One request: its head and the body its Content-Length announces; empty when none came.
  std::string read_request() {
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return {};
    }
    size_t length = 0;
    size_t at = buffer_.find("Content-Length: ");
    if (at != std::string::npos && at < head_end) {
      length = std::strtoul(buffer_.c_str() + at + 16, nullptr, 10);
    }
    while (buffer_.size() < head_end + 4 + length) {
      if (!fill()) return {};
    }
    std::string request = buffer_.substr(0, head_end + 4 + length);
    buffer_.erase(0, request.size());
    return request;
  }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(sent));
    }
  }

  // Waits for the client to close; true when it did so without sending anything more.
  bool wait_closed() {
    char byte;
    return buffer_.empty() && ::recv(fd_, &byte, 1, 0) == 0;
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  bool fill() {
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  std::string buffer_;
};

class ScriptedServer {
 public:
  // Runs for each accepted connection, with its number (0 for the first).
  using Script = std::function<void(Peer& peer, int index)>;

  explicit ScriptedServer(Script script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot listen on loopback");
    }
    port_ = ntohs(address.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~ScriptedServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    acceptor_.join();
    for (std::thread& peer : peers_)
      peer.join();
    ::close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  int accepts() const { return accepts_.load(); }

 private:
  void accept_loop() {
    for (;;) {
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      int index = accepts_++;
      peers_.emplace_back([this, fd, index] {
        Peer peer(fd);
        script_(peer, index);
      });
    }
  }

  Script script_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> accepts_{0};
  std::thread acceptor_;
  std::vector<std::thread> peers_;
};

struct Recorder final : ClientHandler {
  void on_response_head(const MessageHead& head) override {
    ++heads;
    status = head.status;
  }
  void on_response_body(std::string_view bytes) override {
    body.append(bytes);
    pieces.emplace_back(bytes);
    if (on_body) on_body();
  }
  void on_response_complete() override { ++completes; }
  void on_client_error(const char* reason) override { errors.emplace_back(reason); }

  bool done() const { return completes > 0 || !errors.empty(); }
  void clear() { *this = Recorder{}; }

  int heads = 0;
  int status = 0;
  std::string body;
  std::vector<std::string> pieces;
  int completes = 0;
  std::vector<std::string> errors;
  std::function<void()> on_body;
};

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    uv_async_init(&loop_, &wake_, [](uv_async_t*) {});
    uv_timer_init(&loop_, &guard_);
    guard_.data = this;
  }

  void TearDown() override {
    client_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&wake_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);       // the connection's close callbacks run here
    server_.reset();                      // the scripts have seen the client close
    EXPECT_EQ(uv_loop_close(&loop_), 0);  // every handle closed: nothing left behind
  }

  void serve(ScriptedServer::Script script) {
    server_ = std::make_unique<ScriptedServer>(std::move(script));
  }

  SocketAddress server_address() const {
    return *parse_socket_address("127.0.0.1:" + std::to_string(server_->port()));
  }

  void connect_client(SocketAddress address) {
    client_ = std::make_unique<Client>(&loop_, address, recorder_);
  }

  void send(std::string_view method, std::string_view target, std::string_view body = {},
            uint64_t timeout_ms = 5000) {
    ClientRequest request;
    request.method = method;
    request.target = target;
    request.host = "etcd.test";
    request.body = body;
    request.timeout_ms = timeout_ms;
    client_->send(request);
  }

  // Runs the loop until `done` holds; false when the guard ran out first.
  bool run_until(const std::function<bool()>& done) {
    timed_out_ = false;
    uv_timer_start(
        &guard_,
        [](uv_timer_t* timer) { static_cast<HttpClientTest*>(timer->data)->timed_out_ = true; },
        kGuardSeconds * 1000, 0);
    while (!done() && !timed_out_)
      uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&guard_);
    return done();
  }

  // For the server's threads: records an event and wakes the loop so run_until sees it.
  void raise(std::atomic<bool>& flag) {
    flag = true;
    uv_async_send(&wake_);
  }

  uv_loop_t loop_;
  uv_async_t wake_;
  uv_timer_t guard_;
  bool timed_out_ = false;
  std::unique_ptr<ScriptedServer> server_;
  Recorder recorder_;
  std::unique_ptr<Client> client_;
};

TEST_F(HttpClientTest, ReadsAContentLengthResponseToARequestWithHeadersAndBody) {
  std::mutex mutex;
  std::string seen;
  serve([&](Peer& peer, int) {
    std::string request = peer.read_request();
    {
      std::lock_guard lock(mutex);
      seen = request;
    }
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    peer.wait_closed();
  });
  connect_client(server_address());
  HeaderList headers = {{"Content-Type", "application/json"}};
  ClientRequest request;
  request.method = "POST";
  request.target = "/v3/kv/range";
  request.host = "127.0.0.1:2379";
  request.headers = &headers;
  request.body = R"({"k":1})";
  client_->send(request);
  EXPECT_FALSE(client_->idle());

  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  EXPECT_TRUE(recorder_.errors.empty());
  EXPECT_EQ(recorder_.status, 200);
  EXPECT_EQ(recorder_.body, "hello");
  EXPECT_EQ(recorder_.completes, 1);
  EXPECT_TRUE(client_->idle());
  std::lock_guard lock(mutex);
  EXPECT_EQ(seen,
            "POST /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1:2379\r\n"
            "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"k\":1}");
}

TEST_F(HttpClientTest, FramesARequestWithoutBodyByItsMethod) {
  std::mutex mutex;
  std::vector<std::string> seen;
  serve([&](Peer& peer, int) {
    for (std::string request; !(request = peer.read_request()).empty();) {
      {
        std::lock_guard lock(mutex);
        seen.push_back(request);
      }
      peer.send("HTTP/1.1 204 No Content\r\n\r\n");
    }
  });
  connect_client(server_address());
  send("POST", "/post");
  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  recorder_.clear();
  send("GET", "/get");
  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  EXPECT_EQ(recorder_.status, 204);

  std::lock_guard lock(mutex);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "POST /post HTTP/1.1\r\nHost: etcd.test\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(seen[1], "GET /get HTTP/1.1\r\nHost: etcd.test\r\n\r\n");
}

TEST_F(HttpClientTest, StreamsAChunkedResponseDechunkedAsItArrives) {
  std::promise<void> first_piece_seen;
  std::future<void> first_piece = first_piece_seen.get_future();
  serve([&](Peer& peer, int) {
    peer.read_request();
    peer.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    // The rest only once the client has handed on the first chunk: a client that waited for
    // the whole body would see it in one piece.
    first_piece.wait_for(std::chrono::seconds(kGuardSeconds));
    peer.send("6\r\n wo");
    peer.send("rld\r\n0\r\n\r\n");
    peer.wait_closed();
  });
  connect_client(server_address());
  recorder_.on_body = [&] {
    if (recorder_.pieces.size() == 1) first_piece_seen.set_value();
  };
  send("POST", "/v3/watch", "{}");

  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  EXPECT_TRUE(recorder_.errors.empty());
  EXPECT_EQ(recorder_.completes, 1);
  EXPECT_EQ(recorder_.body, "hello world");
  ASSERT_FALSE(recorder_.pieces.empty());
  EXPECT_EQ(recorder_.pieces[0], "hello");
}

TEST_F(HttpClientTest, ReusesTheConnectionForTheNextRequest) {
  serve([&](Peer& peer, int) {
    // Each response says how many requests this connection has carried.
    int served = 0;
    while (!peer.read_request().empty()) {
      peer.send("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n" + std::to_string(++served));
    }
  });
  connect_client(server_address());
  send("GET", "/one");
  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  EXPECT_EQ(recorder_.body, "1");
  recorder_.clear();
  send("GET", "/two");
  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  EXPECT_TRUE(recorder_.errors.empty());
  EXPECT_EQ(recorder_.body, "2");
  EXPECT_EQ(server_->accepts(), 1);
}

TEST_F(HttpClientTest, OpensANewConnectionAfterAResponseThatSaidClose) {
  std::atomic<bool> first_closed_by_client{false};
  serve([&](Peer& peer, int index) {
    peer.read_request();
    if (index == 0) {
      // The server leaves the connection open: only the client's reading of the header ends it.
      peer.send("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nfirst");
      if (peer.wait_closed()) raise(first_closed_by_client);
    } else {
      peer.send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond");
      peer.wait_closed();
    }
  });
  connect_client(server_address());
  send("GET", "/one");
  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  EXPECT_EQ(recorder_.body, "first");
  recorder_.clear();
  send("GET", "/two");
  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  EXPECT_TRUE(recorder_.errors.empty());
  EXPECT_EQ(recorder_.body, "second");
  EXPECT_EQ(server_->accepts(), 2);
  EXPECT_TRUE(run_until([&] { return first_closed_by_client.load(); }));
}

TEST_F(HttpClientTest, ReadsAResponseFramedByTheConnectionClosing) {
  serve([&](Peer& peer, int) {
    peer.read_request();
    peer.send("HTTP/1.1 200 OK\r\n\r\nuntil the end");
  });
  connect_client(server_address());
  send("GET", "/");
  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  EXPECT_TRUE(recorder_.errors.empty());
  EXPECT_EQ(recorder_.body, "until the end");
  EXPECT_TRUE(client_->idle());
}

TEST_F(HttpClientTest, ReportsConnectRefused) {
  // A socket bound but not listening: the kernel refuses connections to its port.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  connect_client(*parse_socket_address("127.0.0.1:" + std::to_string(ntohs(address.sin_port))));
  send("GET", "/");
  bool done = run_until([&] { return recorder_.done(); });
  ::close(fd);
  ASSERT_TRUE(done);
  EXPECT_EQ(recorder_.errors, std::vector<std::string>{"connect-refused"});
  EXPECT_EQ(recorder_.heads, 0);
  EXPECT_TRUE(client_->idle());
}

TEST_F(HttpClientTest, TimesOutASilentServerAndClosesTheConnection) {
  std::atomic<bool> closed_by_client{false};
  serve([&](Peer& peer, int) {
    peer.read_request();
    if (peer.wait_closed()) raise(closed_by_client);
  });
  connect_client(server_address());
  send("GET", "/", {}, 50);
  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  EXPECT_EQ(recorder_.errors, std::vector<std::string>{"timeout"});
  EXPECT_TRUE(run_until([&] { return closed_by_client.load(); }));
}

TEST_F(HttpClientTest, ReportsAResetWhenTheServerClosesMidBody) {
  serve([&](Peer& peer, int) {
    peer.read_request();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
  });
  connect_client(server_address());
  send("GET", "/");
  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  EXPECT_EQ(recorder_.errors, std::vector<std::string>{"reset"});
  EXPECT_EQ(recorder_.body, "0123456789");
  EXPECT_EQ(recorder_.completes, 0);
}

TEST_F(HttpClientTest, ReportsAMalformedResponse) {
  serve([&](Peer& peer, int) {
    peer.read_request();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: five\r\n\r\nhello");
    peer.wait_closed();
  });
  connect_client(server_address());
  send("GET", "/");
  ASSERT_TRUE(run_until([&] { return recorder_.done(); }));
  EXPECT_EQ(recorder_.errors, std::vector<std::string>{"malformed"});
  EXPECT_EQ(recorder_.heads, 0);
}

TEST_F(HttpClientTest, DestroyingTheClientInsideACallbackEndsTheRequestSilently) {
  std::atomic<bool> closed_by_client{false};
  serve([&](Peer& peer, int) {
    peer.read_request();
    peer.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
    if (peer.wait_closed()) raise(closed_by_client);
  });
  connect_client(server_address());
  recorder_.on_body = [&] { client_.reset(); };
  send("GET", "/");
  ASSERT_TRUE(run_until([&] { return closed_by_client.load(); }));
  EXPECT_EQ(recorder_.body, "01234");
  EXPECT_EQ(recorder_.completes, 0);
  EXPECT_TRUE(recorder_.errors.empty());
}

TEST_F(HttpClientTest, DestroyingTheClientWhileItWaitsEndsTheRequestSilently) {
  std::atomic<bool> request_read{false};
  std::atomic<bool> closed_by_client{false};
  serve([&](Peer& peer, int) {
    peer.read_request();
    raise(request_read);
    if (peer.wait_closed()) raise(closed_by_client);
  });
  connect_client(server_address());
  send("GET", "/", {}, 0);
  ASSERT_TRUE(run_until([&] { return request_read.load(); }));
  client_.reset();
  ASSERT_TRUE(run_until([&] { return closed_by_client.load(); }));
  EXPECT_EQ(recorder_.heads, 0);
  EXPECT_EQ(recorder_.completes, 0);
  EXPECT_TRUE(recorder_.errors.empty());
}

}  // namespace
}  // namespace waygate::http
