// Reading how to reach the API server: a kubeconfig's current context, and the Pod's service
// account in a cluster.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "discovery/base64.h"
#include "discovery/kubernetes/api_access.h"

namespace waygate::discovery::kubernetes {
namespace {

class KubernetesApiAccess : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("waygate-kubeconfig-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path dir_;
};

constexpr const char* kContexts = R"(contexts:
- name: dev
  context: { cluster: dev-cluster, user: dev-user }
- name: prod
  context: { cluster: prod-cluster, user: prod-user, namespace: shop }
)";

TEST_F(KubernetesApiAccess, TheCurrentContextPicksClusterAndUser) {
  std::string ca_data = base64_encode("-----BEGIN CERTIFICATE-----\n...\n");
  std::string path = write("config", std::string(R"(apiVersion: v1
kind: Config
current-context: prod
preferences: {}
clusters:
- name: dev-cluster
  cluster: { server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true }
- name: prod-cluster
  cluster:
    server: https://10.96.0.1:6443
    certificate-authority-data: )") + ca_data +
                                         R"(
    tls-server-name: kubernetes.default.svc
users:
- name: dev-user
  user: { token: dev-token }
- name: prod-user
  user:
    tokenFile: secrets/token
    client-certificate: certs/client.pem
    client-key: /etc/waygate/client.key
)" + kContexts);
  std::vector<std::string> errors;
  std::optional<ApiAccess> access = read_kubeconfig(path, &errors);
  ASSERT_TRUE(access) << (errors.empty() ? "" : errors[0]);
  EXPECT_EQ(access->server, "https://10.96.0.1:6443");
  EXPECT_TRUE(access->tls);
  EXPECT_EQ(access->host, "10.96.0.1:6443");
  EXPECT_EQ(access->server_name, "kubernetes.default.svc");
  EXPECT_EQ(access->tls_settings.ca_pem, "-----BEGIN CERTIFICATE-----\n...\n");
  EXPECT_TRUE(access->tls_settings.verify);
  EXPECT_EQ(access->token, "");
  // Relative paths are beside the kubeconfig, as kubectl reads them.
  EXPECT_EQ(access->token_file, (dir_ / "secrets/token").string());
  EXPECT_EQ(access->tls_settings.cert, (dir_ / "certs/client.pem").string());
  EXPECT_EQ(access->tls_settings.key, "/etc/waygate/client.key");
}

TEST_F(KubernetesApiAccess, InlineTokenPlainHttpAndSkippedVerification) {
  std::string path = write("config", std::string(R"(current-context: dev
clusters:
- name: dev-cluster
  cluster: { server: "http://127.0.0.1:8001", insecure-skip-tls-verify: true }
users:
- name: dev-user
  user: { token: dev-token }
)") + kContexts);
  std::vector<std::string> errors;
  std::optional<ApiAccess> access = read_kubeconfig(path, &errors);
  ASSERT_TRUE(access) << (errors.empty() ? "" : errors[0]);
  EXPECT_FALSE(access->tls);
  EXPECT_EQ(access->host, "127.0.0.1:8001");
  EXPECT_EQ(access->token, "dev-token");
  EXPECT_FALSE(access->tls_settings.verify);
}

TEST_F(KubernetesApiAccess, PluginsAndProvidersAreRefusedAtTheirKey) {
  std::string path = write("config", std::string(R"(current-context: prod
clusters:
- name: prod-cluster
  cluster: { server: "https://10.96.0.1:443" }
users:
- name: prod-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: aws
    auth-provider: { name: gcp }
)") + kContexts);
  std::vector<std::string> errors;
  EXPECT_FALSE(read_kubeconfig(path, &errors));
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0], path +
                           ":8:5: user.exec is not supported: use a token, tokenFile or a client "
                           "certificate");
  EXPECT_EQ(errors[1], path +
                           ":11:5: user.auth-provider is not supported: use a token, tokenFile or "
                           "a client certificate");
}

TEST_F(KubernetesApiAccess, MistakesAreErrorsAtTheirPosition) {
  std::string path = write("config", std::string(R"(current-context: prod
clusters:
- name: prod-cluster
  cluster: { server: "https://kubernetes.example.com:6443", certificate-authority-data: "%%" }
users:
- name: prod-user
  user: { client-certificate-data: "LS0t" }
)") + kContexts);
  std::vector<std::string> errors;
  EXPECT_FALSE(read_kubeconfig(path, &errors));
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find(":4:22: server 'https://kubernetes.example.com:6443' must be an IP"),
            std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find(":4:89: certificate-authority-data is not base64"), std::string::npos)
      << errors[1];
  EXPECT_NE(errors[2].find(":7:9: a client certificate without its client key"), std::string::npos)
      << errors[2];
}

TEST_F(KubernetesApiAccess, AMissingContextIsAnError) {
  std::string path = write("config", "current-context: staging\n" + std::string(kContexts));
  std::vector<std::string> errors;
  EXPECT_FALSE(read_kubeconfig(path, &errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], path + ":1:18: no context named 'staging'");
}

TEST_F(KubernetesApiAccess, InClusterUsesTheServiceAccount) {
  ::setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
  ::setenv("KUBERNETES_SERVICE_PORT", "443", 1);
  std::string error;
  std::optional<ApiAccess> access = in_cluster_access(dir_.string(), &error);
  ASSERT_TRUE(access) << error;
  EXPECT_EQ(access->server, "https://10.96.0.1:443");
  EXPECT_EQ(access->server_name, "10.96.0.1");
  EXPECT_EQ(access->token_file, dir_.string() + "/token");
  EXPECT_EQ(access->tls_settings.ca, dir_.string() + "/ca.crt");
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_FALSE(in_cluster_access(dir_.string(), &error));
  EXPECT_NE(error.find("not in a cluster"), std::string::npos);
}

}  // namespace
}  // namespace waygate::discovery::kubernetes
