#include "loopback_worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <utility>

#include "proxy/listen_socket.h"

namespace waygate::test {

int listen_on_loopback(uint16_t* port) {
  std::string error;
  int fd = proxy::open_listen_socket(*parse_socket_address("127.0.0.1:0"), &error);
  if (fd < 0) return -1;
  sockaddr_in bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  *port = ntohs(bound.sin_port);
  return fd;
}

int connect_to_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  timeval guard{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::unique_ptr<LoopbackWorker> LoopbackWorker::start(const std::string& config_text, int listen_fd,
                                                      std::string* error) {
  std::unique_ptr<LoopbackWorker> self(new LoopbackWorker);
  self->loaded_ = routing::load_config_text(config_text, "test.yaml");
  if (!self->loaded_.ok()) {
    *error = self->loaded_.errors.front();
    return nullptr;
  }
  const routing::Config& config = self->loaded_.config;
  if (config.listeners.size() != 1) {
    *error = std::string("the config must have one listener, at ") + kListenerAddress;
    return nullptr;
  }
  self->topology_.apply_config(config, routing::literal_endpoints(config));
  const routing::AccessLogConfig* log = &config.access_log;
  if (config.listeners.front().access_log) log = &*config.listeners.front().access_log;
  proxy::AccessLogFiles files;
  if (!proxy::open_access_log_files({&log, 1}, nullptr, false, &files, error)) return nullptr;
  proxy::AccessLogTarget target{0, config.listeners.front().name, log};
  proxy::WorkerUpdate initial{
      routing::build_snapshot(std::make_shared<const routing::Config>(config), self->topology_,
                              self->route_names_),
      self->topology_.all_host_sets(),
      {},
      {proxy::ListenerChange{kListenerAddress, listen_fd}},
      0,
      proxy::make_access_log_setup(std::move(files), {&target, 1})};
  self->worker_ = std::make_unique<proxy::Worker>(0, std::move(initial), nullptr);
  self->worker_->start();
  return self;
}

LoopbackWorker::~LoopbackWorker() {
  if (!worker_) return;
  worker_->request_drain();
  worker_->join();
}

}  // namespace waygate::test
