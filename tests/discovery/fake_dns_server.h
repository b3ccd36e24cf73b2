// A DNS server on a loopback UDP port of the test's own loop, answering each query with what the
// test's function returns: the answers dnsmasq will not give (SERVFAIL, malformed, duplicates,
// silence) on demand.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <functional>
#include <optional>
#include <string>

#include "core/uv_handle.h"
#include "dns_test_messages.h"

namespace waygate::discovery::test {

// The question's type (queries carry one uncompressed question).
inline uint16_t query_type(const Bytes& query) {
  size_t at = kQuestionOffset;
  while (at < query.size() && query[at] != 0)
    at += 1 + query[at];
  if (at + 3 > query.size()) return 0;
  return static_cast<uint16_t>((query[at + 1] << 8) | query[at + 2]);
}

// A reply to `query`: its id and question, `flags` (with the rcode), and `answers` records that
// `add_records` appends. Owners may point at the question name (kQuestionOffset).
inline Bytes reply(const Bytes& query, uint16_t flags, uint16_t answers,
                   const std::function<void(Bytes&)>& add_records = {}) {
  Bytes m = header(static_cast<uint16_t>((query[0] << 8) | query[1]), flags, 1, answers);
  m.insert(m.end(), query.begin() + kQuestionOffset, query.end());
  if (add_records) add_records(m);
  return m;
}

class FakeDnsServer {
 public:
  // Returns the reply to send, or nothing to stay silent.
  using Respond = std::function<std::optional<Bytes>(const Bytes& query)>;

  FakeDnsServer(uv_loop_t* loop, Respond respond) : respond_(std::move(respond)) {
    udp_.init(uv_udp_init, loop, this);
    sockaddr_in address{};
    uv_ip4_addr("127.0.0.1", 0, &address);
    uv_udp_bind(udp_.get(), reinterpret_cast<const sockaddr*>(&address), 0);
    int length = sizeof address;
    uv_udp_getsockname(udp_.get(), reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    uv_udp_recv_start(udp_.get(), &FakeDnsServer::on_alloc, &FakeDnsServer::on_recv);
  }

  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  int queries() const { return queries_; }

 private:
  static void on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
    auto* self = static_cast<FakeDnsServer*>(handle->data);
    *buf = uv_buf_init(self->buffer_, sizeof self->buffer_);
  }

  static void on_recv(uv_udp_t* udp, ssize_t n, const uv_buf_t* buf, const sockaddr* peer,
                      unsigned) {
    auto* self = static_cast<FakeDnsServer*>(udp->data);
    if (n <= 0 || !peer) return;
    ++self->queries_;
    Bytes query(buf->base, buf->base + n);
    // respond_ may destroy a resolver; it must not destroy this server.
    std::optional<Bytes> answer = self->respond_(query);
    if (!answer) return;
    uv_buf_t out =
        uv_buf_init(reinterpret_cast<char*>(answer->data()), static_cast<unsigned>(answer->size()));
    uv_udp_try_send(udp, &out, 1, peer);
  }

  UvHandle<uv_udp_t> udp_;
  Respond respond_;
  uint16_t port_ = 0;
  int queries_ = 0;
  char buffer_[4096];
};

}  // namespace waygate::discovery::test
