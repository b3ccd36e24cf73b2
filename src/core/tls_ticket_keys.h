// Session tickets under keys shared by the whole process: every SSL_CTX (every worker's, every
// one a reload builds) encrypts and decrypts tickets with the same keys, so a client resumes on
// whichever worker it reaches, and across certificate reloads.
#pragma once

#include <openssl/ssl.h>

#include <chrono>

namespace waygate::tls {

// How long a key encrypts new tickets. The key before it is still accepted (and its tickets are
// replaced by fresh ones), so a ticket stays usable for at least this long.
inline constexpr std::chrono::hours kTicketKeyLifetime{12};

// Makes `context` issue and accept stateless tickets under the process's keys. The first key is
// drawn from RAND_bytes at the first call; thread-safe.
void use_shared_ticket_keys(SSL_CTX* context);

// Starts a new key now: the current one is kept for decryption only, the one before it is
// forgotten. Happens by itself every kTicketKeyLifetime (checked as tickets are used).
void rotate_ticket_keys();

}  // namespace waygate::tls
