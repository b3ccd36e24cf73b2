// What a TLS listener serves and how waygate connects to TLS upstreams: certificates and keys read
// and checked up front, OpenSSL contexts configured once, and a fresh SSL per connection. A
// context is immutable once created and shared by every worker; a reload builds a new one.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/openssl_ptr.h"
#include "core/tls_session_cache.h"

namespace waygate::tls {

struct CertificateFiles {
  std::string cert;  // PEM path; may hold the chain after the leaf
  std::string key;   // PEM path
};

// A certificate chain and its key as PEM bytes in memory; `name` stands for them in errors.
struct CertificatePem {
  std::string name;
  std::string cert;
  std::string key;
};

struct ServerSettings {
  std::vector<CertificateFiles> certificates;  // the first is the default
  // Served after `certificates`; one with the names and key type of a certificate before it is
  // left out rather than refused (certificates from Kubernetes Secrets, beside the files').
  std::vector<CertificatePem> more_certificates;
  std::string min_version = "1.2";  // "1.2" or "1.3"
  std::string ciphers;              // TLS 1.2 list; empty: kDefaultCiphers
  std::string client_ca;            // PEM path; non-empty: verify client certificates
  bool client_cert_optional = false;
  std::vector<std::string> alpn = {"http/1.1"};
};

// ECDHE with AES-GCM and CHACHA20-POLY1305, ECDSA before RSA (used when both are served).
extern const char* const kDefaultCiphers;

class ServerContext : public std::enable_shared_from_this<ServerContext> {
 public:
  // Reads and checks every file now (a cert and its key must match; unreadable or malformed ->
  // error "certs/a.pem: <reason>"); null and `*error` set on failure. Never logs or returns key
  // bytes.
  static std::shared_ptr<const ServerContext> create(const ServerSettings& settings,
                                                     std::string* error);

  // A server-mode SSL; the certificate is picked by SNI (exact name, then "*.<rest>" for the name
  // minus its first label, else the default) via the servername callback. The SSL keeps this
  // context alive until it is freed.
  SSL* new_ssl() const;
  // Every name served, for logs, in the order the certificates give them.
  const std::vector<std::string>& names() const { return names_; }

  struct Private;  // lets create() build one while the constructor stays out of reach
  explicit ServerContext(const Private&) {}

 private:
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
  };

  static int on_server_name(SSL* ssl, int* alert, void* arg);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                     const unsigned char* in, unsigned int in_length, void* arg);
  SSL_CTX* context_for(std::string_view server_name) const;

  // One per set of names: its RSA and ECDSA certificates side by side. [0] is the default.
  std::vector<SslCtxPtr> contexts_;
  std::unordered_map<std::string, SSL_CTX*, NameHash, std::equal_to<>> by_name_;  // lower case
  std::vector<std::string> names_;
  std::string alpn_;  // wire format: length-prefixed names, in preference order
};

struct ClientSettings {
  bool verify = true;
  std::string ca;         // PEM path; empty: the system roots (SSL_CTX_set_default_verify_paths)
  std::string cert, key;  // optional client certificate
  // The same as PEM bytes in memory, used when the paths are empty; the names stand for them in
  // errors ("kubeconfig: certificate-authority-data").
  std::string ca_pem, ca_pem_name;
  std::string cert_pem, cert_pem_name;
  std::string key_pem, key_pem_name;
  std::vector<std::string> alpn = {"http/1.1"};
};

class ClientContext {
 public:
  static std::shared_ptr<const ClientContext> create(const ClientSettings& settings,
                                                     std::string* error);

  // A client-mode SSL for the upstream at `peer` (its address text), sending SNI `server_name`
  // (none when empty or an IP literal); when verifying, the peer must match `verify_name` (a DNS
  // name via SSL_set1_host, or an IP literal via X509_VERIFY_PARAM_set1_ip_asc; with it empty only
  // the chain is checked). It offers the last session that peer gave under the same names, so
  // the handshake resumes when the peer still accepts it (with `peer` empty, it never resumes).
  SSL* new_ssl(std::string_view peer, const std::string& server_name,
               const std::string& verify_name) const;
  // How many sessions are kept to resume with `peer` under these names (tests).
  size_t cached_sessions(std::string_view peer, const std::string& server_name,
                         const std::string& verify_name) const {
    return sessions_->count(session_key(peer, server_name, verify_name));
  }

  struct Private;
  ClientContext(const Private&, SslCtxPtr context, bool verify)
      : context_(std::move(context)),
        verify_(verify),
        sessions_(std::make_shared<ClientSessionCache>()) {}

 private:
  // OpenSSL hands each new session (after a full handshake, or a TLS 1.3 ticket) to this.
  static int on_new_session(SSL* ssl, SSL_SESSION* session);
  // A session is kept under the names it was verified with, not only the peer's address.
  static std::string session_key(std::string_view peer, const std::string& server_name,
                                 const std::string& verify_name);

  SslCtxPtr context_;
  bool verify_;
  // Shared with each SSL made here (its ex_data), which may outlive this context.
  std::shared_ptr<ClientSessionCache> sessions_;
};

}  // namespace waygate::tls
