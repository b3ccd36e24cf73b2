// Reading the PEM files a TLS context is built from (certificate chains, CA bundles, private
// keys), with errors that name the file. Key bytes are wiped from memory once parsed and never
// appear in an error.
#pragma once

#include <string>
#include <vector>

#include "core/openssl_ptr.h"

namespace waygate::tls {

// Every certificate in the file, in order (a chain: the leaf first). On failure returns an empty
// vector and sets `*error` to "<path>: <reason>".
std::vector<X509Ptr> read_certificates(const std::string& path, std::string* error);

// The one private key in the file. Encrypted keys are refused (nothing could type a passphrase).
EvpPkeyPtr read_private_key(const std::string& path, std::string* error);

// The same from PEM bytes already in memory (a kubeconfig's *-data fields); `name` stands for the
// file in errors. The key's bytes are wiped once parsed.
std::vector<X509Ptr> parse_certificates(const std::string& pem, const std::string& name,
                                        std::string* error);
EvpPkeyPtr parse_private_key(std::string pem, const std::string& name, std::string* error);

}  // namespace waygate::tls
