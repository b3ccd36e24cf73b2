#include "core/tls_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstring>

#include "core/openssl_error.h"
#include "core/tls_pem.h"
#include "core/tls_ticket_keys.h"

namespace waygate::tls {

const char* const kDefaultCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct ServerContext::Private {};
struct ClientContext::Private {};

namespace {

constexpr char kGroups[] = "X25519:P-256:P-384";
constexpr long kOptions = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;

using CertificateStack =
    std::unique_ptr<STACK_OF(X509),
                    decltype([](STACK_OF(X509) * stack) { sk_X509_pop_free(stack, X509_free); })>;
using NameStack = std::unique_ptr<STACK_OF(X509_NAME), decltype([](STACK_OF(X509_NAME) * stack) {
                                    sk_X509_NAME_pop_free(stack, X509_NAME_free);
                                  })>;

// The SSL's reference to the ServerContext it came from, released with the SSL: a context
// replaced by a reload stays alive for the handshakes that still need its callbacks.
void release_owner(void*, void* owner, CRYPTO_EX_DATA*, int, long, void*) {
  std::unique_ptr<std::shared_ptr<const ServerContext>> owned(
      static_cast<std::shared_ptr<const ServerContext>*>(owner));
}

int owner_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &release_owner);
  return index;
}

// What a client SSL carries for on_new_session: where the sessions it receives go.
struct SessionSlot {
  std::shared_ptr<ClientSessionCache> cache;
  std::string peer;  // the cache's key: the peer's address and the names used with it
};

void release_session_slot(void*, void* slot, CRYPTO_EX_DATA*, int, long, void*) {
  std::unique_ptr<SessionSlot> owned(static_cast<SessionSlot*>(slot));
}

int session_slot_index() {
  static const int index =
      SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, &release_session_slot);
  return index;
}

std::string lower_case(std::string_view name) {
  std::string lowered(name);
  for (char& c : lowered)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (!lowered.empty() && lowered.back() == '.') lowered.pop_back();
  return lowered;
}

// The DNS names a certificate serves: its SAN DNS entries, else its subject's CN.
std::vector<std::string> certificate_names(X509* certificate) {
  std::vector<std::string> names;
  auto* alt_names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(certificate, NID_subject_alt_name, nullptr, nullptr));
  if (alt_names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(alt_names); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(alt_names, i);
      if (name->type != GEN_DNS) continue;
      const ASN1_IA5STRING* dns = name->d.dNSName;
      names.push_back(lower_case(std::string_view(
          reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)), ASN1_STRING_length(dns))));
    }
    GENERAL_NAMES_free(alt_names);
  }
  if (names.empty()) {
    X509_NAME* subject = X509_get_subject_name(certificate);
    int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    unsigned char* utf8 = nullptr;
    int length = at < 0 ? -1
                        : ASN1_STRING_to_UTF8(
                              &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at)));
    if (length > 0) {
      names.push_back(lower_case(std::string_view(reinterpret_cast<char*>(utf8), length)));
    }
    OPENSSL_free(utf8);
  }
  std::erase(names, std::string());
  return names;
}

bool parse_min_version(const std::string& text, int* version, std::string* error) {
  if (text == "1.2") {
    *version = TLS1_2_VERSION;
  } else if (text == "1.3") {
    *version = TLS1_3_VERSION;
  } else {
    *error = "min_version: \"" + text + "\" is not \"1.2\" or \"1.3\"";
    return false;
  }
  return true;
}

// ALPN's wire format: each protocol name preceded by its length.
bool alpn_wire(const std::vector<std::string>& protocols, std::string* wire, std::string* error) {
  for (const std::string& protocol : protocols) {
    if (protocol.empty() || protocol.size() > 255) {
      *error = "alpn: \"" + protocol + "\" is not a protocol name";
      return false;
    }
    wire->push_back(static_cast<char>(protocol.size()));
    wire->append(protocol);
  }
  return true;
}

// A leaf certificate, its chain and its key, checked to belong together.
struct KeyedCertificate {
  X509Ptr leaf;
  CertificateStack chain;
  EvpPkeyPtr key;
};

// `certificates` and `out->key` read from `files` (paths, or names for PEM bytes in memory).
bool keyed_certificate(std::vector<X509Ptr> certificates, const CertificateFiles& files,
                       KeyedCertificate* out, std::string* error) {
  if (X509_check_private_key(certificates[0].get(), out->key.get()) != 1) {
    ERR_clear_error();
    *error = files.key + ": the private key does not match the certificate in " + files.cert;
    return false;
  }
  out->chain.reset(sk_X509_new_null());
  for (size_t i = 1; i < certificates.size(); ++i)
    sk_X509_push(out->chain.get(), certificates[i].release());
  out->leaf = std::move(certificates[0]);
  return true;
}

bool read_keyed_certificate(const CertificateFiles& files, KeyedCertificate* out,
                            std::string* error) {
  std::vector<X509Ptr> certificates = read_certificates(files.cert, error);
  if (certificates.empty()) return false;
  out->key = read_private_key(files.key, error);
  if (!out->key) return false;
  return keyed_certificate(std::move(certificates), files, out, error);
}

bool is_ip_literal(std::string_view name, std::string* address) {
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  std::string text(name);
  unsigned char bytes[16];
  if (inet_pton(AF_INET, text.c_str(), bytes) != 1 &&
      inet_pton(AF_INET6, text.c_str(), bytes) != 1) {
    return false;
  }
  if (address) *address = std::move(text);
  return true;
}

// The session id context: sessions resume only under the same client certificate policy, so a
// reload that tightens client_ca is not bypassed by an old ticket.
std::string session_id_context(const std::vector<X509Ptr>& client_cas, bool optional) {
  std::string input = "waygate";
  for (const X509Ptr& ca : client_cas) {
    unsigned char* der = nullptr;
    int length = i2d_X509(ca.get(), &der);
    if (length > 0) input.append(reinterpret_cast<char*>(der), length);
    OPENSSL_free(der);
  }
  if (!client_cas.empty()) input.push_back(optional ? 'o' : 'r');
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(input.data(), input.size(), digest, &length, EVP_sha256(), nullptr);
  length = std::min<unsigned int>(length, SSL_MAX_SID_CTX_LENGTH);
  return std::string(reinterpret_cast<char*>(digest), length);
}

}  // namespace

// ---- Server --------------------------------------------------------------------------------

std::shared_ptr<const ServerContext> ServerContext::create(const ServerSettings& settings,
                                                           std::string* error) {
  if (settings.certificates.empty() && settings.more_certificates.empty()) {
    *error = "no certificate given";
    return nullptr;
  }
  int min_version;
  if (!parse_min_version(settings.min_version, &min_version, error)) return nullptr;
  auto context = std::make_shared<ServerContext>(Private{});
  if (!alpn_wire(settings.alpn, &context->alpn_, error)) return nullptr;

  // One store and one CA name list for every SSL_CTX, however many certificates there are.
  std::vector<X509Ptr> client_cas;
  X509StorePtr client_store;
  NameStack client_ca_names;
  if (!settings.client_ca.empty()) {
    client_cas = read_certificates(settings.client_ca, error);
    if (client_cas.empty()) return nullptr;
    client_store.reset(X509_STORE_new());
    client_ca_names.reset(sk_X509_NAME_new_null());
    for (const X509Ptr& ca : client_cas) {
      X509_STORE_add_cert(client_store.get(), ca.get());
      sk_X509_NAME_push(client_ca_names.get(), X509_NAME_dup(X509_get_subject_name(ca.get())));
    }
  }
  std::string sid_context = session_id_context(client_cas, settings.client_cert_optional);
  const std::string& ciphers = settings.ciphers.empty() ? kDefaultCiphers : settings.ciphers;

  auto new_context = [&]() -> SslCtxPtr {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
      *error = take_openssl_error("cannot create a TLS context");
      return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx.get(), min_version);
    SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
    SSL_CTX_set_options(ctx.get(), kOptions);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx.get(), ciphers.c_str()) != 1) {
      ERR_clear_error();
      *error = "ciphers: no usable cipher in \"" + ciphers + "\"";
      return nullptr;
    }
    SSL_CTX_set1_groups_list(ctx.get(), kGroups);
    // Tickets carry the sessions; a per-context cache would only serve clients that come back
    // to the same worker.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_id_context(ctx.get(),
                                   reinterpret_cast<const unsigned char*>(sid_context.data()),
                                   static_cast<unsigned int>(sid_context.size()));
    use_shared_ticket_keys(ctx.get());
    // What SSL_CTX_set_tlsext_servername_callback expands to, without the macro's C cast.
    SSL_CTX_callback_ctrl(ctx.get(), SSL_CTRL_SET_TLSEXT_SERVERNAME_CB,
                          reinterpret_cast<void (*)()>(&ServerContext::on_server_name));
    SSL_CTX_set_tlsext_servername_arg(ctx.get(), context.get());
    if (!context->alpn_.empty()) {
      SSL_CTX_set_alpn_select_cb(ctx.get(), &ServerContext::on_alpn, context.get());
    }
    if (client_store) {
      SSL_CTX_set1_cert_store(ctx.get(), client_store.get());
      SSL_CTX_set_client_CA_list(ctx.get(), SSL_dup_CA_list(client_ca_names.get()));
      int mode = SSL_VERIFY_PEER;
      if (!settings.client_cert_optional) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      SSL_CTX_set_verify(ctx.get(), mode, nullptr);
    }
    return ctx;
  };

  struct Group {
    SSL_CTX* ctx;
    std::vector<std::pair<int, std::string>> key_types;  // and the file that gave each
  };
  std::unordered_map<std::string, Group> groups;  // by the certificate's sorted names
  size_t count = settings.certificates.size() + settings.more_certificates.size();
  for (size_t i = 0; i < count; ++i) {
    bool yields = i >= settings.certificates.size();
    KeyedCertificate certificate;
    CertificateFiles files;
    if (!yields) {
      files = settings.certificates[i];
      if (!read_keyed_certificate(files, &certificate, error)) return nullptr;
    } else {
      const CertificatePem& pem = settings.more_certificates[i - settings.certificates.size()];
      std::string prefix = pem.name.empty() ? "" : pem.name + ": ";
      files.cert = prefix + "tls.crt";
      files.key = prefix + "tls.key";
      std::vector<X509Ptr> chain = parse_certificates(pem.cert, files.cert, error);
      if (chain.empty()) return nullptr;
      certificate.key = parse_private_key(pem.key, files.key, error);
      if (!certificate.key || !keyed_certificate(std::move(chain), files, &certificate, error)) {
        return nullptr;
      }
    }
    std::vector<std::string> names = certificate_names(certificate.leaf.get());
    std::vector<std::string> sorted = names;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    std::string group_key;
    for (const std::string& name : sorted)
      group_key.append(name).push_back('\n');

    auto [entry, added] = groups.try_emplace(group_key, Group{nullptr, {}});
    Group& group = entry->second;
    if (added) {
      SslCtxPtr ctx = new_context();
      if (!ctx) return nullptr;
      group.ctx = ctx.get();
      context->contexts_.push_back(std::move(ctx));
    }
    int key_type = EVP_PKEY_get_base_id(certificate.key.get());
    bool taken = false;
    for (const auto& [type, file] : group.key_types) {
      if (type == key_type && yields) {
        taken = true;
      } else if (type == key_type) {
        *error = files.cert +
                 ": a certificate with the same names and key type is already given (" + file + ")";
        return nullptr;
      }
    }
    if (taken) continue;
    group.key_types.emplace_back(key_type, files.cert);
    ERR_clear_error();
    if (SSL_CTX_use_cert_and_key(group.ctx, certificate.leaf.get(), certificate.key.get(),
                                 certificate.chain.get(), 1) != 1) {
      *error = files.cert + ": " + take_openssl_error("refused by OpenSSL");
      return nullptr;
    }
    for (std::string& name : names) {
      if (context->by_name_.try_emplace(name, group.ctx).second) {
        context->names_.push_back(std::move(name));
      }
    }
  }
  return context;
}

SSL* ServerContext::new_ssl() const {
  SSL* ssl = SSL_new(contexts_.front().get());
  if (!ssl) return nullptr;
  auto owner = std::make_unique<std::shared_ptr<const ServerContext>>(shared_from_this());
  if (SSL_set_ex_data(ssl, owner_index(), owner.get()) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  (void)owner.release();  // freed with the SSL (release_owner)
  SSL_set_accept_state(ssl);
  return ssl;
}

SSL_CTX* ServerContext::context_for(std::string_view server_name) const {
  SSL_CTX* fallback = contexts_.front().get();
  char lowered[256];
  size_t length = server_name.size();
  if (length > 0 && server_name[length - 1] == '.') --length;
  if (length == 0 || length > sizeof(lowered)) return fallback;
  for (size_t i = 0; i < length; ++i) {
    char c = server_name[i];
    lowered[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::string_view name(lowered, length);
  if (auto found = by_name_.find(name); found != by_name_.end()) return found->second;
  // "*.example.com" for "www.example.com": the first label's last byte becomes the '*'.
  size_t dot = name.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == length) return fallback;
  lowered[dot - 1] = '*';
  if (auto found = by_name_.find(name.substr(dot - 1)); found != by_name_.end()) {
    return found->second;
  }
  return fallback;
}

int ServerContext::on_server_name(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;  // the default certificate
  SSL_CTX* ctx = static_cast<const ServerContext*>(arg)->context_for(name);
  if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::on_alpn(SSL*, const unsigned char** out, unsigned char* out_length,
                           const unsigned char* in, unsigned int in_length, void* arg) {
  const std::string& ours = static_cast<const ServerContext*>(arg)->alpn_;
  unsigned char* selected = nullptr;
  // Our order wins: the first of our protocols that the client offers.
  if (SSL_select_next_proto(
          &selected, out_length, reinterpret_cast<const unsigned char*>(ours.data()),
          static_cast<unsigned int>(ours.size()), in, in_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no protocol in common: carry on without ALPN
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// ---- Client --------------------------------------------------------------------------------

std::shared_ptr<const ClientContext> ClientContext::create(const ClientSettings& settings,
                                                           std::string* error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    *error = take_openssl_error("cannot create a TLS context");
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_options(ctx.get(), kOptions);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set1_groups_list(ctx.get(), kGroups);

  if (!settings.ca.empty() || !settings.ca_pem.empty()) {
    std::vector<X509Ptr> cas =
        settings.ca.empty() ? parse_certificates(settings.ca_pem, settings.ca_pem_name, error)
                            : read_certificates(settings.ca, error);
    if (cas.empty()) return nullptr;
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    for (const X509Ptr& ca : cas)
      X509_STORE_add_cert(store, ca.get());
  } else if (settings.verify && SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    *error = "cannot load the system's CA certificates: " + take_openssl_error("unknown error");
    return nullptr;
  }
  SSL_CTX_set_verify(ctx.get(), settings.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
  // Sessions go to our own cache, by peer, rather than OpenSSL's (which a client never reads).
  SSL_CTX_set_session_cache_mode(ctx.get(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx.get(), &ClientContext::on_new_session);

  if (settings.cert.empty() != settings.key.empty()) {
    *error = settings.cert.empty() ? settings.key + ": a key without its certificate"
                                   : settings.cert + ": a certificate without its key";
    return nullptr;
  }
  if (settings.cert_pem.empty() != settings.key_pem.empty()) {
    *error = "a client key without its certificate, or a certificate without its key";
    return nullptr;
  }
  if (!settings.cert.empty() || !settings.cert_pem.empty()) {
    KeyedCertificate certificate;
    if (settings.cert.empty()) {
      CertificateFiles names{settings.cert_pem_name, settings.key_pem_name};
      std::vector<X509Ptr> certificates = parse_certificates(settings.cert_pem, names.cert, error);
      if (certificates.empty()) return nullptr;
      certificate.key = parse_private_key(settings.key_pem, names.key, error);
      if (!certificate.key ||
          !keyed_certificate(std::move(certificates), names, &certificate, error)) {
        return nullptr;
      }
    } else if (!read_keyed_certificate({settings.cert, settings.key}, &certificate, error)) {
      return nullptr;
    }
    ERR_clear_error();
    if (SSL_CTX_use_cert_and_key(ctx.get(), certificate.leaf.get(), certificate.key.get(),
                                 certificate.chain.get(), 1) != 1) {
      *error = settings.cert + ": " + take_openssl_error("refused by OpenSSL");
      return nullptr;
    }
  }

  std::string alpn;
  if (!alpn_wire(settings.alpn, &alpn, error)) return nullptr;
  if (!alpn.empty() &&
      SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(alpn.data()),
                              static_cast<unsigned int>(alpn.size())) != 0) {
    *error = "alpn: " + take_openssl_error("refused by OpenSSL");
    return nullptr;
  }
  return std::make_shared<const ClientContext>(Private{}, std::move(ctx), settings.verify);
}

SSL* ClientContext::new_ssl(std::string_view peer, const std::string& server_name,
                            const std::string& verify_name) const {
  SslPtr ssl(SSL_new(context_.get()));
  if (!ssl) return nullptr;
  SSL_set_connect_state(ssl.get());
  if (!server_name.empty() && !is_ip_literal(server_name, nullptr) &&
      SSL_ctrl(ssl.get(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(server_name.c_str())) != 1) {  // SSL_set_tlsext_host_name
    return nullptr;
  }
  if (verify_ && !verify_name.empty()) {
    std::string address;
    if (is_ip_literal(verify_name, &address)) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), address.c_str()) != 1) {
        return nullptr;
      }
    } else {
      SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      if (SSL_set1_host(ssl.get(), verify_name.c_str()) != 1) return nullptr;
    }
  }
  if (peer.empty()) return ssl.release();
  auto slot = std::make_unique<SessionSlot>();
  slot->cache = sessions_;
  slot->peer = session_key(peer, server_name, verify_name);
  if (SslSessionPtr session = sessions_->take(slot->peer)) {
    SSL_set_session(ssl.get(), session.get());  // takes its own reference
  }
  if (SSL_set_ex_data(ssl.get(), session_slot_index(), slot.get()) != 1) return nullptr;
  (void)slot.release();  // freed with the SSL (release_session_slot)
  return ssl.release();
}

std::string ClientContext::session_key(std::string_view peer, const std::string& server_name,
                                       const std::string& verify_name) {
  std::string key(peer);
  key.append(1, '\n').append(server_name).append(1, '\n').append(verify_name);
  return key;
}

int ClientContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* slot = static_cast<SessionSlot*>(SSL_get_ex_data(ssl, session_slot_index()));
  if (!slot) return 0;  // not ours to keep: OpenSSL frees it
  // A copy: OpenSSL marks the SSL's own session unresumable when the connection ends without a
  // close_notify (an upstream that closes after its response, a reset), and the SSL's own session
  // is the newest ticket's.
  slot->cache->store(slot->peer, SslSessionPtr(SSL_SESSION_dup(session)));
  return 0;  // OpenSSL keeps (and frees) its own reference
}

}  // namespace waygate::tls
