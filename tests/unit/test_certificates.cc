#include "test_certificates.h"

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace waygate::testing {
namespace {

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test certificates: ") + what + " failed");
}

// RSA keys are slow to make, so the leaves share one; each ECDSA leaf gets its own.
EVP_PKEY* shared_rsa_key() {
  static EVP_PKEY* key = EVP_RSA_gen(2048);
  return key;
}

EvpPkeyPtr new_key(KeyType type) {
  if (type == KeyType::kRsa) {
    EVP_PKEY_up_ref(shared_rsa_key());
    return EvpPkeyPtr(shared_rsa_key());
  }
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

bool is_ip_literal(const std::string& name) {
  unsigned char bytes[16];
  return inet_pton(AF_INET, name.c_str(), bytes) == 1 ||
         inet_pton(AF_INET6, name.c_str(), bytes) == 1;
}

void add_extension(X509* certificate, X509V3_CTX* context, int nid, const std::string& value) {
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, context, nid, value.c_str());
  check(extension != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(certificate, extension, -1);
  X509_EXTENSION_free(extension);
}

void add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  check(X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0) == 1,
        "X509_NAME_add_entry_by_txt");
}

X509Ptr new_certificate(EVP_PKEY* key) {
  static std::atomic<uint64_t> serial{1};
  X509Ptr certificate(X509_new());
  X509_set_version(certificate.get(), 2);  // v3
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(certificate.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(certificate.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(certificate.get()), 24 * 3600);
  X509_set_pubkey(certificate.get(), key);
  return certificate;
}

std::string to_pem(X509* certificate) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), certificate) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

std::string to_pem(EVP_PKEY* key, const EVP_CIPHER* cipher = nullptr,
                   const std::string& passphrase = "") {
  BioPtr bio(BIO_new(BIO_s_mem()));
  auto* secret =
      cipher ? reinterpret_cast<unsigned char*>(const_cast<char*>(passphrase.c_str())) : nullptr;
  check(PEM_write_bio_PrivateKey(bio.get(), key, cipher, secret,
                                 static_cast<int>(passphrase.size()), nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

}  // namespace

TestCa::TestCa(const std::string& common_name) : key_(new_key(KeyType::kEcdsa)) {
  cert_ = new_certificate(key_.get());
  X509_NAME* subject = X509_get_subject_name(cert_.get());
  add_name_entry(subject, "CN", common_name);
  X509_set_issuer_name(cert_.get(), subject);
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert_.get(), cert_.get(), nullptr, nullptr, 0);
  add_extension(cert_.get(), &context, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert_.get(), &context, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(cert_.get(), &context, NID_subject_key_identifier, "hash");
  check(X509_sign(cert_.get(), key_.get(), EVP_sha256()) > 0, "X509_sign");
}

PemPair TestCa::issue(const std::vector<std::string>& names, KeyType type,
                      const std::string& organization) const {
  return issue_leaf(names, type, organization, true);
}

PemPair TestCa::issue_without_alt_names(const std::string& common_name) const {
  return issue_leaf({common_name}, KeyType::kEcdsa, "", false);
}

PemPair TestCa::issue_leaf(const std::vector<std::string>& names, KeyType type,
                           const std::string& organization, bool alt_names) const {
  EvpPkeyPtr key = new_key(type);
  X509Ptr certificate = new_certificate(key.get());
  X509_NAME* subject = X509_get_subject_name(certificate.get());
  if (!organization.empty()) add_name_entry(subject, "O", organization);
  if (!names.empty()) add_name_entry(subject, "CN", names.front());
  X509_set_issuer_name(certificate.get(), X509_get_subject_name(cert_.get()));
  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, cert_.get(), certificate.get(), nullptr, nullptr, 0);
  add_extension(certificate.get(), &context, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(certificate.get(), &context, NID_key_usage,
                type == KeyType::kRsa ? "critical,digitalSignature,keyEncipherment"
                                      : "critical,digitalSignature");
  add_extension(certificate.get(), &context, NID_ext_key_usage, "serverAuth,clientAuth");
  add_extension(certificate.get(), &context, NID_subject_key_identifier, "hash");
  add_extension(certificate.get(), &context, NID_authority_key_identifier, "keyid");
  if (alt_names && !names.empty()) {
    std::string value;
    for (const std::string& name : names) {
      if (!value.empty()) value += ',';
      value += (is_ip_literal(name) ? "IP:" : "DNS:") + name;
    }
    add_extension(certificate.get(), &context, NID_subject_alt_name, value);
  }
  check(X509_sign(certificate.get(), key_.get(), EVP_sha256()) > 0, "X509_sign");
  return PemPair{to_pem(certificate.get()), to_pem(key.get())};
}

std::string TestCa::cert_pem() const {
  return to_pem(cert_.get());
}

std::string new_key_pem(KeyType type) {
  EvpPkeyPtr key = type == KeyType::kRsa ? EvpPkeyPtr(EVP_RSA_gen(2048)) : new_key(type);
  return to_pem(key.get());
}

std::string encrypted_key_pem(const std::string& passphrase) {
  EvpPkeyPtr key = new_key(KeyType::kEcdsa);
  return to_pem(key.get(), EVP_aes_256_cbc(), passphrase);
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "waygate-tls-XXXXXX").string();
  check(mkdtemp(pattern.data()) != nullptr, "mkdtemp");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::write(const std::string& name, const std::string& contents) const {
  std::string file = path_ + "/" + name;
  std::ofstream(file, std::ios::binary) << contents;
  return file;
}

}  // namespace waygate::testing
