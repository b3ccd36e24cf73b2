#include "routing/tls_loader.h"

#include <filesystem>
#include <memory>
#include <unordered_map>

#include "core/file_bytes.h"
#include "core/tls_context.h"
#include "routing/config_watcher.h"

namespace waygate::routing {
namespace {

// A path as written, resolved against the config file's directory and remembered for the watcher.
std::optional<std::string> read_path(Reader& r, const yaml::Node& node, const std::string& what,
                                     const std::string& base_directory,
                                     std::vector<std::string>& files) {
  auto text = r.string(node, what);
  if (!text) return std::nullopt;
  if (text->empty()) {
    r.error(node, what + " must not be empty");
    return std::nullopt;
  }
  std::filesystem::path resolved(*text);
  if (resolved.is_relative()) resolved = std::filesystem::path(base_directory) / resolved;
  std::string path = resolved.lexically_normal().string();
  files.push_back(path);
  return path;
}

void read_min_version(Reader& r, const yaml::Node& node, std::string& out) {
  auto text = r.string(node, "tls.min_version");
  if (!text) return;
  if (*text == "1.2" || *text == "1.3") {
    out = *text;
  } else {
    r.error(node, "tls.min_version " + quoted_value(*text) +
                      " is not 1.2 or 1.3 (TLS 1.0 and 1.1 are not offered)");
  }
}

// The node an OpenSSL error is about: the cert or key entry whose path the message starts with,
// else the whole block.
yaml::Node node_named_by(const std::string& error,
                         const std::vector<std::pair<yaml::Node, std::string>>& entries,
                         const yaml::Node& fallback) {
  for (const auto& [node, path] : entries) {
    if (error.compare(0, path.size(), path) == 0) return node;
  }
  return fallback;
}

}  // namespace

void read_listener_tls(Reader& r, const yaml::Node& node, const std::string& base_directory,
                       const std::string& listener_name, const std::vector<PemCertificate>& extra,
                       ListenerTlsConfig& out, std::vector<std::string>& files) {
  if (!r.check_map(
          node, "listener tls",
          {"certificates", "min_version", "ciphers", "client_ca", "client_cert", "hsts"})) {
    return;
  }
  size_t errors_before = r.error_count();
  std::vector<std::pair<yaml::Node, std::string>> entries;  // for placing context errors
  if (!node["certificates"]) {
    r.error(node, "listener tls needs certificates");
  } else {
    for (const yaml::Node& item : r.sequence(node["certificates"], "tls.certificates")) {
      if (!r.check_map(item, "a tls certificate", {"cert", "key"})) continue;
      if (!item["cert"] || !item["key"]) {
        r.error(item, "a tls certificate needs cert and key");
        continue;
      }
      auto cert = read_path(r, item["cert"], "tls cert", base_directory, files);
      auto key = read_path(r, item["key"], "tls key", base_directory, files);
      if (!cert || !key) continue;
      entries.emplace_back(item["cert"], *cert);
      entries.emplace_back(item["key"], *key);
      out.certificates.emplace_back(*cert, *key);
    }
    if (node["certificates"].IsSequence() && node["certificates"].size() == 0) {
      r.error(node["certificates"], "tls.certificates must not be empty");
    }
  }
  if (node["min_version"]) read_min_version(r, node["min_version"], out.min_version);
  if (node["ciphers"]) {
    if (auto text = r.string(node["ciphers"], "tls.ciphers")) out.ciphers = *text;
  }
  if (node["client_ca"]) {
    auto path = read_path(r, node["client_ca"], "tls.client_ca", base_directory, files);
    if (path) {
      entries.emplace_back(node["client_ca"], *path);
      out.client_ca = *path;
    }
  }
  if (const yaml::Node& mode = node["client_cert"]) {
    auto text = r.string(mode, "tls.client_cert");
    if (text && *text == "optional") {
      out.client_cert_optional = true;
    } else if (text && *text != "required") {
      r.error(mode, "tls.client_cert " + quoted_value(*text) + " is not required or optional");
    }
    if (text && out.client_ca.empty()) r.error(mode, "tls.client_cert needs tls.client_ca");
  }
  if (const yaml::Node& hsts = node["hsts"]) {
    if (auto ms = r.duration(hsts, "tls.hsts")) out.hsts_max_age_s = *ms / 1000;
  }
  if (r.error_count() != errors_before || out.certificates.empty()) return;

  tls::ServerSettings settings;
  for (const auto& [cert, key] : out.certificates)
    settings.certificates.push_back(tls::CertificateFiles{cert, key});
  for (const PemCertificate& certificate : extra) {
    settings.more_certificates.push_back(
        tls::CertificatePem{certificate.name, certificate.cert_pem, certificate.key_pem});
  }
  settings.min_version = out.min_version;
  settings.ciphers = out.ciphers;
  settings.client_ca = out.client_ca;
  settings.client_cert_optional = out.client_cert_optional;
  if (out.alpn_h2) settings.alpn = {"h2", "http/1.1"};
  std::string error;
  out.context = tls::ServerContext::create(settings, &error);
  if (!out.context) {
    r.error(node_named_by(error, entries, node),
            "listener " + listener_name + ": certificate refused: " + error);
    return;
  }
  std::string bytes;
  for (const auto& [entry, path] : entries)
    bytes.append(read_file_bytes(path).value_or(""));
  for (const PemCertificate& certificate : extra)
    bytes.append(certificate.cert_pem).append(certificate.key_pem);
  out.files_hash = content_hash(bytes);
}

void read_upstream_tls(Reader& r, const yaml::Node& node, const std::string& base_directory,
                       UpstreamTlsConfig& out, std::vector<std::string>& files) {
  if (node.IsScalar() && node.Scalar() == "true") {
    // `tls: true`: every default.
  } else if (!r.check_map(node, "cluster tls", {"sni", "verify", "ca", "cert", "key"})) {
    return;
  }
  size_t errors_before = r.error_count();
  std::vector<std::pair<yaml::Node, std::string>> entries;
  if (node.IsMap()) {
    if (node["sni"]) {
      if (auto text = r.string(node["sni"], "tls.sni")) out.sni = *text;
    }
    if (node["verify"]) {
      if (auto value = r.boolean(node["verify"], "tls.verify")) out.verify = *value;
    }
    auto path = [&](const char* key, std::string& field) {
      if (!node[key]) return;
      auto resolved = read_path(r, node[key], std::string("tls.") + key, base_directory, files);
      if (!resolved) return;
      entries.emplace_back(node[key], *resolved);
      field = *resolved;
    };
    path("ca", out.ca);
    path("cert", out.cert);
    path("key", out.key);
    if (out.cert.empty() != out.key.empty()) {
      r.error(node, "a client certificate needs both tls.cert and tls.key");
    }
  }
  if (r.error_count() != errors_before) return;

  std::string identity = out.sni + '\0' + (out.verify ? "verify" : "") + '\0';
  for (const auto& [entry, path] : entries) {
    identity.append(path).push_back('\0');
    identity.append(read_file_bytes(path).value_or(""));
  }
  out.identity = content_hash(identity);
  // Clusters with the same settings and files share one context: building one reads the system's
  // roots, which costs milliseconds, and a config may have thousands of TLS clusters. Configs are
  // read on one thread at a time (the control thread, or --check).
  static std::unordered_map<uint64_t, std::weak_ptr<const tls::ClientContext>> built;
  std::erase_if(built, [](const auto& entry) { return entry.second.expired(); });
  if (auto found = built.find(out.identity); found != built.end()) {
    out.context = found->second.lock();
    return;
  }
  tls::ClientSettings settings;
  settings.verify = out.verify;
  settings.ca = out.ca;
  settings.cert = out.cert;
  settings.key = out.key;
  std::string error;
  out.context = tls::ClientContext::create(settings, &error);
  if (!out.context) {
    r.error(node_named_by(error, entries, node), error);
    return;
  }
  built[out.identity] = out.context;
}

}  // namespace waygate::routing
