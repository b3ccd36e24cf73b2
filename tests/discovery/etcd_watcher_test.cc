// EtcdWatcher against real etcd processes (Debian's etcd-server) on loopback: each test starts its
// own members with a temporary data directory and free ports, and changes keys through the JSON
// gateway with a blocking client while the watcher runs on a loop in the test thread.
#include "discovery/etcd_watcher.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "discovery/base64.h"

namespace waygate::discovery {
namespace {

using Json = nlohmann::json;
using Keys = EtcdWatcher::Keys;
using Kind = EtcdWatcher::Change::Kind;

constexpr const char* kEtcd = "/usr/bin/etcd";
// Guards that end a test which would otherwise hang; never timing assertions.
constexpr auto kGuard = std::chrono::seconds(30);
constexpr int kSocketGuardSeconds = 10;

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string url(uint16_t port) {
  return "http://127.0.0.1:" + std::to_string(port);
}

struct HttpResult {
  int status = 0;  // 0: no response
  std::string body;
};

std::string dechunk(std::string_view chunked) {
  std::string body;
  for (;;) {
    size_t line_end = chunked.find("\r\n");
    if (line_end == std::string_view::npos) return body;
    size_t size = std::strtoul(std::string(chunked.substr(0, line_end)).c_str(), nullptr, 16);
    if (size == 0 || chunked.size() < line_end + 2 + size) return body;
    body.append(chunked.substr(line_end + 2, size));
    chunked.remove_prefix(line_end + 2 + size + 2);
  }
}

// One request on its own connection, read to the server's close: what a script would do.
HttpResult http_request(uint16_t port, std::string_view method, std::string_view target,
                        std::string_view body = {}) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval guard{kSocketGuardSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  HttpResult result;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return result;
  }
  std::string request = std::string(method) + " " + std::string(target) +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                        "Content-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  char chunk[4096];
  ssize_t n;
  while ((n = ::recv(fd, chunk, sizeof(chunk), 0)) > 0)
    response.append(chunk, static_cast<size_t>(n));
  ::close(fd);
  size_t head_end = response.find("\r\n\r\n");
  if (n < 0 || response.size() < 12 || head_end == std::string::npos) return result;
  result.status = static_cast<int>(std::strtol(response.c_str() + 9, nullptr, 10));
  std::string_view head = std::string_view(response).substr(0, head_end);
  std::string_view rest = std::string_view(response).substr(head_end + 4);
  result.body = head.find("Transfer-Encoding: chunked") != std::string_view::npos
                    ? dechunk(rest)
                    : std::string(rest);
  return result;
}

// A JSON gateway call; the header's revision, or nullopt when the call failed.
std::optional<uint64_t> gateway(uint16_t port, std::string_view target, const Json& body) {
  HttpResult result = http_request(port, "POST", target, body.dump());
  if (result.status != 200) return std::nullopt;
  Json reply = Json::parse(result.body, nullptr, false);
  if (reply.is_discarded() || !reply.contains("header")) return std::nullopt;
  return std::stoull(reply["header"].value("revision", "0"));
}

// Retried until it succeeds: a cluster that lost a member may be electing a leader.
uint64_t put(uint16_t port, const std::string& key, const std::string& value) {
  auto deadline = std::chrono::steady_clock::now() + kGuard;
  while (std::chrono::steady_clock::now() < deadline) {
    Json body = {{"key", base64_encode(key)}, {"value", base64_encode(value)}};
    if (std::optional<uint64_t> revision = gateway(port, "/v3/kv/put", body)) return *revision;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the retry's interval
  }
  ADD_FAILURE() << "put " << key << " on port " << port << " never succeeded";
  return 0;
}

uint64_t remove(uint16_t port, const std::string& key) {
  std::optional<uint64_t> revision =
      gateway(port, "/v3/kv/deleterange", Json{{"key", base64_encode(key)}});
  EXPECT_TRUE(revision) << "delete " << key;
  return revision.value_or(0);
}

// One etcd member as a child process, killed with the test process if that dies first.
class EtcdMember {
 public:
  EtcdMember(std::string name, const std::filesystem::path& base)
      : name_(std::move(name)),
        data_dir_(base / (name_ + ".etcd")),
        log_path_(base / (name_ + ".log")),
        client_port_(free_port()),
        peer_port_(free_port()) {}
  ~EtcdMember() { stop(SIGKILL); }
  EtcdMember(const EtcdMember&) = delete;
  EtcdMember& operator=(const EtcdMember&) = delete;

  std::string peer_url() const { return url(peer_port_); }
  std::string endpoint() const { return url(client_port_); }
  uint16_t client_port() const { return client_port_; }

  // Starts the member serving clients on `client_port` (its own by default): the same member
  // and data on another port is etcd running where the watcher does not look.
  void start(const std::string& initial_cluster, const std::string& token,
             std::optional<uint16_t> client_port = std::nullopt) {
    std::string client_url = url(client_port.value_or(client_port_));
    std::vector<std::string> args = {kEtcd,
                                     "--name=" + name_,
                                     "--data-dir=" + data_dir_.string(),
                                     "--listen-client-urls=" + client_url,
                                     "--advertise-client-urls=" + client_url,
                                     "--listen-peer-urls=" + peer_url(),
                                     "--initial-advertise-peer-urls=" + peer_url(),
                                     "--initial-cluster=" + initial_cluster,
                                     "--initial-cluster-token=" + token,
                                     "--initial-cluster-state=new"};
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& arg : args)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);
      int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
      ::execv(kEtcd, argv.data());
      ::_exit(127);
    }
  }

  // Polls /health until the member answers that it is healthy (it has a leader).
  bool wait_ready(std::optional<uint16_t> client_port = std::nullopt) const {
    auto deadline = std::chrono::steady_clock::now() + kGuard;
    while (std::chrono::steady_clock::now() < deadline) {
      HttpResult health = http_request(client_port.value_or(client_port_), "GET", "/health");
      if (health.status == 200 && health.body.find(R"("health":"true")") != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the poll's interval
    }
    return false;
  }

  // SIGTERM: etcd shuts down cleanly; SIGKILL: the member dies as on a crash.
  void stop(int signal = SIGTERM) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  std::string name_;
  std::filesystem::path data_dir_;
  std::filesystem::path log_path_;
  uint16_t client_port_;
  uint16_t peer_port_;
  pid_t pid_ = -1;
};

// A server that speaks HTTP but not etcd: it answers every range read and every watch with the
// bytes it was given, one connection at a time, and leaves a watch's stream open.
class BrokenEtcd {
 public:
  BrokenEtcd(std::string range_response, std::string watch_response)
      : range_response_(std::move(range_response)), watch_response_(std::move(watch_response)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), length), 0);
    ::listen(listen_fd_, 4);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~BrokenEtcd() {
    ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(listen_fd_);
  }
  BrokenEtcd(const BrokenEtcd&) = delete;
  BrokenEtcd& operator=(const BrokenEtcd&) = delete;

  std::string endpoint() const { return url(port_); }
  uint16_t port() const { return port_; }

 private:
  void serve() {
    for (int fd; (fd = ::accept(listen_fd_, nullptr, nullptr)) >= 0;) {
      timeval guard{kSocketGuardSeconds, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
      std::string input;
      for (std::string target; !(target = read_request(fd, input)).empty();) {
        const std::string& response = target == "/v3/kv/range" ? range_response_ : watch_response_;
        ::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
      }
      ::close(fd);
    }
  }

  // Reads one request and returns its target; empty when the client closed.
  static std::string read_request(int fd, std::string& input) {
    size_t head_end;
    char chunk[4096];
    ssize_t n;
    while ((head_end = input.find("\r\n\r\n")) == std::string::npos) {
      if ((n = ::recv(fd, chunk, sizeof(chunk), 0)) <= 0) return {};
      input.append(chunk, static_cast<size_t>(n));
    }
    size_t at = input.find("Content-Length: ");
    size_t length = at < head_end ? std::strtoul(input.c_str() + at + 16, nullptr, 10) : 0;
    while (input.size() < head_end + 4 + length) {
      if ((n = ::recv(fd, chunk, sizeof(chunk), 0)) <= 0) return {};
      input.append(chunk, static_cast<size_t>(n));
    }
    size_t target_start = input.find(' ') + 1;
    std::string target = input.substr(target_start, input.find(' ', target_start) - target_start);
    input.erase(0, head_end + 4 + length);
    return target;
  }

  std::string range_response_;
  std::string watch_response_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::string chunk(std::string_view bytes) {
  char size[20];
  std::snprintf(size, sizeof(size), "%zx\r\n", bytes.size());
  return size + std::string(bytes) + "\r\n";
}

struct Update {
  Keys keys;
  std::vector<EtcdWatcher::Change> changes;
  uint64_t revision;
  bool relisted;
};

// (kind, key) pairs, for comparing changes in one expression.
using ChangeList = std::vector<std::pair<Kind, std::string>>;

ChangeList flatten(const std::vector<Update>& updates, size_t from = 0) {
  ChangeList all;
  for (size_t i = from; i < updates.size(); ++i) {
    for (const EtcdWatcher::Change& change : updates[i].changes)
      all.emplace_back(change.kind, change.key);
  }
  return all;
}

class EtcdWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kEtcd)) << "etcd-server is not installed";
    char pattern[] = "/tmp/waygate-etcd-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    base_ = pattern;
    token_ = base_.filename().string();
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    uv_timer_init(&loop_, &guard_);
    guard_.data = this;
  }

  void TearDown() override {
    watcher_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&guard_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0);  // the watcher left no handle open
    members_.clear();
    std::error_code ignored;
    std::filesystem::remove_all(base_, ignored);
  }

  // Starts `count` members as one cluster and waits until each is healthy.
  void start_cluster(size_t count) {
    std::string initial_cluster;
    for (size_t i = 0; i < count; ++i) {
      std::string name = "m";  // appended, not "m" + ...: GCC 12 warns falsely (-Wrestrict)
      name += std::to_string(i);
      members_.push_back(std::make_unique<EtcdMember>(name, base_));
      if (i > 0) initial_cluster += ",";
      initial_cluster += name + "=" + members_.back()->peer_url();
    }
    initial_cluster_ = initial_cluster;
    for (auto& member : members_)
      member->start(initial_cluster_, token_);
    for (auto& member : members_)
      ASSERT_TRUE(member->wait_ready()) << "etcd did not become healthy; see " << base_;
  }

  EtcdMember& member(size_t i = 0) { return *members_[i]; }

  void start_watcher(std::vector<std::string> endpoints, std::string key, bool prefix = true) {
    EtcdWatcher::Options options;
    options.endpoints = std::move(endpoints);
    options.key = std::move(key);
    options.prefix = prefix;
    options.min_backoff_ms = 20;
    options.max_backoff_ms = 200;
    watcher_ = std::make_unique<EtcdWatcher>(
        &loop_, options,
        [this](const Keys& keys, const std::vector<EtcdWatcher::Change>& changes, uint64_t revision,
               bool relisted) {
          updates_.push_back({keys, changes, revision, relisted});
          if (updates_.size() == destroy_at_update_) watcher_.reset();  // nothing after this
        },
        [this](const std::string& error) {
          errors_.push_back(error);
          keys_at_error_.push_back(watcher_->keys());
        });
    watcher_->start();
  }

  // Runs the loop until `done` holds; false when the guard ran out first.
  bool run_until(const std::function<bool()>& done) {
    timed_out_ = false;
    uv_timer_start(
        &guard_,
        [](uv_timer_t* timer) { static_cast<EtcdWatcherTest*>(timer->data)->timed_out_ = true; },
        std::chrono::duration_cast<std::chrono::milliseconds>(kGuard).count(), 0);
    while (!done() && !timed_out_)
      uv_run(&loop_, UV_RUN_ONCE);
    uv_timer_stop(&guard_);
    return done();
  }

  bool run_until_keys(const Keys& keys) {
    return run_until([&] { return watcher_->keys() == keys; });
  }

  std::filesystem::path base_;
  std::string token_;
  std::string initial_cluster_;
  std::vector<std::unique_ptr<EtcdMember>> members_;
  uv_loop_t loop_;
  uv_timer_t guard_;
  bool timed_out_ = false;
  std::unique_ptr<EtcdWatcher> watcher_;
  std::vector<Update> updates_;
  std::vector<std::string> errors_;
  std::vector<Keys> keys_at_error_;
  size_t destroy_at_update_ = 0;  // the watcher destroys itself inside this update (1 = first)
};

TEST_F(EtcdWatcherTest, FirstReadSeesTheKeysUnderThePrefixOnly) {
  start_cluster(1);
  uint16_t port = member().client_port();
  const std::string binary("v\0\xff", 3);
  put(port, "/w/a", "1");
  put(port, "/w/b", binary);
  put(port, "/w0", "past the prefix's range end");
  put(port, "/w.", "before the prefix");
  uint64_t last = put(port, "/x", "elsewhere");

  start_watcher({member().endpoint()}, "/w/");
  ASSERT_TRUE(run_until([&] { return watcher_->synced(); }));
  ASSERT_EQ(updates_.size(), 1u);
  EXPECT_EQ(updates_[0].keys, (Keys{{"/w/a", "1"}, {"/w/b", binary}}));
  EXPECT_EQ(flatten(updates_), (ChangeList{{Kind::kPut, "/w/a"}, {Kind::kPut, "/w/b"}}));
  EXPECT_FALSE(updates_[0].relisted);
  EXPECT_EQ(updates_[0].revision, last);
  EXPECT_EQ(watcher_->revision(), last);
  EXPECT_TRUE(errors_.empty());
}

TEST_F(EtcdWatcherTest, PutsAndDeletesArriveAsChanges) {
  start_cluster(1);
  uint16_t port = member().client_port();
  put(port, "/w/a", "1");
  start_watcher({member().endpoint()}, "/w/");
  ASSERT_TRUE(run_until([&] { return watcher_->synced(); }));
  size_t first = updates_.size();

  put(port, "/w/b", "2");
  ASSERT_TRUE(run_until_keys({{"/w/a", "1"}, {"/w/b", "2"}}));
  put(port, "/w/a", "changed");
  put(port, "/x", "outside the prefix");
  uint64_t last = remove(port, "/w/a");
  ASSERT_TRUE(run_until_keys({{"/w/b", "2"}}));

  EXPECT_EQ(flatten(updates_, first),
            (ChangeList{{Kind::kPut, "/w/b"}, {Kind::kPut, "/w/a"}, {Kind::kDelete, "/w/a"}}));
  EXPECT_EQ(updates_.back().revision, last);
  for (const Update& update : updates_)
    EXPECT_FALSE(update.relisted);
  EXPECT_TRUE(errors_.empty());
}

TEST_F(EtcdWatcherTest, WatchesOneExactKey) {
  start_cluster(1);
  uint16_t port = member().client_port();
  put(port, "/waygate/routes", "a");
  start_watcher({member().endpoint()}, "/waygate/routes", false);
  ASSERT_TRUE(run_until([&] { return watcher_->synced(); }));
  EXPECT_EQ(watcher_->keys(), (Keys{{"/waygate/routes", "a"}}));

  put(port, "/waygate/routes2", "shares the key as a prefix");
  put(port, "/waygate/routes", "b");
  ASSERT_TRUE(run_until_keys({{"/waygate/routes", "b"}}));
  EXPECT_EQ(flatten(updates_),
            (ChangeList{{Kind::kPut, "/waygate/routes"}, {Kind::kPut, "/waygate/routes"}}));
}

// The update comes from inside the watch stream's parsing: destroying the watcher there must
// leave nothing running (TearDown checks every handle closed; ASan checks the memory).
TEST_F(EtcdWatcherTest, CanBeDestroyedInsideItsUpdateCallback) {
  start_cluster(1);
  uint16_t port = member().client_port();
  destroy_at_update_ = 2;
  start_watcher({member().endpoint()}, "/w/");
  ASSERT_TRUE(run_until([&] { return updates_.size() == 1; }));
  put(port, "/w/a", "1");
  ASSERT_TRUE(run_until([&] { return watcher_ == nullptr; }));
  EXPECT_EQ(updates_.back().keys, (Keys{{"/w/a", "1"}}));
  EXPECT_TRUE(errors_.empty());
}

// While etcd is away the view stays as it was; etcd then comes back on another port first (where
// the watcher does not look) and takes changes, and only then on the watcher's port: the watcher
// must resume from its revision and catch up on exactly those changes, without a re-read.
TEST_F(EtcdWatcherTest, KeepsTheViewWhileEtcdIsDownAndCatchesUpAfter) {
  start_cluster(1);
  uint16_t port = member().client_port();
  put(port, "/w/a", "1");
  start_watcher({member().endpoint()}, "/w/");
  ASSERT_TRUE(run_until([&] { return watcher_->synced(); }));
  size_t first = updates_.size();

  member().stop();
  ASSERT_TRUE(run_until([&] { return !errors_.empty(); }));
  EXPECT_NE(errors_[0].find("127.0.0.1:" + std::to_string(port) + ": "), std::string::npos)
      << errors_[0];
  EXPECT_EQ(keys_at_error_[0], (Keys{{"/w/a", "1"}}));

  uint16_t elsewhere = free_port();
  member().start(initial_cluster_, token_, elsewhere);
  ASSERT_TRUE(member().wait_ready(elsewhere));
  put(elsewhere, "/w/b", "2");
  uint64_t last = remove(elsewhere, "/w/a");
  member().stop();
  EXPECT_TRUE(watcher_->synced());

  member().start(initial_cluster_, token_);
  ASSERT_TRUE(run_until_keys({{"/w/b", "2"}}));
  EXPECT_EQ(flatten(updates_, first), (ChangeList{{Kind::kPut, "/w/b"}, {Kind::kDelete, "/w/a"}}));
  for (const Update& update : updates_)
    EXPECT_FALSE(update.relisted);
  EXPECT_EQ(watcher_->revision(), last);
}

// As above, but etcd also compacts past the watcher's revision while the watcher cannot reach
// it. The resumed watch is then refused (compacted), so the watcher must read the whole range
// again and report the difference from its old view as one re-list.
TEST_F(EtcdWatcherTest, ReadsTheRangeAgainWhenItsRevisionWasCompacted) {
  start_cluster(1);
  uint16_t port = member().client_port();
  put(port, "/w/a", "1");
  put(port, "/w/keep", "same");
  start_watcher({member().endpoint()}, "/w/");
  ASSERT_TRUE(run_until([&] { return watcher_->synced(); }));
  uint64_t watched = watcher_->revision();

  member().stop();
  ASSERT_TRUE(run_until([&] { return !errors_.empty(); }));
  uint16_t elsewhere = free_port();
  member().start(initial_cluster_, token_, elsewhere);
  ASSERT_TRUE(member().wait_ready(elsewhere));
  put(elsewhere, "/w/b", "2");
  uint64_t last = remove(elsewhere, "/w/a");
  // Two revisions past the watcher's: the one it resumes from (watched + 1) is compacted.
  ASSERT_GT(last, watched + 1);
  ASSERT_TRUE(gateway(elsewhere, "/v3/kv/compaction",
                      Json{{"revision", std::to_string(last)}, {"physical", true}}));
  member().stop();
  member().start(initial_cluster_, token_);

  ASSERT_TRUE(run_until([&] { return !updates_.empty() && updates_.back().relisted; }));
  const Update& relist = updates_.back();
  EXPECT_EQ(relist.keys, (Keys{{"/w/b", "2"}, {"/w/keep", "same"}}));
  EXPECT_EQ(flatten({relist}), (ChangeList{{Kind::kDelete, "/w/a"}, {Kind::kPut, "/w/b"}}));
  EXPECT_EQ(relist.revision, last);

  // The watch goes on from the new read.
  put(port, "/w/c", "3");
  ASSERT_TRUE(run_until_keys({{"/w/b", "2"}, {"/w/c", "3"}, {"/w/keep", "same"}}));
  EXPECT_FALSE(updates_.back().relisted);
}

TEST_F(EtcdWatcherTest, FailsOverToAnotherMemberWhenOneDies) {
  start_cluster(3);
  put(member(1).client_port(), "/w/a", "1");
  start_watcher({member(0).endpoint(), member(1).endpoint(), member(2).endpoint()}, "/w/");
  ASSERT_TRUE(run_until([&] { return watcher_->synced(); }));
  put(member(1).client_port(), "/w/b", "2");
  ASSERT_TRUE(run_until_keys({{"/w/a", "1"}, {"/w/b", "2"}}));

  member(0).stop(SIGKILL);  // the member the watcher is on (the first endpoint)
  ASSERT_TRUE(run_until([&] { return !errors_.empty(); }));
  EXPECT_EQ(errors_[0].rfind("127.0.0.1:" + std::to_string(member(0).client_port()) + ": ", 0), 0u)
      << errors_[0];

  put(member(2).client_port(), "/w/c", "3");
  remove(member(2).client_port(), "/w/a");
  ASSERT_TRUE(run_until_keys({{"/w/b", "2"}, {"/w/c", "3"}}));
  for (const Update& update : updates_)
    EXPECT_FALSE(update.relisted);
}

// A member cut off from the others must not keep the watcher: etcd ends the watch when the member
// has no leader, the watcher says so and goes on trying, and once a quorum is back it catches up.
TEST_F(EtcdWatcherTest, LeavesAMemberThatLostItsLeader) {
  start_cluster(3);
  put(member(0).client_port(), "/w/a", "1");
  start_watcher({member(0).endpoint(), member(1).endpoint(), member(2).endpoint()}, "/w/");
  ASSERT_TRUE(run_until([&] { return watcher_->synced(); }));

  member(1).stop(SIGKILL);
  member(2).stop(SIGKILL);
  std::string on_member0 = "127.0.0.1:" + std::to_string(member(0).client_port()) + ": ";
  ASSERT_TRUE(run_until([&] {
    return std::any_of(errors_.begin(), errors_.end(), [&](const std::string& error) {
      return error.starts_with(on_member0) && error.find("no leader") != std::string::npos;
    });
  }));
  EXPECT_EQ(watcher_->keys(), (Keys{{"/w/a", "1"}}));

  member(1).start(initial_cluster_, token_);
  put(member(1).client_port(), "/w/b", "2");
  ASSERT_TRUE(run_until_keys({{"/w/a", "1"}, {"/w/b", "2"}}));
}

// A server whose answer is not JSON fails like one that is down: the watcher says so and reads
// from the next endpoint.
TEST_F(EtcdWatcherTest, TreatsARangeAnswerThatIsNotJsonAsAFailedEndpoint) {
  start_cluster(1);
  put(member().client_port(), "/w/a", "1");
  BrokenEtcd broken("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{\"header\"", "");
  start_watcher({broken.endpoint(), member().endpoint()}, "/w/");
  ASSERT_TRUE(run_until([&] { return watcher_->synced(); }));
  EXPECT_EQ(watcher_->keys(), (Keys{{"/w/a", "1"}}));
  EXPECT_EQ(errors_, std::vector<std::string>{"127.0.0.1:" + std::to_string(broken.port()) +
                                              ": range: not a range response"});
}

// The broken server's watch stream splits its first line across chunks (which must be joined)
// and then sends a line that is not JSON: the watcher resumes on the real etcd from the broken
// server's revision, and catches up by events rather than by a new read.
TEST_F(EtcdWatcherTest, TreatsAWatchLineThatIsNotJsonAsAFailedEndpoint) {
  start_cluster(1);
  put(member().client_port(), "/w/a", "1");  // revision 2
  std::string range = R"({"header":{"revision":"1"}})";
  BrokenEtcd broken(
      "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(range.size()) + "\r\n\r\n" + range,
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(R"({"result":{"cre)") +
          chunk("ated\":true}}\nnot json\n"));
  start_watcher({broken.endpoint(), member().endpoint()}, "/w/");
  ASSERT_TRUE(run_until_keys({{"/w/a", "1"}}));
  EXPECT_EQ(errors_, std::vector<std::string>{"127.0.0.1:" + std::to_string(broken.port()) +
                                              ": watch: a line that is not JSON"});
  EXPECT_EQ(flatten(updates_), (ChangeList{{Kind::kPut, "/w/a"}}));
  for (const Update& update : updates_)
    EXPECT_FALSE(update.relisted);
}

TEST(EtcdEndpoint, AcceptsHttpWithAnIpAddressAndPort) {
  EXPECT_EQ(EtcdWatcher::check_endpoint("http://127.0.0.1:2379"), "");
  EXPECT_EQ(EtcdWatcher::check_endpoint("http://127.0.0.1:2379/"), "");
  EXPECT_EQ(EtcdWatcher::check_endpoint("http://[::1]:2379"), "");
}

TEST(EtcdEndpoint, RefusesOtherSchemesNamesAndMissingPorts) {
  EXPECT_NE(EtcdWatcher::check_endpoint("https://127.0.0.1:2379"), "");
  EXPECT_NE(EtcdWatcher::check_endpoint("127.0.0.1:2379"), "");
  EXPECT_NE(EtcdWatcher::check_endpoint("http://localhost:2379"), "");
  EXPECT_NE(EtcdWatcher::check_endpoint("http://127.0.0.1"), "");
  EXPECT_NE(EtcdWatcher::check_endpoint("http://127.0.0.1:2379/v3"), "");
}

}  // namespace
}  // namespace waygate::discovery
