#include "http/header_names.h"

#include <cstring>
#include <span>

namespace waygate::http {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

struct KnownName {
  std::string_view name;  // lower case letters and '-'
  HeaderId id;
};

// Whether `name` is `known` (as long, lower case letters and '-') but for case. A letter of
// `known` has bit 0x40 set, so (byte & 0x40) >> 1 is the case bit to ignore there and nowhere
// else: eight bytes at a time, for a name classified on every field of every message.
bool is_known_name(std::string_view name, std::string_view known) {
  size_t i = 0;
  for (; i + 8 <= known.size(); i += 8) {
    uint64_t have = 0;
    uint64_t want = 0;
    std::memcpy(&have, name.data() + i, 8);
    std::memcpy(&want, known.data() + i, 8);
    uint64_t case_bits = (want & 0x4040404040404040) >> 1;
    if ((have | case_bits) != want) return false;
  }
  for (; i < known.size(); ++i) {
    char want = known[i];
    if ((name[i] | ((want & 0x40) >> 1)) != want) return false;
  }
  return true;
}

}  // namespace

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

HeaderId classify_header(std::string_view name) {
  // Candidates by length, so a name is compared with at most a few others.
  static constexpr KnownName kLength2[] = {{"te", HeaderId::kTe}};
  static constexpr KnownName kLength4[] = {{"host", HeaderId::kHost}};
  static constexpr KnownName kLength6[] = {{"expect", HeaderId::kExpect},
                                           {"cookie", HeaderId::kCookie}};
  static constexpr KnownName kLength7[] = {{"upgrade", HeaderId::kUpgrade},
                                           {"trailer", HeaderId::kTrailer}};
  static constexpr KnownName kLength10[] = {{"connection", HeaderId::kConnection},
                                            {"keep-alive", HeaderId::kKeepAlive}};
  static constexpr KnownName kLength12[] = {{"x-request-id", HeaderId::kXRequestId},
                                            {"grpc-timeout", HeaderId::kGrpcTimeout}};
  static constexpr KnownName kLength14[] = {{"content-length", HeaderId::kContentLength}};
  static constexpr KnownName kLength15[] = {{"x-forwarded-for", HeaderId::kXForwardedFor}};
  static constexpr KnownName kLength16[] = {{"proxy-connection", HeaderId::kProxyConnection},
                                            {"x-forwarded-host", HeaderId::kXForwardedHost}};
  static constexpr KnownName kLength17[] = {{
                                                "transfer-encoding",
                                                HeaderId::kTransferEncoding,
                                            },
                                            {"x-forwarded-proto", HeaderId::kXForwardedProto}};
  static constexpr KnownName kLength21[] = {
      {"x-client-cert-subject", HeaderId::kXClientCertSubject}};
  std::span<const KnownName> candidates;
  switch (name.size()) {
    case 2:
      candidates = kLength2;
      break;
    case 4:
      candidates = kLength4;
      break;
    case 6:
      candidates = kLength6;
      break;
    case 7:
      candidates = kLength7;
      break;
    case 10:
      candidates = kLength10;
      break;
    case 12:
      candidates = kLength12;
      break;
    case 14:
      candidates = kLength14;
      break;
    case 15:
      candidates = kLength15;
      break;
    case 16:
      candidates = kLength16;
      break;
    case 17:
      candidates = kLength17;
      break;
    case 21:
      candidates = kLength21;
      break;
    default:
      return HeaderId::kOther;
  }
  for (const KnownName& known : candidates) {
    if (is_known_name(name, known.name)) return known.id;
  }
  return HeaderId::kOther;
}

bool is_per_hop(std::string_view name) {
  return is_per_hop(classify_header(name));
}

bool has_token(std::string_view list, std::string_view token) {
  return any_list_item(list,
                       [token](std::string_view item) { return equals_ignore_case(item, token); });
}

}  // namespace waygate::http
