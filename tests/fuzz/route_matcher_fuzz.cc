// Fuzzes the route matcher (routing/route_table) against a fixed table of every kind of host and
// path rule: a lookup never reads past its host buffer, ignores the host's case, port and final
// dot, and the route it picks really matches the path it was given.
//
// Input: byte 0 picks the method; the rest is host, path, query and an X-Tenant header value,
// separated by NUL bytes.
#include <llhttp.h>

#include <memory>
#include <string>

#include "fuzz_check.h"
#include "routing/config_loader.h"
#include "routing/snapshot.h"

namespace waygate::fuzz {
namespace {

constexpr const char* kConfig = R"(listeners: [{ name: web, address: 127.0.0.1:8080 }]
routes:
  - hosts: ["api.example.com", "API2.example.com"]
    paths:
      - { exact: /healthz, respond: { status: 200, body: "ok" } }
      - { prefix: /v1, segments: true, methods: [GET, HEAD], cluster: api }
      - { prefix: /v2/, cluster: api, headers: [{ name: x-tenant, exact: blue }] }
      - { prefix: /v2/, cluster: api, query: [{ name: debug, present: true }] }
      - { regex: "/items/[0-9]+(/.*)?", cluster: items }
      - { prefix: /old/, redirect: { path: /new/, code: 301 } }
  - hosts: ["*.example.com"]
    paths:
      - { prefix: /, cluster: wild, headers: [{ name: x-tenant, regex: "gr(e|a)y" }] }
      - { prefix: /, cluster: wild, query: [{ name: q, regex: "[a-z ]+" }] }
  - hosts: ["*.eu.example.com", "localhost", "127.0.0.1"]
    paths: [{ prefix: /, cluster: deep }]
  - hosts: ["*"]
    paths:
      - { exact: /, cluster: any }
      - { prefix: /static/, cluster: any, methods: [GET] }
clusters:
  - { name: api, endpoints: [127.0.0.1:1] }
  - { name: items, endpoints: [127.0.0.1:2] }
  - { name: wild, endpoints: [127.0.0.1:3] }
  - { name: deep, endpoints: [127.0.0.1:4] }
  - { name: any, endpoints: [127.0.0.1:5] }
)";

const routing::Snapshot& table() {
  static const std::shared_ptr<const routing::Snapshot> snapshot = [] {
    routing::ConfigResult result = routing::load_config_text(kConfig, "route_matcher.yaml");
    if (!result.ok()) {
      std::fprintf(stderr, "route_matcher: %s\n", result.errors.front().c_str());
      std::abort();
    }
    return routing::build_snapshot(result.config);
  }();
  return *snapshot;
}

std::string_view take_field(std::string_view& rest) {
  size_t nul = rest.find('\0');
  std::string_view field = rest.substr(0, nul);
  rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  return field;
}

}  // namespace
}  // namespace waygate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace waygate;
  if (size == 0) return 0;
  const routing::RouteTable& routes = fuzz::table().routes;
  // A method llhttp can report (HTTP_DELETE .. HTTP_FLUSH).
  auto method = static_cast<uint8_t>(data[0] % (HTTP_FLUSH + 1));
  std::string_view rest = fuzz::as_text(data + 1, size - 1);
  std::string_view host = fuzz::take_field(rest);
  std::string_view path = fuzz::take_field(rest);
  std::string_view query = fuzz::take_field(rest);
  std::string_view tenant = fuzz::take_field(rest);

  http::MessageHead head;
  head.bytes.assign("x-tenant").append(tenant);
  head.fields.push_back(
      http::HeaderField{0, 8, 8, static_cast<uint32_t>(tenant.size()), http::HeaderId::kOther});
  routing::MatchInput input{host, path, query, method, &head};
  const routing::RouteAction* action = routes.match(input);

  if (action) {
    const routing::PathConfig& settings = *action->settings;
    switch (settings.match) {
      case routing::PathConfig::Match::kExact:
        FUZZ_CHECK(path == settings.path);
        break;
      case routing::PathConfig::Match::kPrefix:
        FUZZ_CHECK(path.starts_with(settings.path));
        break;
      case routing::PathConfig::Match::kRegex:
        FUZZ_CHECK(path.starts_with("/items/"));
        break;
    }
    FUZZ_CHECK(action->total_weight > 0 || action->kind != routing::RouteAction::Kind::kForward);
  }

  // The host's case, its port and a final dot change nothing.
  if (host.size() < 250 && host.find(':') == std::string_view::npos && !host.starts_with('[')) {
    std::string upper(host);
    for (char& c : upper)
      c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
    routing::MatchInput upper_input = input;
    upper_input.host = upper;
    FUZZ_CHECK(routes.match(upper_input) == action);
    std::string with_port = std::string(host) + ":8080";
    routing::MatchInput port_input = input;
    port_input.host = with_port;
    FUZZ_CHECK(routes.match(port_input) == action);
    if (!host.empty() && !host.ends_with('.')) {
      std::string absolute = std::string(host) + ".";
      routing::MatchInput dot_input = input;
      dot_input.host = absolute;
      FUZZ_CHECK(routes.match(dot_input) == action);
    }
  }
  // A target split by the table finds what its parts find.
  if (path.find_first_of("?#") == std::string_view::npos &&
      query.find('#') == std::string_view::npos && (query.empty() || query.front() == '?')) {
    std::string target = std::string(path).append(query);
    routing::MatchInput get = input;
    get.method = HTTP_GET;
    get.head = nullptr;
    FUZZ_CHECK(routes.match(host, target) == routes.match(get));
  }
  return 0;
}
