// Loading `tls:` on listeners and clusters: the settings docs/config.md ("TLS") names, each problem
// refused at its position, and files that cannot serve refused with the config.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "routing/config_loader.h"

namespace waygate::routing {
namespace {

// A TLS listener whose `tls:` keys (each line indented six spaces) start on line 5.
std::string config_with_listener_tls(const std::string& keys) {
  return "listeners:\n"
         "  - name: secure\n"
         "    address: 127.0.0.1:8443\n"
         "    tls:\n" +
         keys +
         "clusters: [{ name: a, endpoints: [127.0.0.1:9001] }]\n"
         "routes: [{ hosts: ['*'], paths: [{ prefix: /, cluster: a }] }]\n";
}

// A cluster whose `tls:` value follows "tls: " on line 5.
std::string config_with_cluster_tls(const std::string& value) {
  return "listeners: [{ name: web, address: 127.0.0.1:8080 }]\n"
         "clusters:\n"
         "  - name: a\n"
         "    endpoints: [127.0.0.1:9001]\n"
         "    tls: " +
         value +
         "\n"
         "routes: [{ hosts: ['*'], paths: [{ prefix: /, cluster: a }] }]\n";
}

std::vector<std::string> listener_errors(const std::string& keys) {
  return load_config_text(config_with_listener_tls(keys), "/etc/wg/t.yaml").errors;
}

std::vector<std::string> cluster_errors(const std::string& value) {
  return load_config_text(config_with_cluster_tls(value), "/etc/wg/t.yaml").errors;
}

TEST(TlsConfig, ListenerWithoutCertificatesIsAnError) {
  EXPECT_EQ(listener_errors("      min_version: '1.3'\n"),
            std::vector<std::string>{"/etc/wg/t.yaml:5:7: listener tls needs certificates"});
  EXPECT_EQ(listener_errors("      certificates: []\n"),
            std::vector<std::string>{"/etc/wg/t.yaml:5:21: tls.certificates must not be empty"});
  EXPECT_EQ(listener_errors("      certificates: [{ cert: a.pem }]\n"),
            std::vector<std::string>{"/etc/wg/t.yaml:5:22: a tls certificate needs cert and key"});
}

TEST(TlsConfig, BadSettingsAreErrorsAtTheirPosition) {
  std::vector<std::string> errors = listener_errors(
      "      certificates: [{ cert: a.pem, key: a.key }]\n"
      "      min_version: '1.1'\n"
      "      client_cert: optional\n"
      "      hsts: forever\n"
      "      session_cache: on\n");
  EXPECT_EQ(errors, (std::vector<std::string>{
                        "/etc/wg/t.yaml:6:20: tls.min_version '1.1' is not 1.2 or 1.3 (TLS 1.0 "
                        "and 1.1 are not offered)",
                        "/etc/wg/t.yaml:7:20: tls.client_cert needs tls.client_ca",
                        "/etc/wg/t.yaml:8:13: tls.hsts: 'forever' is not a duration (like 500ms, "
                        "2s, 1m)",
                        "/etc/wg/t.yaml:9:7: unknown key 'session_cache' in listener tls",
                    }));
}

TEST(TlsConfig, MissingCertificateFileIsRefusedAtItsEntry) {
  std::vector<std::string> errors =
      listener_errors("      certificates: [{ cert: missing.pem, key: missing.key }]\n");
  ASSERT_EQ(errors.size(), 1u);
  // The path is resolved against the config file's directory, and the message names it.
  EXPECT_EQ(errors[0].rfind("/etc/wg/t.yaml:5:30: listener secure: certificate refused: "
                            "/etc/wg/missing.pem",
                            0),
            0u)
      << errors[0];
}

TEST(TlsConfig, ClusterTlsTakesDefaultsFromAnEmptyMapOrTrue) {
  for (const char* value : {"{}", "true"}) {
    ConfigResult result = load_config_text(config_with_cluster_tls(value), "/etc/wg/t.yaml");
    ASSERT_TRUE(result.ok()) << value << ": " << result.errors.front();
    const auto& tls = result.config.clusters.at(0).tls;
    ASSERT_TRUE(tls.has_value()) << value;
    EXPECT_TRUE(tls->verify);
    EXPECT_TRUE(tls->sni.empty());
    EXPECT_NE(tls->context, nullptr);
  }
}

TEST(TlsConfig, ClusterTlsErrors) {
  EXPECT_EQ(cluster_errors("{ verify: maybe }"),
            std::vector<std::string>{"/etc/wg/t.yaml:5:20: tls.verify must be true or false"});
  EXPECT_EQ(cluster_errors("{ cert: c.pem }"),
            std::vector<std::string>{
                "/etc/wg/t.yaml:5:10: a client certificate needs both tls.cert and tls.key"});
  EXPECT_EQ(cluster_errors("{ alpn: h2 }"),
            std::vector<std::string>{"/etc/wg/t.yaml:5:12: unknown key 'alpn' in cluster tls"});
  std::vector<std::string> missing_ca = cluster_errors("{ ca: nowhere/ca.pem }");
  ASSERT_EQ(missing_ca.size(), 1u);
  EXPECT_EQ(missing_ca[0].rfind("/etc/wg/t.yaml:5:16: /etc/wg/nowhere/ca.pem", 0), 0u)
      << missing_ca[0];
}

TEST(TlsConfig, HandshakeTimeoutIsASetting) {
  ConfigResult result = load_config_text(
      "timeouts: { tls_handshake: 3s }\n" + config_with_cluster_tls("{}"), "/etc/wg/t.yaml");
  ASSERT_TRUE(result.ok()) << result.errors.front();
  EXPECT_EQ(result.config.timeouts.tls_handshake_ms, 3000u);
}

}  // namespace
}  // namespace waygate::routing
