#include "core/tls_ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace waygate::tls {
namespace {

constexpr size_t kNameBytes = 16;  // fixed by the ticket format

struct TicketKey {
  unsigned char name[kNameBytes];
  unsigned char aes_key[32];
  unsigned char hmac_key[32];
};

struct KeyPair {
  TicketKey current;
  TicketKey previous;
  bool has_previous = false;
  uint64_t generation = 0;  // 0: none yet
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void fill_random(unsigned char* bytes, size_t size) {
  if (RAND_bytes(bytes, static_cast<int>(size)) != 1) {
    // Without randomness no ticket key is safe, nor anything else TLS does.
    std::fputs("tls: RAND_bytes failed; cannot make session ticket keys\n", stderr);
    std::abort();
  }
}

// The keys of the process. Handshakes read them from a copy kept per thread, refreshed only when
// the generation moved, so the mutex is taken once per thread per rotation.
class SharedKeys {
 public:
  static SharedKeys& instance() {
    static SharedKeys keys;
    return keys;
  }

  const KeyPair& current() {
    if (now_ns() >= next_rotation_ns_.load(std::memory_order_relaxed)) rotate(/*only_if_due=*/true);
    thread_local KeyPair cached;
    if (cached.generation != generation_.load(std::memory_order_acquire)) {
      std::lock_guard lock(mutex_);
      cached = keys_;
    }
    return cached;
  }

  void rotate(bool only_if_due) {
    std::lock_guard lock(mutex_);
    int64_t now = now_ns();
    if (only_if_due && now < next_rotation_ns_.load(std::memory_order_relaxed)) return;
    if (keys_.generation != 0) {
      keys_.previous = keys_.current;
      keys_.has_previous = true;
    }
    fill_random(reinterpret_cast<unsigned char*>(&keys_.current), sizeof(keys_.current));
    ++keys_.generation;
    next_rotation_ns_.store(
        now + std::chrono::duration_cast<std::chrono::nanoseconds>(kTicketKeyLifetime).count(),
        std::memory_order_relaxed);
    generation_.store(keys_.generation, std::memory_order_release);
  }

 private:
  SharedKeys() { rotate(/*only_if_due=*/false); }

  std::mutex mutex_;
  KeyPair keys_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_rotation_ns_{0};
};

const EVP_CIPHER* ticket_cipher() {
  // Fetched once: the implicit fetch behind EVP_aes_256_cbc() would search the providers on
  // every ticket.
  static const EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  return cipher;
}

// OpenSSL's ticket key callback: 1 = use this key, 2 = accepted but issue a fresh ticket, 0 =
// unknown key (a full handshake follows), -1 = error.
int on_ticket_key(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                  EVP_MAC_CTX* mac, int encrypt) {
  const KeyPair& keys = SharedKeys::instance().current();
  const TicketKey* key;
  int result = 1;
  if (encrypt) {
    key = &keys.current;
    std::memcpy(key_name, key->name, kNameBytes);
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(ticket_cipher())) != 1) return -1;
    if (EVP_EncryptInit_ex2(cipher, ticket_cipher(), key->aes_key, iv, nullptr) != 1) return -1;
  } else {
    if (std::memcmp(key_name, keys.current.name, kNameBytes) == 0) {
      key = &keys.current;
      // A TLS 1.3 client uses each ticket once (RFC 8446, C.4): without a fresh one after it
      // resumes, its next visit would be a full handshake.
      if (SSL_version(ssl) >= TLS1_3_VERSION) result = 2;
    } else if (keys.has_previous && std::memcmp(key_name, keys.previous.name, kNameBytes) == 0) {
      key = &keys.previous;
      result = 2;
    } else {
      return 0;
    }
    if (EVP_DecryptInit_ex2(cipher, ticket_cipher(), key->aes_key, iv, nullptr) != 1) return -1;
  }
  static char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(
          OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key->hmac_key), sizeof(key->hmac_key)),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  return result;
}

}  // namespace

void use_shared_ticket_keys(SSL_CTX* context) {
  SharedKeys::instance();  // the first key exists before the first handshake
  SSL_CTX_set_tlsext_ticket_key_evp_cb(context, &on_ticket_key);
}

void rotate_ticket_keys() {
  SharedKeys::instance().rotate(/*only_if_due=*/false);
}

}  // namespace waygate::tls
