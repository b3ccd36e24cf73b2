#include "core/tls_pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "core/openssl_error.h"

namespace waygate::tls {
namespace {

struct CloseFile {
  void operator()(FILE* file) const { std::fclose(file); }
};

// Reads the whole file; on failure sets `*error` from errno.
bool read_file(const std::string& path, std::string* contents, std::string* error) {
  std::unique_ptr<FILE, CloseFile> file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    *error = path + ": " + std::generic_category().message(errno);
    return false;
  }
  char chunk[4096];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof(chunk), file.get())) > 0)
    contents->append(chunk, n);
  if (std::ferror(file.get())) {
    *error = path + ": " + std::generic_category().message(errno);
    return false;
  }
  return true;
}

bool ran_out_of_pem_blocks(unsigned long code) {
  return ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE;
}

// Called by OpenSSL for an encrypted key: answering with no passphrase makes the read fail.
int refuse_passphrase(char*, int, int, void* asked) {
  *static_cast<bool*>(asked) = true;
  return 0;
}

}  // namespace

std::vector<X509Ptr> read_certificates(const std::string& path, std::string* error) {
  std::string contents;
  if (!read_file(path, &contents, error)) return {};
  return parse_certificates(contents, path, error);
}

std::vector<X509Ptr> parse_certificates(const std::string& contents, const std::string& path,
                                        std::string* error) {
  BioPtr bio(BIO_new_mem_buf(contents.data(), static_cast<int>(contents.size())));
  std::vector<X509Ptr> certificates;
  ERR_clear_error();
  while (X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    certificates.emplace_back(certificate);
  // Reading stops at the end of the file (no further PEM block) or at a block it cannot parse.
  unsigned long code = ERR_peek_last_error();
  if (!certificates.empty() && (code == 0 || ran_out_of_pem_blocks(code))) {
    ERR_clear_error();
    return certificates;
  }
  if (certificates.empty() && ran_out_of_pem_blocks(code)) {
    ERR_clear_error();
    *error = path + ": no PEM certificate found";
  } else {
    *error = path + ": malformed certificate (" + take_openssl_error("unreadable") + ")";
  }
  return {};
}

EvpPkeyPtr read_private_key(const std::string& path, std::string* error) {
  std::string contents;
  if (!read_file(path, &contents, error)) return nullptr;
  return parse_private_key(std::move(contents), path, error);
}

EvpPkeyPtr parse_private_key(std::string contents, const std::string& path, std::string* error) {
  BioPtr bio(BIO_new_mem_buf(contents.data(), static_cast<int>(contents.size())));
  bool asked = false;
  ERR_clear_error();
  EvpPkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, &refuse_passphrase, &asked));
  bio.reset();
  bool has_pem_block = contents.find("-----BEGIN ") != std::string::npos;
  OPENSSL_cleanse(contents.data(), contents.size());
  if (key) {
    ERR_clear_error();
    return key;
  }
  if (asked) {
    ERR_clear_error();
    *error = path + ": the key is encrypted; waygate needs an unencrypted key";
  } else if (ran_out_of_pem_blocks(ERR_peek_last_error()) || !has_pem_block) {
    ERR_clear_error();
    *error = path + ": no PEM private key found";
  } else {
    // OpenSSL's decoders say only "unsupported" for a block that no decoder could read.
    std::string reason = take_openssl_error("unsupported");
    *error = path + (reason == "unsupported" ? ": malformed or unsupported private key"
                                             : ": malformed private key (" + reason + ")");
  }
  return nullptr;
}

}  // namespace waygate::tls
