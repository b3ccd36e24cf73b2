// A real dnsmasq (Debian's dnsmasq-base) serving a hosts file on a free loopback port, in the
// foreground with its log on a pipe: readiness and reloads are read from the log, never waited
// for with sleeps.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace waygate::discovery::test {

class DnsmasqProcess {
 public:
  static constexpr const char* kBinary = "/usr/sbin/dnsmasq";

  DnsmasqProcess() = default;
  ~DnsmasqProcess() {
    stop();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  DnsmasqProcess(const DnsmasqProcess&) = delete;
  DnsmasqProcess& operator=(const DnsmasqProcess&) = delete;

  // Starts dnsmasq on `hosts` (hosts-file lines) with `args` added, and waits for its log to
  // say it has read the file. Tries another port when the one picked was taken meanwhile.
  ::testing::AssertionResult start(std::string_view hosts, const std::vector<std::string>& args) {
    char pattern[] = "/tmp/waygate_dnsmasq_XXXXXX";
    if (!mkdtemp(pattern)) return ::testing::AssertionFailure() << "mkdtemp failed";
    dir_ = pattern;
    hosts_path_ = (dir_ / "hosts").string();
    write_hosts(hosts);
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      if (port_ != 0 && spawn(args) && wait_for_reads(1)) return ::testing::AssertionSuccess();
      stop();
    }
    return ::testing::AssertionFailure() << "dnsmasq did not start; its log:\n" << log_;
  }

  void write_hosts(std::string_view hosts) {
    std::ofstream file(hosts_path_, std::ios::trunc);
    file << hosts;
  }

  // SIGHUP makes dnsmasq read its hosts files again; returns once its log says it has.
  ::testing::AssertionResult reload() {
    int before = reads();
    ::kill(pid_, SIGHUP);
    if (wait_for_reads(before + 1)) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "dnsmasq did not reread its hosts; its log:\n" << log_;
  }

  // Ends dnsmasq and waits for it, so its port is closed on return.
  void stop(int signal = SIGTERM) {
    if (pid_ > 0) {
      ::kill(pid_, signal);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (log_fd_ >= 0) close(log_fd_);
    log_fd_ = -1;
  }

  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& log() const { return log_; }

 private:
  // A port free for both UDP and TCP on 127.0.0.1 just now (0 when none was found).
  static uint16_t free_port() {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    uint16_t port = 0;
    auto* generic = reinterpret_cast<sockaddr*>(&address);
    if (bind(udp, generic, sizeof address) == 0 && getsockname(udp, generic, &length) == 0 &&
        bind(tcp, generic, sizeof address) == 0) {
      port = ntohs(address.sin_port);
    }
    close(udp);
    close(tcp);
    return port;
  }

  bool spawn(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {
        kBinary,
        "--keep-in-foreground",  // no fork, so the pid is dnsmasq's and its log stays on the pipe
        "--log-facility=-",      // log to stderr
        "--conf-file=/dev/null",
        "--pid-file=",
        "--user=root",  // stay the user that started it (as root it would become nobody)
        "--port=" + std::to_string(port_),
        "--listen-address=127.0.0.1",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--addn-hosts=" + hosts_path_,
    };
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& arg : args)
      argv.push_back(arg.data());
    argv.push_back(nullptr);

    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
    int rc = posix_spawn(&pid_, kBinary, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(pipe_fds[1]);
    log_fd_ = pipe_fds[0];
    log_.clear();
    if (rc != 0) pid_ = -1;
    return rc == 0;
  }

  // How often the log says the hosts file was read.
  int reads() const {
    const std::string needle = "read " + hosts_path_ + " - ";
    int count = 0;
    for (size_t at = log_.find(needle); at != std::string::npos; at = log_.find(needle, at + 1)) {
      ++count;
    }
    return count;
  }

  // Reads the log until it says the hosts file was read `count` times; false when dnsmasq ended
  // first, or after a 10 s guard.
  bool wait_for_reads(int count) {
    auto guard = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (reads() < count) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          guard - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd readable{log_fd_, POLLIN, 0};
      if (poll(&readable, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      ssize_t n = read(log_fd_, buffer, sizeof buffer);
      if (n <= 0) return false;
      log_.append(buffer, static_cast<size_t>(n));
    }
    return true;
  }

  std::filesystem::path dir_;
  std::string hosts_path_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  int log_fd_ = -1;
  std::string log_;
};

}  // namespace waygate::discovery::test
