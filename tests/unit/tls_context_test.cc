// tls::ServerContext and tls::ClientContext: certificates chosen by SNI and by the client's
// signature algorithms, ALPN, client certificates, server names checked by the client, and the
// errors that name the file at fault. Handshakes run over loopback with real TlsTransports.
#include "core/tls_context.h"

#include <gtest/gtest.h>

#include <string>

#include "test_certificates.h"
#include "tls_loopback.h"

namespace waygate::tls {
namespace {

using testing::KeyType;
using testing::PemPair;
using testing::TestCa;
using testing::TlsLoopback;

// The CN of the certificate the client was served.
std::string served_common_name(SSL* client) {
  X509* peer = SSL_get0_peer_certificate(client);
  if (!peer) return "";
  char name[256] = "";
  X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, name, sizeof(name));
  return name;
}

int served_key_type(SSL* client) {
  X509* peer = SSL_get0_peer_certificate(client);
  return peer ? EVP_PKEY_get_base_id(X509_get0_pubkey(peer)) : EVP_PKEY_NONE;
}

class TlsContextTest : public ::testing::Test {
 protected:
  CertificateFiles write_pair(const std::string& stem, const PemPair& pair) {
    return {dir_.write(stem + ".pem", pair.cert), dir_.write(stem + ".key", pair.key)};
  }

  std::shared_ptr<const ServerContext> server(const ServerSettings& settings) {
    std::string error;
    auto context = ServerContext::create(settings, &error);
    EXPECT_TRUE(context) << error;
    return context;
  }

  std::shared_ptr<const ClientContext> client(ClientSettings settings = {}) {
    if (settings.verify && settings.ca.empty()) settings.ca = dir_.write("ca.pem", ca_.cert_pem());
    std::string error;
    auto context = ClientContext::create(settings, &error);
    EXPECT_TRUE(context) << error;
    return context;
  }

  // Serves the certificates, connects once with `sni` and returns the CN the client was given.
  std::string name_served_for(const ServerContext& context, const std::string& sni) {
    ClientSettings settings;
    settings.verify = false;
    auto pair = net_.connect(client(settings)->new_ssl("", sni, ""), context.new_ssl());
    EXPECT_TRUE(net_.run_handshake(pair));
    EXPECT_EQ(pair.client->connected, 0);
    return served_common_name(pair.client->ssl());
  }

  std::string create_error(const ServerSettings& settings) {
    std::string error;
    EXPECT_FALSE(ServerContext::create(settings, &error));
    return error;
  }

  TestCa ca_;
  testing::TempDir dir_;
  TlsLoopback net_;
};

// ---- Choosing the certificate ----------------------------------------------------------------

class SniTest : public TlsContextTest {
 protected:
  SniTest() {
    settings_.certificates = {
        write_pair("default", ca_.issue({"default.example"}, KeyType::kEcdsa)),
        write_pair("api", ca_.issue({"api.example", "API2.example"}, KeyType::kEcdsa)),
        write_pair("wild", ca_.issue({"*.wild.example"}, KeyType::kEcdsa)),
        write_pair("exact", ca_.issue({"www.wild.example"}, KeyType::kEcdsa)),
    };
    context_ = server(settings_);
  }
  ServerSettings settings_;
  std::shared_ptr<const ServerContext> context_;
};

TEST_F(SniTest, AnExactNamePicksItsCertificate) {
  EXPECT_EQ(name_served_for(*context_, "api.example"), "api.example");
  EXPECT_EQ(name_served_for(*context_, "api2.example"), "api.example");  // a second SAN name
}

TEST_F(SniTest, NamesMatchWhateverTheirCase) {
  EXPECT_EQ(name_served_for(*context_, "Api.EXAMPLE"), "api.example");
}

TEST_F(SniTest, AWildcardServesOneLabelBelowIt) {
  EXPECT_EQ(name_served_for(*context_, "shop.wild.example"), "*.wild.example");
  EXPECT_EQ(name_served_for(*context_, "a.b.wild.example"), "default.example");
  EXPECT_EQ(name_served_for(*context_, "wild.example"), "default.example");
}

TEST_F(SniTest, AnExactNameWinsOverAWildcard) {
  EXPECT_EQ(name_served_for(*context_, "www.wild.example"), "www.wild.example");
}

TEST_F(SniTest, UnknownNamesAndNoSniGetTheFirstCertificate) {
  EXPECT_EQ(name_served_for(*context_, "unknown.example"), "default.example");
  EXPECT_EQ(name_served_for(*context_, ""), "default.example");
}

TEST_F(SniTest, TheServerSideKnowsTheNameTheClientSent) {
  ClientSettings settings;
  settings.verify = false;
  auto pair = net_.connect(client(settings)->new_ssl("", "api.example", ""), context_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  EXPECT_EQ(pair.server->tls().server_name(), "api.example");
}

TEST_F(SniTest, NamesListsEveryNameServedInOrder) {
  EXPECT_EQ(context_->names(),
            (std::vector<std::string>{"default.example", "api.example", "api2.example",
                                      "*.wild.example", "www.wild.example"}));
}

TEST_F(TlsContextTest, ACertificateWithoutAltNamesIsServedForItsCommonName) {
  ServerSettings settings;
  settings.certificates = {write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa)),
                           write_pair("cn", ca_.issue_without_alt_names("cn.example"))};
  auto context = server(settings);
  EXPECT_EQ(name_served_for(*context, "cn.example"), "cn.example");
}

TEST_F(TlsContextTest, ThousandsOfNamesAreServed) {
  ServerSettings settings;
  std::vector<std::string> names;
  for (int i = 0; i < 2000; ++i)
    names.push_back("host" + std::to_string(i) + ".many.example");
  settings.certificates = {write_pair("default", ca_.issue({"default.example"}, KeyType::kEcdsa)),
                           write_pair("many", ca_.issue(names, KeyType::kEcdsa))};
  auto context = server(settings);
  EXPECT_EQ(context->names().size(), 2001u);
  EXPECT_EQ(name_served_for(*context, "host1234.many.example"), "host0.many.example");
}

struct SignatureCase {
  const char* name;
  int max_version;
  const char* sigalgs;
  int expected_key;
};

class KeyTypeTest : public TlsContextTest, public ::testing::WithParamInterface<SignatureCase> {};

TEST_P(KeyTypeTest, TheClientsSignatureAlgorithmsPickRsaOrEcdsa) {
  ServerSettings settings;
  settings.certificates = {write_pair("rsa", ca_.issue({"both.example"}, KeyType::kRsa)),
                           write_pair("ec", ca_.issue({"both.example"}, KeyType::kEcdsa))};
  auto context = server(settings);
  SSL* ssl = client()->new_ssl("", "both.example", "both.example");
  SSL_set_max_proto_version(ssl, GetParam().max_version);
  ASSERT_EQ(SSL_set1_sigalgs_list(ssl, GetParam().sigalgs), 1);
  auto pair = net_.connect(ssl, context->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  ASSERT_EQ(pair.client->connected, 0) << pair.client->tls().failure_reason();
  EXPECT_EQ(served_key_type(ssl), GetParam().expected_key);
}

INSTANTIATE_TEST_SUITE_P(
    Tls, KeyTypeTest,
    ::testing::Values(
        SignatureCase{"Tls13Ecdsa", TLS1_3_VERSION, "ecdsa_secp256r1_sha256", EVP_PKEY_EC},
        SignatureCase{"Tls13Rsa", TLS1_3_VERSION, "rsa_pss_rsae_sha256", EVP_PKEY_RSA},
        SignatureCase{"Tls12Ecdsa", TLS1_2_VERSION, "ECDSA+SHA256", EVP_PKEY_EC},
        SignatureCase{"Tls12Rsa", TLS1_2_VERSION, "RSA+SHA256", EVP_PKEY_RSA}),
    [](const ::testing::TestParamInfo<SignatureCase>& signature) { return signature.param.name; });

// ---- ALPN ----------------------------------------------------------------------------------

TEST_F(TlsContextTest, AlpnSettlesOnHttp11) {
  ServerSettings settings;
  settings.certificates = {write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa))};
  auto context = server(settings);
  ClientSettings client_settings;
  client_settings.alpn = {"h2", "http/1.1"};
  auto pair = net_.connect(client(client_settings)->new_ssl("", "a.example", "a.example"),
                           context->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  EXPECT_EQ(pair.server->tls().alpn(), "http/1.1");
  EXPECT_EQ(pair.client->tls().alpn(), "http/1.1");
}

TEST_F(TlsContextTest, NoProtocolInCommonCarriesOnWithoutAlpn) {
  ServerSettings settings;
  settings.certificates = {write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa))};
  auto context = server(settings);
  ClientSettings client_settings;
  client_settings.alpn = {"h2"};
  auto pair = net_.connect(client(client_settings)->new_ssl("", "a.example", "a.example"),
                           context->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  EXPECT_EQ(pair.client->connected, 0);
  EXPECT_EQ(pair.server->tls().alpn(), "");
}

// ---- Client certificates -------------------------------------------------------------------

class MutualTlsTest : public TlsContextTest {
 protected:
  MutualTlsTest() {
    settings_.certificates = {write_pair("server", ca_.issue({"a.example"}, KeyType::kEcdsa))};
    settings_.client_ca = dir_.write("clients.pem", clients_.cert_pem());
    alice_ = write_pair("alice", clients_.issue({"alice"}, KeyType::kEcdsa, "Example"));
  }

  TlsLoopback::Pair connect(const ServerContext& context, const CertificateFiles* identity) {
    ClientSettings settings;
    if (identity) {
      settings.cert = identity->cert;
      settings.key = identity->key;
    }
    auto pair =
        net_.connect(client(settings)->new_ssl("", "a.example", "a.example"), context.new_ssl());
    EXPECT_TRUE(net_.run_handshake(pair));
    return pair;
  }

  TestCa clients_{"client CA"};
  ServerSettings settings_;
  CertificateFiles alice_;
};

TEST_F(MutualTlsTest, AClientWithoutACertificateIsRefused) {
  auto context = server(settings_);
  auto pair = connect(*context, nullptr);
  EXPECT_EQ(pair.server->eof, UV_EPROTO);
  EXPECT_EQ(pair.server->tls().failure_reason(), "peer did not return a certificate");
  EXPECT_EQ(pair.server->received, "");
}

TEST_F(MutualTlsTest, AClientWithACertificateIsKnownByItsSubject) {
  auto context = server(settings_);
  auto pair = connect(*context, &alice_);
  ASSERT_TRUE(pair.server->tls().handshake_done()) << pair.server->tls().failure_reason();
  EXPECT_EQ(pair.server->tls().peer_subject(), "CN=alice,O=Example");
  EXPECT_TRUE(net_.ping_pong(pair));
}

TEST_F(MutualTlsTest, ACertificateFromAnotherCaIsRefused) {
  auto context = server(settings_);
  CertificateFiles mallory = write_pair("mallory", ca_.issue({"mallory"}, KeyType::kEcdsa));
  auto pair = connect(*context, &mallory);
  EXPECT_EQ(pair.server->eof, UV_EPROTO);
  EXPECT_EQ(pair.server->tls().failure_reason().rfind("certificate verify failed", 0), 0u)
      << pair.server->tls().failure_reason();
}

TEST_F(MutualTlsTest, OptionalLetsAClientWithoutACertificateIn) {
  settings_.client_cert_optional = true;
  auto context = server(settings_);
  auto pair = connect(*context, nullptr);
  ASSERT_TRUE(pair.server->tls().handshake_done()) << pair.server->tls().failure_reason();
  EXPECT_EQ(pair.server->tls().peer_subject(), "");
  EXPECT_TRUE(net_.ping_pong(pair));

  auto with_certificate = connect(*context, &alice_);
  EXPECT_EQ(with_certificate.server->tls().peer_subject(), "CN=alice,O=Example");
}

TEST_F(MutualTlsTest, WithoutClientCaNoCertificateIsAskedFor) {
  settings_.client_ca.clear();
  auto context = server(settings_);
  auto pair = connect(*context, &alice_);
  ASSERT_TRUE(pair.server->tls().handshake_done());
  EXPECT_EQ(pair.server->tls().peer_subject(), "");
}

// ---- The client checks the server ------------------------------------------------------------

TEST_F(TlsContextTest, AnIpLiteralIsVerifiedAsAnAddressAndSentNoSni) {
  ServerSettings settings;
  settings.certificates = {write_pair("ip", ca_.issue({"127.0.0.1"}, KeyType::kEcdsa))};
  auto context = server(settings);
  auto pair = net_.connect(client()->new_ssl("", "127.0.0.1", "127.0.0.1"), context->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  EXPECT_EQ(pair.client->connected, 0) << pair.client->tls().failure_reason();
  EXPECT_EQ(pair.server->tls().server_name(), "");

  auto wrong = net_.connect(client()->new_ssl("", "127.0.0.2", "127.0.0.2"), context->new_ssl());
  ASSERT_TRUE(net_.run_handshake(wrong));
  EXPECT_LT(wrong.client->connected.value_or(0), 0);
  EXPECT_EQ(wrong.client->tls().failure_reason(), "certificate verify failed: IP address mismatch");
}

TEST_F(TlsContextTest, WithoutVerifyAnyServerIsAccepted) {
  ServerSettings settings;
  settings.certificates = {write_pair("a", TestCa("stranger").issue({"a.example"}))};
  auto context = server(settings);
  ClientSettings client_settings;
  client_settings.verify = false;
  auto pair = net_.connect(client(client_settings)->new_ssl("", "a.example", "b.example"),
                           context->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  EXPECT_EQ(pair.client->connected, 0);
}

TEST_F(TlsContextTest, MinVersion13RefusesTls12Clients) {
  ServerSettings settings;
  settings.certificates = {write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa))};
  settings.min_version = "1.3";
  auto context = server(settings);
  SSL* ssl = client()->new_ssl("", "a.example", "a.example");
  SSL_set_max_proto_version(ssl, TLS1_2_VERSION);
  auto pair = net_.connect(ssl, context->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  EXPECT_EQ(pair.server->eof, UV_EPROTO);
  EXPECT_EQ(pair.server->tls().failure_reason(), "unsupported protocol");
}

// ---- Errors --------------------------------------------------------------------------------

TEST_F(TlsContextTest, AMissingCertificateFileIsNamed) {
  ServerSettings settings;
  CertificateFiles files = write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa));
  files.cert = dir_.path() + "/missing.pem";
  settings.certificates = {files};
  EXPECT_EQ(create_error(settings), files.cert + ": No such file or directory");
}

TEST_F(TlsContextTest, AMissingKeyFileIsNamed) {
  ServerSettings settings;
  CertificateFiles files = write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa));
  files.key = dir_.path() + "/missing.key";
  settings.certificates = {files};
  EXPECT_EQ(create_error(settings), files.key + ": No such file or directory");
}

TEST_F(TlsContextTest, AKeyThatIsNotTheCertificatesIsRefused) {
  ServerSettings settings;
  PemPair pair = ca_.issue({"a.example"}, KeyType::kRsa);
  pair.key = testing::new_key_pem(KeyType::kEcdsa);
  CertificateFiles files = write_pair("a", pair);
  settings.certificates = {files};
  std::string error = create_error(settings);
  EXPECT_EQ(error, files.key + ": the private key does not match the certificate in " + files.cert);
  EXPECT_EQ(error.find("PRIVATE"), std::string::npos);
}

TEST_F(TlsContextTest, GarbageInsteadOfACertificateIsNamed) {
  ServerSettings settings;
  CertificateFiles files = write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa));
  dir_.write("a.pem", "this is not a certificate\n");
  settings.certificates = {files};
  EXPECT_EQ(create_error(settings), files.cert + ": no PEM certificate found");
}

TEST_F(TlsContextTest, ABrokenPemCertificateIsNamed) {
  ServerSettings settings;
  CertificateFiles files = write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa));
  dir_.write("a.pem",
             "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
             "-----END CERTIFICATE-----\n");
  settings.certificates = {files};
  std::string error = create_error(settings);
  EXPECT_EQ(error.rfind(files.cert + ": malformed certificate (", 0), 0u) << error;
}

TEST_F(TlsContextTest, GarbageInsteadOfAKeyIsNamedWithoutItsBytes) {
  ServerSettings settings;
  CertificateFiles files = write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa));
  dir_.write("a.key",
             "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGJ5dGVzIGhlcmU=\n"
             "-----END PRIVATE KEY-----\n");
  settings.certificates = {files};
  std::string error = create_error(settings);
  EXPECT_EQ(error.rfind(files.key + ": malformed", 0), 0u) << error;
  EXPECT_EQ(error.find("c2VjcmV0"), std::string::npos);

  dir_.write("a.key", "nothing here\n");
  EXPECT_EQ(create_error(settings), files.key + ": no PEM private key found");
}

TEST_F(TlsContextTest, AnEncryptedKeyIsRefusedWithoutAskingForAPassphrase) {
  ServerSettings settings;
  CertificateFiles files = write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa));
  dir_.write("a.key", testing::encrypted_key_pem("secret"));
  settings.certificates = {files};
  EXPECT_EQ(create_error(settings),
            files.key + ": the key is encrypted; waygate needs an unencrypted key");
}

TEST_F(TlsContextTest, TwoCertificatesOfOneKeyTypeForTheSameNamesAreRefused) {
  ServerSettings settings;
  CertificateFiles first = write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa));
  CertificateFiles second = write_pair("b", ca_.issue({"a.example"}, KeyType::kEcdsa));
  settings.certificates = {first, second};
  EXPECT_EQ(create_error(settings),
            second.cert + ": a certificate with the same names and key type is already given (" +
                first.cert + ")");
}

TEST_F(TlsContextTest, CertificatesInMemoryServeTheirNamesAndYieldToThoseBefore) {
  ServerSettings settings;
  CertificateFiles file = write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa));
  PemPair same = ca_.issue({"a.example"}, KeyType::kEcdsa);
  PemPair other = ca_.issue({"b.example"}, KeyType::kEcdsa);
  settings.certificates = {file};
  settings.more_certificates = {CertificatePem{"Secret shop/a", same.cert, same.key},
                                CertificatePem{"Secret shop/b", other.cert, other.key}};
  auto context = server(settings);
  ASSERT_TRUE(context);
  EXPECT_EQ(context->names(), (std::vector<std::string>{"a.example", "b.example"}));
  // A key that does not match is refused, named without its bytes.
  settings.more_certificates = {CertificatePem{"Secret shop/b", other.cert, same.key}};
  EXPECT_EQ(create_error(settings),
            "Secret shop/b: tls.key: the private key does not match the certificate in Secret "
            "shop/b: tls.crt");
}

TEST_F(TlsContextTest, BadSettingsAreNamed) {
  ServerSettings settings;
  settings.certificates = {write_pair("a", ca_.issue({"a.example"}, KeyType::kEcdsa))};
  settings.min_version = "1.1";
  EXPECT_EQ(create_error(settings), "min_version: \"1.1\" is not \"1.2\" or \"1.3\"");
  settings.min_version = "1.2";
  settings.ciphers = "NOT-A-CIPHER";
  EXPECT_EQ(create_error(settings), "ciphers: no usable cipher in \"NOT-A-CIPHER\"");
  settings.ciphers.clear();
  settings.client_ca = dir_.path() + "/no-ca.pem";
  EXPECT_EQ(create_error(settings), settings.client_ca + ": No such file or directory");
  settings.client_ca.clear();
  settings.certificates.clear();
  EXPECT_EQ(create_error(settings), "no certificate given");
}

TEST_F(TlsContextTest, ClientSettingsErrorsAreNamed) {
  std::string error;
  ClientSettings settings;
  settings.ca = dir_.path() + "/no-ca.pem";
  EXPECT_FALSE(ClientContext::create(settings, &error));
  EXPECT_EQ(error, settings.ca + ": No such file or directory");

  settings.ca.clear();
  settings.cert = write_pair("client", ca_.issue({"client"}, KeyType::kEcdsa)).cert;
  EXPECT_FALSE(ClientContext::create(settings, &error));
  EXPECT_EQ(error, settings.cert + ": a certificate without its key");
}

}  // namespace
}  // namespace waygate::tls
