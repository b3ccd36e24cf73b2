// Session resumption under the process-wide ticket keys: a client's session resumes on the same
// context, on another context built from the same settings (as a reload or another worker has),
// and across one key rotation but not two.
#include "core/tls_ticket_keys.h"

#include <gtest/gtest.h>

#include <string>

#include "core/tls_context.h"
#include "test_certificates.h"
#include "tls_loopback.h"

namespace waygate::tls {
namespace {

using testing::TestCa;
using testing::TlsLoopback;

using SessionPtr = std::unique_ptr<SSL_SESSION, OpenSslFree<&SSL_SESSION_free>>;

class TicketKeysTest : public ::testing::TestWithParam<int> {
 protected:
  TicketKeysTest() {
    testing::PemPair leaf = ca_.issue({"a.example"}, testing::KeyType::kEcdsa);
    settings_.certificates = {{dir_.write("a.pem", leaf.cert), dir_.write("a.key", leaf.key)}};
    ClientSettings client;
    client.ca = dir_.write("ca.pem", ca_.cert_pem());
    std::string error;
    client_ = ClientContext::create(client, &error);
    EXPECT_TRUE(client_) << error;
  }

  std::shared_ptr<const ServerContext> new_server() {
    std::string error;
    auto context = ServerContext::create(settings_, &error);
    EXPECT_TRUE(context) << error;
    return context;
  }

  // Connects (resuming `session` when given), exchanges bytes, and returns the client's session.
  SessionPtr connect(const ServerContext& server, SSL_SESSION* session, bool* reused) {
    SSL* ssl = client_->new_ssl("", "a.example", "a.example");
    SSL_set_max_proto_version(ssl, GetParam());
    if (session) SSL_set_session(ssl, session);
    auto pair = net_.connect(ssl, server.new_ssl());
    EXPECT_TRUE(net_.run_handshake(pair));
    EXPECT_EQ(pair.client->connected, 0) << pair.client->tls().failure_reason();
    EXPECT_TRUE(net_.ping_pong(pair));  // TLS 1.3 tickets arrive after the handshake
    EXPECT_EQ(pair.client->tls().session_reused(), pair.server->tls().session_reused());
    *reused = pair.server->tls().session_reused();
    return SessionPtr(SSL_get1_session(ssl));
  }

  TestCa ca_;
  testing::TempDir dir_;
  ServerSettings settings_;
  std::shared_ptr<const ClientContext> client_;
  TlsLoopback net_;
};

TEST_P(TicketKeysTest, AClientResumesItsSession) {
  auto server = new_server();
  bool reused = true;
  SessionPtr session = connect(*server, nullptr, &reused);
  EXPECT_FALSE(reused);
  connect(*server, session.get(), &reused);
  EXPECT_TRUE(reused);
}

TEST_P(TicketKeysTest, AResumedClientGetsATicketToResumeAgain) {
  auto server = new_server();
  bool reused = true;
  SessionPtr session = connect(*server, nullptr, &reused);
  // A TLS 1.3 client offers each ticket once: the ticket it comes back with must be a new one.
  for (int i = 0; i < 3; ++i) {
    session = connect(*server, session.get(), &reused);
    EXPECT_TRUE(reused) << "visit " << i + 2;
  }
}

TEST_P(TicketKeysTest, AnotherContextFromTheSameSettingsResumesIt) {
  bool reused = true;
  SessionPtr session = connect(*new_server(), nullptr, &reused);
  connect(*new_server(), session.get(), &reused);  // what a reload, or another worker, has
  EXPECT_TRUE(reused);
}

TEST_P(TicketKeysTest, ATicketOutlivesOneRotationButNotTwo) {
  auto server = new_server();
  bool reused = true;
  SessionPtr session = connect(*server, nullptr, &reused);
  rotate_ticket_keys();
  connect(*server, session.get(), &reused);
  EXPECT_TRUE(reused);
  rotate_ticket_keys();
  connect(*server, session.get(), &reused);
  EXPECT_FALSE(reused);
}

TEST_P(TicketKeysTest, AContextWithAnotherClientCaPolicyDoesNotResumeIt) {
  bool reused = true;
  SessionPtr session = connect(*new_server(), nullptr, &reused);
  TestCa clients("client CA");
  settings_.client_ca = dir_.write("clients.pem", clients.cert_pem());
  settings_.client_cert_optional = true;
  connect(*new_server(), session.get(), &reused);
  EXPECT_FALSE(reused);
}

INSTANTIATE_TEST_SUITE_P(Versions, TicketKeysTest,
                         ::testing::Values(TLS1_3_VERSION, TLS1_2_VERSION),
                         [](const ::testing::TestParamInfo<int>& version) {
                           return version.param == TLS1_3_VERSION ? "Tls13" : "Tls12";
                         });

}  // namespace
}  // namespace waygate::tls
