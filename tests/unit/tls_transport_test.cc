// TlsTransport between real TCP ends over loopback: the handshake, plaintext both ways, writes
// before the handshake, record coalescing, pausing with plaintext held, the stream's end, plain
// HTTP sent to a TLS port, and handshake failures reported once with a reason.
#include "core/tls_transport.h"

#include <gtest/gtest.h>
#include <sys/ioctl.h>

#include <string>

#include "core/tls_context.h"
#include "test_certificates.h"
#include "tls_loopback.h"

namespace waygate {
namespace {

using testing::PemPair;
using testing::TestCa;
using testing::TlsLoopback;

// Bytes the kernel holds for the socket that nobody has read yet.
int unread_bytes(TcpTransport& tcp) {
  uv_os_fd_t fd;
  int available = -1;
  if (uv_fileno(tcp.handle(), &fd) == 0) ioctl(fd, FIONREAD, &available);
  return available;
}

std::string pattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i)
    bytes[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return bytes;
}

class TlsTransportTest : public ::testing::Test {
 protected:
  TlsTransportTest() {
    PemPair leaf = ca_.issue({"localhost"});
    tls::ServerSettings server;
    server.certificates = {
        {dir_.write("server.pem", leaf.cert), dir_.write("server.key", leaf.key)}};
    std::string error;
    server_ = tls::ServerContext::create(server, &error);
    EXPECT_TRUE(server_) << error;
    tls::ClientSettings client;
    client.ca = dir_.write("ca.pem", ca_.cert_pem());
    client_ = tls::ClientContext::create(client, &error);
    EXPECT_TRUE(client_) << error;
  }

  SSL* client_ssl() { return client_->new_ssl("", "localhost", "localhost"); }

  TestCa ca_;
  testing::TempDir dir_;
  std::shared_ptr<const tls::ServerContext> server_;
  std::shared_ptr<const tls::ClientContext> client_;
  TlsLoopback net_;
};

TEST_F(TlsTransportTest, HandshakeThenPlaintextBothWays) {
  auto pair = net_.connect(client_ssl(), server_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  EXPECT_EQ(pair.client->connected, 0);
  EXPECT_EQ(pair.client->connected_calls, 1);
  EXPECT_TRUE(pair.client->tls().handshake_done());
  EXPECT_TRUE(pair.server->tls().handshake_done());
  EXPECT_FALSE(pair.server->eof.has_value());
  EXPECT_TRUE(net_.ping_pong(pair));
  EXPECT_TRUE(net_.ping_pong(pair));
  EXPECT_EQ(pair.server->received, "pingping");
  EXPECT_EQ(pair.client->received, "pongpong");
  EXPECT_TRUE(pair.client->tls().secure());
}

TEST_F(TlsTransportTest, BuiltBeforeTheTcpConnectItStartsItsOwnHandshake) {
  auto pair = net_.connect_with_early_tls(client_ssl(), server_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  // The TCP connect is not passed on: the codec hears "connected" once, when TLS is up.
  EXPECT_EQ(pair.client->connected, 0);
  EXPECT_EQ(pair.client->connected_calls, 1);
  EXPECT_TRUE(net_.ping_pong(pair));
}

TEST_F(TlsTransportTest, WritesBeforeTheHandshakeAreSentOnceItIsDone) {
  auto pair = net_.connect_with_early_tls(client_ssl(), server_->new_ssl());
  ASSERT_FALSE(pair.client->tls().handshake_done());
  EXPECT_EQ(pair.client->tls().write("early "), 0);
  EXPECT_EQ(pair.client->tls().write("bytes"), 0);
  EXPECT_EQ(pair.client->tls().pending_bytes(), 11u);  // held as plaintext until then
  ASSERT_TRUE(net_.run_until([&] { return pair.server->received.size() == 11; }));
  EXPECT_EQ(pair.server->received, "early bytes");
  // The codec saw bytes pending, so it hears when they are gone.
  ASSERT_TRUE(net_.run_until([&] { return pair.client->drained_calls > 0; }));
  EXPECT_EQ(pair.client->tls().pending_bytes(), 0u);
}

TEST_F(TlsTransportTest, OneWritesSmallBuffersShareOneRecord) {
  auto pair = net_.connect(client_ssl(), server_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  int records = 0;
  SSL_set_msg_callback(pair.client->ssl(), [](int write_p, int, int content_type, const void* buf,
                                              size_t length, SSL*, void* count) {
    if (write_p && content_type == SSL3_RT_HEADER && length > 0 &&
        *static_cast<const unsigned char*>(buf) == SSL3_RT_APPLICATION_DATA) {
      ++*static_cast<int*>(count);
    }
  });
  SSL_set_msg_callback_arg(pair.client->ssl(), &records);

  std::string head = "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n";
  std::string body = "0123456789";
  uv_buf_t bufs[] = {uv_buf_init(head.data(), static_cast<unsigned>(head.size())),
                     uv_buf_init(body.data(), static_cast<unsigned>(body.size()))};
  ASSERT_EQ(pair.client->tls().write(bufs), 0);
  EXPECT_EQ(records, 1);

  // 40 KiB in a small and a large buffer: three full-size records at most, not four.
  records = 0;
  std::string large = pattern(40 * 1024 - head.size());
  uv_buf_t more[] = {uv_buf_init(head.data(), static_cast<unsigned>(head.size())),
                     uv_buf_init(large.data(), static_cast<unsigned>(large.size()))};
  ASSERT_EQ(pair.client->tls().write(more), 0);
  EXPECT_EQ(records, 3);

  std::string expected = head + body + head + large;
  ASSERT_TRUE(net_.run_until([&] { return pair.server->received.size() >= expected.size(); }));
  EXPECT_EQ(pair.server->received, expected);
}

TEST_F(TlsTransportTest, LargeWritesArriveWhole) {
  auto pair = net_.connect(client_ssl(), server_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  std::string upload = pattern(1024 * 1024);
  ASSERT_EQ(pair.client->tls().write(upload), 0);
  ASSERT_TRUE(net_.run_until([&] { return pair.server->received.size() >= upload.size(); }));
  EXPECT_TRUE(pair.server->received == upload);

  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n";
  uv_buf_t bufs[] = {uv_buf_init(head.data(), static_cast<unsigned>(head.size())),
                     uv_buf_init(upload.data(), static_cast<unsigned>(upload.size()))};
  ASSERT_EQ(pair.server->tls().write(bufs), 0);
  ASSERT_TRUE(
      net_.run_until([&] { return pair.client->received.size() >= head.size() + upload.size(); }));
  EXPECT_TRUE(pair.client->received == head + upload);
}

TEST_F(TlsTransportTest, PausedReadingDeliversWhatTlsHoldsOnceResumed) {
  auto pair = net_.connect(client_ssl(), server_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  pair.server->on_read = [](testing::Peer& peer, std::string_view) {
    peer.set_reading(false);  // from inside the delivery, as a codec pausing for backpressure
  };
  std::string message = pattern(40 * 1024);  // three records, in one TCP write
  ASSERT_EQ(pair.client->tls().write(message), 0);
  ASSERT_TRUE(net_.run_until([&] { return !pair.server->received.empty(); }));
  // Every byte has left the kernel, yet part of the message is still held by the TLS layer.
  EXPECT_EQ(unread_bytes(pair.server->tcp()), 0);
  ASSERT_LT(pair.server->received.size(), message.size());
  EXPECT_FALSE(pair.server->tcp().reading());

  pair.server->on_read = nullptr;
  pair.server->set_reading(true);
  EXPECT_LT(pair.server->received.size(), message.size());  // not from inside set_reading
  ASSERT_TRUE(net_.run_until([&] { return pair.server->received.size() >= message.size(); }));
  EXPECT_TRUE(pair.server->received == message);
}

TEST_F(TlsTransportTest, TheEndIsHeardAfterThePlaintextBeforeIt) {
  auto pair = net_.connect(client_ssl(), server_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  pair.server->on_read = [](testing::Peer& peer, std::string_view) { peer.set_reading(false); };
  pair.client->tls().write("last words");
  pair.client->tls().shutdown();  // close_notify, then FIN
  ASSERT_TRUE(net_.run_until([&] { return !pair.server->received.empty(); }));
  EXPECT_EQ(pair.server->received, "last words");
  EXPECT_FALSE(pair.server->eof.has_value());  // reading is off

  pair.server->set_reading(true);
  ASSERT_TRUE(net_.run_until([&] { return pair.server->eof.has_value(); }));
  EXPECT_EQ(pair.server->eof, UV_EOF);
  EXPECT_EQ(pair.server->eof_calls, 1);
}

TEST_F(TlsTransportTest, FinWithoutCloseNotifyIsAnOrdinaryEnd) {
  auto pair = net_.connect(client_ssl(), server_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  ASSERT_TRUE(net_.ping_pong(pair));
  pair.client->tcp().shutdown();  // as browsers and curl often do: no close_notify
  ASSERT_TRUE(net_.run_until([&] { return pair.server->eof.has_value(); }));
  EXPECT_EQ(pair.server->eof, UV_EOF);
  EXPECT_EQ(pair.server->eof_calls, 1);
}

TEST_F(TlsTransportTest, ShutdownSendsCloseNotifyAndTheConnectionStaysReadable) {
  auto pair = net_.connect(client_ssl(), server_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  pair.server->tls().write("bye");
  pair.server->tls().shutdown();
  EXPECT_EQ(pair.server->tls().write("more"), UV_EPIPE);
  ASSERT_TRUE(net_.run_until([&] { return pair.client->eof.has_value(); }));
  EXPECT_EQ(pair.client->received, "bye");
  EXPECT_EQ(pair.client->eof, UV_EOF);
  EXPECT_EQ(SSL_get_shutdown(pair.client->ssl()) & SSL_RECEIVED_SHUTDOWN, SSL_RECEIVED_SHUTDOWN);
  // Half-closed: the server still reads what the client sends.
  pair.client->tls().write("after");
  ASSERT_TRUE(net_.run_until([&] { return pair.server->received == "after"; }));
}

TEST_F(TlsTransportTest, PlainHttpIsRecognisedBeforeTheCodecSeesAByte) {
  auto pair = net_.connect(nullptr, server_->new_ssl());
  pair.client->tcp().write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ASSERT_TRUE(net_.run_until([&] { return pair.server->eof.has_value(); }));
  EXPECT_LT(*pair.server->eof, 0);
  EXPECT_EQ(pair.server->eof_calls, 1);
  EXPECT_TRUE(pair.server->tls().saw_plaintext_http());
  EXPECT_EQ(pair.server->tls().failure_reason(), "plaintext-http");
  EXPECT_EQ(pair.server->received, "");

  // The owner answers in plaintext on the TCP transport, and hears it drain.
  std::string answer = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n";
  pair.server->tcp().write(answer);
  ASSERT_TRUE(net_.run_until([&] { return pair.client->received.size() >= answer.size(); }));
  EXPECT_EQ(pair.client->received, answer);
}

TEST_F(TlsTransportTest, PlainHttpIsRecognisedWhenTheMethodArrivesInPieces) {
  auto pair = net_.connect(nullptr, server_->new_ssl());
  pair.client->tcp().write("GE");
  ASSERT_TRUE(net_.run_until([&] { return unread_bytes(pair.server->tcp()) == 0; }));
  EXPECT_FALSE(pair.server->eof.has_value());
  pair.client->tcp().write("T /index.html HTTP/1.1\r\n");
  ASSERT_TRUE(net_.run_until([&] { return pair.server->eof.has_value(); }));
  EXPECT_TRUE(pair.server->tls().saw_plaintext_http());
  EXPECT_EQ(pair.server->tls().failure_reason(), "plaintext-http");
}

TEST_F(TlsTransportTest, GarbageFailsTheHandshakeWithoutLookingLikeHttp) {
  auto pair = net_.connect(nullptr, server_->new_ssl());
  pair.client->tcp().write(std::string("\x01\x02\x03\x04 not a client hello\r\n", 26));
  ASSERT_TRUE(net_.run_until([&] { return pair.server->eof.has_value(); }));
  EXPECT_LT(*pair.server->eof, 0);
  EXPECT_EQ(pair.server->eof_calls, 1);
  EXPECT_FALSE(pair.server->tls().saw_plaintext_http());
  EXPECT_FALSE(pair.server->tls().failure_reason().empty());
  EXPECT_NE(pair.server->tls().failure_reason(), "plaintext-http");
  EXPECT_EQ(pair.server->received, "");
}

TEST_F(TlsTransportTest, ClientThatLeavesMidHandshakeIsAnUnexpectedEof) {
  auto pair = net_.connect(nullptr, server_->new_ssl());
  pair.client->tcp().write(
      std::string_view("\x16\x03\x01\x00\x50\x01", 6));  // a ClientHello begins
  pair.client->tcp().shutdown();
  ASSERT_TRUE(net_.run_until([&] { return pair.server->eof.has_value(); }));
  EXPECT_EQ(pair.server->eof, UV_EPROTO);
  EXPECT_EQ(pair.server->tls().failure_reason(), "unexpected eof");
}

TEST_F(TlsTransportTest, ClientThatLeavesWithoutAByteIsAnEndNotAFailure) {
  // A port check or a balancer's probe: nothing worth logging as a failed handshake.
  auto pair = net_.connect(nullptr, server_->new_ssl());
  pair.client->tcp().shutdown();
  ASSERT_TRUE(net_.run_until([&] { return pair.server->eof.has_value(); }));
  EXPECT_EQ(pair.server->eof, UV_EOF);
  EXPECT_EQ(pair.server->tls().failure_reason(), "");
}

TEST_F(TlsTransportTest, NoSharedCipherFailsBothEndsOnceWithAReason) {
  SSL* client = client_ssl();
  SSL_set_max_proto_version(client, TLS1_2_VERSION);
  SSL_set_cipher_list(client, "ECDHE-RSA-AES128-SHA");  // CBC: not among the server's
  auto pair = net_.connect(client, server_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  EXPECT_EQ(pair.server->eof, UV_EPROTO);
  EXPECT_EQ(pair.server->eof_calls, 1);
  EXPECT_EQ(pair.server->tls().failure_reason(), "no shared cipher");
  EXPECT_EQ(pair.server->received, "");
  ASSERT_TRUE(pair.client->connected.has_value());
  EXPECT_LT(*pair.client->connected, 0);
  EXPECT_EQ(pair.client->connected_calls, 1);
  EXPECT_FALSE(pair.client->eof.has_value());
  EXPECT_FALSE(pair.client->tls().failure_reason().empty());
}

TEST_F(TlsTransportTest, ClientFailureAtItsFirstStepIsReportedFromTheLoop) {
  SSL* client = client_ssl();
  // No version left to offer: the handshake fails inside start_client_handshake.
  SSL_set_min_proto_version(client, TLS1_3_VERSION);
  SSL_set_max_proto_version(client, TLS1_2_VERSION);
  auto pair = net_.connect(client, server_->new_ssl());
  ASSERT_TRUE(net_.run_until([&] { return pair.client->connected.has_value(); }));
  EXPECT_LT(*pair.client->connected, 0);
  EXPECT_FALSE(pair.client->heard_inside_own_call);
  EXPECT_FALSE(pair.client->tls().failure_reason().empty());
}

TEST_F(TlsTransportTest, ClientRefusesAServerWithAnotherName) {
  auto pair = net_.connect(client_->new_ssl("", "localhost", "other.example"), server_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  ASSERT_TRUE(pair.client->connected.has_value());
  EXPECT_LT(*pair.client->connected, 0);
  EXPECT_EQ(pair.client->tls().failure_reason(), "certificate verify failed: hostname mismatch");
  EXPECT_FALSE(pair.client->tls().handshake_done());
}

TEST_F(TlsTransportTest, ClientRefusesAServerFromAnUntrustedCa) {
  TestCa other("another CA");
  tls::ClientSettings settings;
  settings.ca = dir_.write("other-ca.pem", other.cert_pem());
  std::string error;
  auto client = tls::ClientContext::create(settings, &error);
  ASSERT_TRUE(client) << error;
  auto pair = net_.connect(client->new_ssl("", "localhost", "localhost"), server_->new_ssl());
  ASSERT_TRUE(net_.run_handshake(pair));
  ASSERT_TRUE(pair.client->connected.has_value());
  EXPECT_LT(*pair.client->connected, 0);
  EXPECT_EQ(pair.client->tls().failure_reason().rfind("certificate verify failed: ", 0), 0u)
      << pair.client->tls().failure_reason();
  // The server hears the client's alert.
  EXPECT_LT(pair.server->eof.value_or(0), 0);
}

}  // namespace
}  // namespace waygate
