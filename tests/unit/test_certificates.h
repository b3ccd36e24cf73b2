// Certificates made by the test itself with OpenSSL's API, never checked in: a self-signed CA and
// leaf certificates it signs for given names, with RSA or ECDSA P-256 keys, and a directory to
// write them to as the PEM files a TLS context reads.
#pragma once

#include <string>
#include <vector>

#include "core/openssl_ptr.h"

namespace waygate::testing {

enum class KeyType { kRsa, kEcdsa };

struct PemPair {
  std::string cert;
  std::string key;
};

class TestCa {
 public:
  explicit TestCa(const std::string& common_name = "waygate test CA");

  // A leaf signed by this CA. `names` become its subjectAltName (DNS names, and IP entries for IP
  // literals) and the first one its CN; an organization, when given, is put before the CN, so the
  // RFC 2253 subject reads "CN=<first name>,O=<organization>".
  PemPair issue(const std::vector<std::string>& names, KeyType type = KeyType::kRsa,
                const std::string& organization = "") const;
  // A leaf with no subjectAltName: its only name is the CN.
  PemPair issue_without_alt_names(const std::string& common_name) const;
  std::string cert_pem() const;

 private:
  PemPair issue_leaf(const std::vector<std::string>& names, KeyType type,
                     const std::string& organization, bool alt_names) const;

  EvpPkeyPtr key_;
  X509Ptr cert_;
};

// A key in PEM, alone: one that matches no certificate, or one encrypted under a passphrase.
std::string new_key_pem(KeyType type);
std::string encrypted_key_pem(const std::string& passphrase);

// A fresh directory under /tmp, removed with its files.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `contents` to `name` in the directory and returns the file's path.
  std::string write(const std::string& name, const std::string& contents) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace waygate::testing
