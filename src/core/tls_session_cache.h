// The TLS sessions waygate holds as a client, by upstream peer, so that a new upstream connection
// resumes (a TLS 1.3 ticket, a TLS 1.2 session) instead of paying for a full handshake. Shared by
// every worker: it is read and written once per new upstream connection, under a mutex, never per
// request.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/openssl_ptr.h"

namespace waygate::tls {

class ClientSessionCache {
 public:
  // Peers are endpoints, which discovery replaces over time: at this many, a new peer's sessions
  // take the place of another's (that peer's next connection does a full handshake).
  static constexpr size_t kMaxPeers = 4096;
  // TLS 1.3 tickets are for one use each (RFC 8446, C.4), and a server sends a few per handshake:
  // the newest ones are kept, so that connections opened together can each resume.
  static constexpr size_t kTicketsPerPeer = 4;

  // A session to offer `peer`, with its own reference, or null. A TLS 1.3 ticket is handed out
  // once; a TLS 1.2 session stays for the next connection.
  SslSessionPtr take(const std::string& peer);
  // Keeps a resumable session from `peer`. A TLS 1.2 session replaces what was kept; TLS 1.3
  // tickets queue up, the oldest dropped past kTicketsPerPeer.
  void store(const std::string& peer, SslSessionPtr session);
  // Sessions held for `peer` (tests).
  size_t count(const std::string& peer) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::vector<SslSessionPtr>> sessions_;  // oldest first
};

}  // namespace waygate::tls
