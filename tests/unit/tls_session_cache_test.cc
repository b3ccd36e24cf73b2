// Upstream session resumption: a client context offers each peer the last session that peer gave
// it, so a new upstream connection skips the full handshake; never to another peer, nor under
// other names.
#include "core/tls_session_cache.h"

#include <gtest/gtest.h>

#include <string>

#include "core/tls_context.h"
#include "test_certificates.h"
#include "tls_loopback.h"

namespace waygate::tls {
namespace {

using testing::TestCa;
using testing::TlsLoopback;

class ClientSessionTest : public ::testing::TestWithParam<int> {
 protected:
  ClientSessionTest() {
    testing::PemPair leaf = ca_.issue({"a.example", "b.example"}, testing::KeyType::kEcdsa);
    ServerSettings settings;
    settings.certificates = {{dir_.write("a.pem", leaf.cert), dir_.write("a.key", leaf.key)}};
    std::string error;
    server_ = ServerContext::create(settings, &error);
    EXPECT_TRUE(server_) << error;
    ClientSettings client;
    client.ca = dir_.write("ca.pem", ca_.cert_pem());
    client_ = ClientContext::create(client, &error);
    EXPECT_TRUE(client_) << error;
  }

  // Connects to `peer` as the upstream pool does and exchanges bytes (TLS 1.3 tickets arrive after
  // the handshake); true when the handshake resumed.
  bool connect(const std::string& peer, const std::string& name = "a.example") {
    SSL* ssl = client_->new_ssl(peer, name, name);
    SSL_set_max_proto_version(ssl, GetParam());
    auto pair = net_.connect(ssl, server_->new_ssl());
    EXPECT_TRUE(net_.run_handshake(pair));
    EXPECT_EQ(pair.client->connected, 0) << pair.client->tls().failure_reason();
    EXPECT_TRUE(net_.ping_pong(pair));
    EXPECT_EQ(pair.client->tls().session_reused(), pair.server->tls().session_reused());
    return pair.server->tls().session_reused();
  }

  TestCa ca_;
  testing::TempDir dir_;
  std::shared_ptr<const ServerContext> server_;
  std::shared_ptr<const ClientContext> client_;
  TlsLoopback net_;
};

TEST_P(ClientSessionTest, EveryNextConnectionToAPeerResumes) {
  EXPECT_FALSE(connect("10.0.0.1:443"));
  // TLS 1.3 tickets are used once each, and waygate's server side sends a fresh one on resumption.
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(connect("10.0.0.1:443")) << "connection " << i + 2;
}

TEST_P(ClientSessionTest, ConnectionsOpenedTogetherEachGetATicket) {
  EXPECT_FALSE(connect("10.0.0.1:443"));
  if (GetParam() == TLS1_3_VERSION) {
    // A full TLS 1.3 handshake brings two tickets (OpenSSL's default): two connections started
    // before either finishes can both resume.
    EXPECT_EQ(client_->cached_sessions("10.0.0.1:443", "a.example", "a.example"), 2u);
    SSL* first = client_->new_ssl("10.0.0.1:443", "a.example", "a.example");
    SSL* second = client_->new_ssl("10.0.0.1:443", "a.example", "a.example");
    EXPECT_EQ(client_->cached_sessions("10.0.0.1:443", "a.example", "a.example"), 0u);
    EXPECT_EQ(SSL_SESSION_is_resumable(SSL_get_session(first)), 1);
    EXPECT_EQ(SSL_SESSION_is_resumable(SSL_get_session(second)), 1);
    EXPECT_NE(SSL_get_session(first), SSL_get_session(second));
    SSL_free(first);
    SSL_free(second);
  } else {
    // A TLS 1.2 session may be offered again and again.
    EXPECT_EQ(client_->cached_sessions("10.0.0.1:443", "a.example", "a.example"), 1u);
    EXPECT_TRUE(connect("10.0.0.1:443"));
  }
}

TEST_P(ClientSessionTest, AnotherPeerOrNameDoesNotGetTheSession) {
  EXPECT_FALSE(connect("10.0.0.1:443"));
  EXPECT_FALSE(connect("10.0.0.2:443"));
  // The same address under another name: its session was verified for the first name only.
  EXPECT_FALSE(connect("10.0.0.1:443", "b.example"));
  EXPECT_TRUE(connect("10.0.0.1:443"));
}

TEST_P(ClientSessionTest, WithoutAPeerNothingIsKept) {
  EXPECT_FALSE(connect(""));
  EXPECT_FALSE(connect(""));
  EXPECT_EQ(client_->cached_sessions("", "a.example", "a.example"), 0u);
}

INSTANTIATE_TEST_SUITE_P(Versions, ClientSessionTest,
                         ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION),
                         [](const ::testing::TestParamInfo<int>& version) {
                           return version.param == TLS1_3_VERSION ? "Tls13" : "Tls12";
                         });

}  // namespace
}  // namespace waygate::tls
