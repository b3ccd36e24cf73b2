// Listening sockets with SO_REUSEPORT: each worker gets its own socket on the same address and the
// kernel spreads new connections across them, with no shared accept lock.
#pragma once

#include <string>

#include "core/socket_address.h"

namespace waygate::proxy {

// A bound, listening, non-blocking socket, or -1 with *error set.
int open_listen_socket(const SocketAddress& address, std::string* error);

}  // namespace waygate::proxy
