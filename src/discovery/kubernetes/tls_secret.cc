#include "discovery/kubernetes/tls_secret.h"

#include "core/tls_context.h"
#include "discovery/base64.h"
#include "discovery/json_member.h"

namespace waygate::discovery::kubernetes {

std::optional<routing::PemCertificate> read_tls_secret(const std::string& key,
                                                       const nlohmann::json& secret,
                                                       std::string* error) {
  const nlohmann::json* type = json_member(secret, "type");
  if (!type || !type->is_string() || *type != "kubernetes.io/tls") {
    *error = "type is not kubernetes.io/tls";
    return std::nullopt;
  }
  const nlohmann::json* data = json_member(secret, "data");
  routing::PemCertificate out;
  out.name = "Secret " + key;
  for (const char* field : {"tls.crt", "tls.key"}) {
    const nlohmann::json* value = data ? json_member(*data, field) : nullptr;
    std::optional<std::string> bytes;
    if (value && value->is_string()) bytes = base64_decode(value->get_ref<const std::string&>());
    if (!bytes || bytes->empty()) {
      *error = std::string("data.") + field + (value ? " is empty or not base64" : " is missing");
      return std::nullopt;
    }
    (std::string_view(field) == "tls.crt" ? out.cert_pem : out.key_pem) = std::move(*bytes);
  }
  tls::ServerSettings settings;
  settings.more_certificates.push_back(tls::CertificatePem{"", out.cert_pem, out.key_pem});
  if (!tls::ServerContext::create(settings, error)) return std::nullopt;
  return out;
}

}  // namespace waygate::discovery::kubernetes
