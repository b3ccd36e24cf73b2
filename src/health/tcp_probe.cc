#include "health/tcp_probe.h"

#include <sys/socket.h>

#include <memory>

#include "core/handle_owner.h"
#include "core/tcp_transport.h"

namespace waygate::health {

class TcpProbe::Attempt final : public HandleOwner, private TransportSink {
 public:
  Attempt(uv_loop_t* loop, TcpProbe& probe) : probe_(&probe), transport_(loop, *this) {}

  int connect(const SocketAddress& address) { return transport_.connect(address.get()); }

  // The probe is going or gives up: nothing more reaches it.
  void abandon() {
    probe_ = nullptr;
    close();
  }

 private:
  // TransportSink: nothing is read or written; only the connect matters.
  void on_transport_connected(int status) override {
    TcpProbe* probe = probe_;
    if (probe) probe->attempt_ = nullptr;
    abandon();
    // Last: the sink may destroy the probe.
    if (probe) {
      const char* failure = status == 0                 ? nullptr
                            : status == UV_ECONNREFUSED ? "connect-refused"
                                                        : "connect-failed";
      probe->sink_.on_probe_done(failure == nullptr, failure);
    }
  }
  void on_transport_read(std::string_view) override {}
  void on_transport_eof(int) override {}
  void on_transport_drained(int) override {}

  // HandleOwner
  void on_handles_closed() override { std::unique_ptr<Attempt> last(this); }

  void close() {
    if (handles_closing()) return;
    // A zero linger turns the close into a reset: the peer learns at once, and this side keeps
    // no TIME_WAIT socket for a minute after every check.
    uv_os_fd_t fd;
    if (uv_fileno(transport_.handle(), &fd) == 0) {
      linger reset{1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    }
    close_handles({transport_.handle()});
  }

  TcpProbe* probe_;
  TcpTransport transport_;
};

TcpProbe::TcpProbe(uv_loop_t* loop, const SocketAddress& address, ProbeSink& sink)
    : loop_(loop), address_(address), sink_(sink) {}

TcpProbe::~TcpProbe() {
  abandon();
}

bool TcpProbe::start() {
  attempt_ = std::make_unique<Attempt>(loop_, *this).release();  // frees itself
  if (attempt_->connect(address_) == 0) return true;
  abandon();
  return false;
}

void TcpProbe::abandon() {
  if (!attempt_) return;
  Attempt* attempt = attempt_;
  attempt_ = nullptr;
  attempt->abandon();
}

}  // namespace waygate::health
