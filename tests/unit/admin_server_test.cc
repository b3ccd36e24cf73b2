#include "admin/admin_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace waygate::admin {
namespace {

struct SeenRequest {
  std::string method;
  std::string path;
  std::string query;
  std::string body;
  bool has_if_match = false;
  std::string if_match;
};

struct Response {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
};

// A blocking client, as a script or a scraper would be. The receive timeout is a guard that ends
// a test that would otherwise hang, not a timing assertion.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval guard{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool connected() const { return connected_; }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(sent));
    }
    return true;
  }

  // A response head alone (an interim 100, or the answer to HEAD); status 0 when none arrived.
  Response read_head() {
    Response response;
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return response;
    }
    response.head = buffer_.substr(0, head_end + 2);
    buffer_.erase(0, head_end + 4);
    response.status = std::atoi(response.head.c_str() + 9);
    return response;
  }

  // A whole response, framed by its Content-Length; status 0 when it did not arrive whole.
  Response read_response() {
    Response response = read_head();
    size_t length_at = response.head.find("Content-Length: ");
    if (response.status == 0 || length_at == std::string::npos) return Response{};
    size_t length = std::strtoul(response.head.c_str() + length_at + 16, nullptr, 10);
    while (buffer_.size() < length) {
      if (!fill()) return Response{};
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
  }

  // True when the server closed the connection with nothing more sent.
  bool closed_by_server() {
    char byte;
    ssize_t n = ::recv(fd_, &byte, 1, 0);
    return n == 0 && buffer_.empty();
  }

 private:
  bool fill() {
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

// The server on a real loop in its own thread, as on the control thread; the test thread is the
// client. Stopping goes through a uv_async, the one libuv call that is safe from another thread.
class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    server_ = std::make_unique<AdminServer>(
        &loop_, [this](const AdminRequest& request) { return handle(request); });
    std::optional<SocketAddress> address = parse_socket_address("127.0.0.1:0");
    ASSERT_TRUE(address);
    ASSERT_EQ(server_->listen(*address), "");
    port_ = server_->port();
    ASSERT_NE(port_, 0);
    uv_async_init(&loop_, &stop_, &AdminServerTest::on_stop);
    stop_.data = this;
    loop_thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }

  void TearDown() override {
    stop_loop();
    server_.reset();
    EXPECT_EQ(uv_loop_close(&loop_), 0);  // every handle closed, every close callback run
  }

  // Closes the server on its own thread and waits for the loop to run out of handles.
  void stop_loop() {
    if (!loop_thread_.joinable()) return;
    uv_async_send(&stop_);
    loop_thread_.join();
  }

  static void on_stop(uv_async_t* async) {
    auto* self = static_cast<AdminServerTest*>(async->data);
    self->server_->close();
    uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
  }

  AdminResponse handle(const AdminRequest& request) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seen_.push_back(SeenRequest{std::string(request.method), std::string(request.path),
                                  std::string(request.query), std::string(request.body),
                                  request.has_if_match, std::string(request.if_match)});
    }
    if (request.path == "/ready") return AdminResponse::text(200, "ready\n");
    if (request.path == "/reload" && request.method == "POST") {
      return AdminResponse::text(200, "reloaded\n");
    }
    if (request.path == "/reload") {
      AdminResponse response = AdminResponse::text(405, "405 Method Not Allowed\n");
      response.headers.emplace_back("Allow", "POST");
      return response;
    }
    if (request.path == "/routes") return AdminResponse::json(200, "[]\n");
    if (request.path == "/throw") throw std::runtime_error("handler failed");
    return AdminResponse::text(404, "not found\n");
  }

  std::vector<SeenRequest> seen() {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_;
  }

  uv_loop_t loop_;
  uv_async_t stop_;
  std::unique_ptr<AdminServer> server_;
  uint16_t port_ = 0;
  std::thread loop_thread_;
  std::mutex mutex_;
  std::vector<SeenRequest> seen_;
};

TEST_F(AdminServerTest, GetReturnsTheHandlersResponse) {
  Client client(port_);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.send("GET /routes HTTP/1.1\r\nHost: admin\r\n\r\n"));
  Response response = client.read_response();
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.head.find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(response.head.find("Content-Length: 3\r\n"), std::string::npos);
  EXPECT_EQ(response.head.find("Connection: close"), std::string::npos);
  EXPECT_EQ(response.body, "[]\n");
  std::vector<SeenRequest> requests = seen();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].path, "/routes");
}

TEST_F(AdminServerTest, ExtraHeadersFromTheHandlerAreSent) {
  Client client(port_);
  ASSERT_TRUE(client.send("GET /reload HTTP/1.1\r\nHost: admin\r\n\r\n"));
  Response response = client.read_response();
  EXPECT_EQ(response.status, 405);
  EXPECT_NE(response.head.find("Allow: POST\r\n"), std::string::npos);
  EXPECT_NE(response.head.find("Content-Type: text/plain\r\n"), std::string::npos);
}

TEST_F(AdminServerTest, QueryIsPassedApartFromThePath) {
  Client client(port_);
  ASSERT_TRUE(client.send("GET /metrics?format=text HTTP/1.1\r\nHost: admin\r\n\r\n"));
  EXPECT_EQ(client.read_response().status, 404);
  std::vector<SeenRequest> requests = seen();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].path, "/metrics");
  EXPECT_EQ(requests[0].query, "format=text");
}

TEST_F(AdminServerTest, TwoRequestsShareAKeepAliveConnection) {
  Client client(port_);
  ASSERT_TRUE(client.send("GET /ready HTTP/1.1\r\nHost: admin\r\n\r\n"));
  Response first = client.read_response();
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "ready\n");
  ASSERT_TRUE(client.send("GET /unknown HTTP/1.1\r\nHost: admin\r\n\r\n"));
  Response second = client.read_response();
  EXPECT_EQ(second.status, 404);
  EXPECT_EQ(second.body, "not found\n");
  EXPECT_EQ(seen().size(), 2u);
}

TEST_F(AdminServerTest, PipelinedRequestsAreAnsweredInOrder) {
  Client client(port_);
  ASSERT_TRUE(client.send(
      "GET /ready HTTP/1.1\r\nHost: admin\r\n\r\nGET /routes HTTP/1.1\r\nHost: admin\r\n\r\n"));
  EXPECT_EQ(client.read_response().body, "ready\n");
  EXPECT_EQ(client.read_response().body, "[]\n");
}

TEST_F(AdminServerTest, ConnectionCloseIsHonoured) {
  Client client(port_);
  ASSERT_TRUE(client.send("GET /ready HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n"));
  Response response = client.read_response();
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.head.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(AdminServerTest, Http10GetsOneResponseThenClose) {
  Client client(port_);
  ASSERT_TRUE(client.send("GET /ready HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(client.read_response().status, 200);
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(AdminServerTest, MalformedRequestGets400AndTheConnectionCloses) {
  Client client(port_);
  ASSERT_TRUE(client.send("GET /ready HTTP/1.1\r\nHost: admin\r\nNo colon here\r\n\r\n"));
  Response response = client.read_response();
  EXPECT_EQ(response.status, 400);
  EXPECT_NE(response.head.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_TRUE(seen().empty());
}

TEST_F(AdminServerTest, PostWithASmallBodyIsAnsweredAndTheConnectionStaysUsable) {
  Client client(port_);
  ASSERT_TRUE(
      client.send("POST /reload HTTP/1.1\r\nHost: admin\r\nContent-Length: 5\r\n\r\nhello"));
  Response response = client.read_response();
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "reloaded\n");
  ASSERT_TRUE(client.send("GET /ready HTTP/1.1\r\nHost: admin\r\n\r\n"));
  EXPECT_EQ(client.read_response().status, 200);
}

TEST_F(AdminServerTest, ChunkedBodyIsReadAndIgnored) {
  Client client(port_);
  ASSERT_TRUE(
      client.send("POST /reload HTTP/1.1\r\nHost: admin\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n0\r\n\r\nGET /ready HTTP/1.1\r\nHost: admin\r\n\r\n"));
  EXPECT_EQ(client.read_response().body, "reloaded\n");
  EXPECT_EQ(client.read_response().body, "ready\n");
}

TEST_F(AdminServerTest, HandlerSeesTheBodyAndIfMatch) {
  Client client(port_);
  ASSERT_TRUE(
      client.send("PUT /routes/a HTTP/1.1\r\nHost: admin\r\nIf-Match: \"v1\"\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                  "GET /ready HTTP/1.1\r\nHost: admin\r\n\r\n"));
  EXPECT_EQ(client.read_response().status, 404);
  EXPECT_EQ(client.read_response().body, "ready\n");
  std::vector<SeenRequest> requests = seen();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].body, "hello world");
  EXPECT_TRUE(requests[0].has_if_match);
  EXPECT_EQ(requests[0].if_match, "\"v1\"");
  EXPECT_EQ(requests[1].body, "");  // the next request's body is its own
  EXPECT_FALSE(requests[1].has_if_match);
}

TEST_F(AdminServerTest, ExpectContinueGets100BeforeTheBody) {
  Client client(port_);
  ASSERT_TRUE(client.send(
      "POST /reload HTTP/1.1\r\nHost: admin\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(client.read_head().status, 100);
  ASSERT_TRUE(client.send("{}"));
  EXPECT_EQ(client.read_response().status, 200);
}

TEST_F(AdminServerTest, DeclaredBodyOverTheLimitGets413) {
  Client client(port_);
  ASSERT_TRUE(client.send("POST /reload HTTP/1.1\r\nHost: admin\r\nContent-Length: " +
                          std::to_string(AdminServer::kMaxBodyBytes + 1) + "\r\n\r\n"));
  Response response = client.read_response();
  EXPECT_EQ(response.status, 413);
  EXPECT_TRUE(client.closed_by_server());
  EXPECT_TRUE(seen().empty());
}

TEST_F(AdminServerTest, ChunkedBodyOverTheLimitGets413WhileTheClientStillSends) {
  Client client(port_);
  std::string request =
      "POST /reload HTTP/1.1\r\nHost: admin\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string chunk = "1000\r\n" + std::string(0x1000, 'x') + "\r\n";
  for (uint64_t sent = 0; sent <= AdminServer::kMaxBodyBytes; sent += 0x1000)
    request += chunk;
  request += "0\r\n\r\n";
  // The server answers before it has read everything; lingering lets the response arrive
  // instead of a reset.
  (void)client.send(request);
  Response response = client.read_response();
  EXPECT_EQ(response.status, 413);
  EXPECT_TRUE(seen().empty());
}

TEST_F(AdminServerTest, HeadGetsTheLengthWithoutTheBody) {
  Client client(port_);
  ASSERT_TRUE(client.send(
      "HEAD /ready HTTP/1.1\r\nHost: admin\r\n\r\nGET /routes HTTP/1.1\r\nHost: admin\r\n\r\n"));
  Response head = client.read_head();
  EXPECT_EQ(head.status, 200);
  EXPECT_NE(head.head.find("Content-Length: 6\r\n"), std::string::npos);
  // The next bytes are the next response, not the 6 announced ones.
  EXPECT_EQ(client.read_response().body, "[]\n");
}

TEST_F(AdminServerTest, UpgradeRequestIsAnsweredInHttpThenClosed) {
  Client client(port_);
  ASSERT_TRUE(client.send(
      "GET /ready HTTP/1.1\r\nHost: admin\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"));
  Response response = client.read_response();
  EXPECT_EQ(response.status, 200);
  EXPECT_NE(response.head.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(client.closed_by_server());
}

TEST_F(AdminServerTest, ConnectIsAnsweredByTheHandlerThenClosed) {
  Client client(port_);
  ASSERT_TRUE(client.send("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"));
  EXPECT_EQ(client.read_response().status, 404);
  EXPECT_TRUE(client.closed_by_server());
  std::vector<SeenRequest> requests = seen();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "CONNECT");
}

TEST_F(AdminServerTest, HandlerExceptionBecomes500) {
  Client client(port_);
  ASSERT_TRUE(client.send("GET /throw HTTP/1.1\r\nHost: admin\r\n\r\n"));
  EXPECT_EQ(client.read_response().status, 500);
  ASSERT_TRUE(client.send("GET /ready HTTP/1.1\r\nHost: admin\r\n\r\n"));
  EXPECT_EQ(client.read_response().status, 200);
}

TEST_F(AdminServerTest, CloseEndsOpenConnections) {
  Client client(port_);
  ASSERT_TRUE(client.send("GET /ready HTTP/1.1\r\nHost: admin\r\n\r\n"));
  EXPECT_EQ(client.read_response().status, 200);
  // The connection is open and idle when the server closes: the loop must still run out of
  // handles, and the client sees the close.
  stop_loop();
  EXPECT_TRUE(client.closed_by_server());
}

TEST(AdminServerListen, ReportsAnAddressInUse) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  auto handler = [](const AdminRequest&) { return AdminResponse{}; };
  AdminServer first(&loop, handler);
  AdminServer second(&loop, handler);
  ASSERT_EQ(first.listen(*parse_socket_address("127.0.0.1:0")), "");
  std::string taken = "127.0.0.1:" + std::to_string(first.port());
  std::string error = second.listen(*parse_socket_address(taken));
  EXPECT_EQ(error, taken + ": address already in use");
  EXPECT_EQ(second.port(), 0);
  first.close();
  uv_run(&loop, UV_RUN_DEFAULT);  // the close callbacks free the listeners
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace waygate::admin
