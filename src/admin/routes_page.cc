#include "admin/routes_page.h"

namespace waygate::admin {
namespace {

using routing::PathConfig;
using routing::ValueMatcher;

std::string_view match_name(PathConfig::Match match) {
  switch (match) {
    case PathConfig::Match::kPrefix:
      return "prefix";
    case PathConfig::Match::kExact:
      return "exact";
    case PathConfig::Match::kRegex:
      return "regex";
  }
  return "prefix";
}

void write_matchers(JsonWriter& out, std::string_view key,
                    const std::vector<ValueMatcher>& matchers) {
  if (matchers.empty()) return;
  out.key(key).begin_array();
  for (const ValueMatcher& matcher : matchers) {
    out.begin_object().member("name", matcher.name);
    switch (matcher.kind) {
      case ValueMatcher::Kind::kPresent:
        out.member("present", true);
        break;
      case ValueMatcher::Kind::kAbsent:
        out.member("present", false);
        break;
      case ValueMatcher::Kind::kExact:
        out.member("exact", matcher.value);
        break;
      case ValueMatcher::Kind::kRegex:
        out.member("regex", matcher.value);
        break;
    }
    out.end_object();
  }
  out.end_array();
}

void write_fields(JsonWriter& out, const std::vector<std::pair<std::string, std::string>>& fields) {
  out.begin_object();
  for (const auto& [name, value] : fields)
    out.member(name, value);
  out.end_object();
}

void write_header_edits(JsonWriter& out, std::string_view key, const http::HeaderEdits& edits) {
  if (edits.empty()) return;
  out.key(key).begin_object().key("add");
  write_fields(out, edits.add);
  out.key("remove").begin_array();
  for (const std::string& name : edits.remove)
    out.value(name);
  out.end_array().end_object();
}

void write_action(JsonWriter& out, const PathConfig& path) {
  switch (path.action) {
    case PathConfig::Action::kForward:
      if (path.clusters->size() == 1) {
        out.member("cluster", path.clusters->front().name);
      } else {
        out.key("clusters").begin_array();
        for (const routing::WeightedCluster& cluster : *path.clusters) {
          out.begin_object()
              .member("name", cluster.name)
              .member("weight", cluster.weight)
              .end_object();
        }
        out.end_array();
      }
      break;
    case PathConfig::Action::kRespond:
      out.key("respond")
          .begin_object()
          .member("status", path.extras->respond->status)
          .member("body", path.extras->respond->body)
          .key("headers");
      write_fields(out, path.extras->respond->headers);
      out.end_object();
      break;
    case PathConfig::Action::kRedirect: {
      const routing::RedirectConfig& redirect = *path.extras->redirect;
      out.key("redirect").begin_object();
      if (redirect.scheme) out.member("scheme", *redirect.scheme);
      if (redirect.host) out.member("host", *redirect.host);
      if (redirect.port) out.member("port", *redirect.port);
      if (redirect.path) out.member("path", *redirect.path);
      if (redirect.prefix) out.member("prefix", *redirect.prefix);
      out.member("code", redirect.code).end_object();
      break;
    }
  }
}

// What a forwarding route does to a request on its way: rewrites, limits, retries, upgrades.
void write_forwarding(JsonWriter& out, const PathConfig& path) {
  if (path.extras->rewrite->prefix || path.extras->rewrite->host) {
    out.key("rewrite").begin_object();
    if (path.extras->rewrite->prefix) out.member("prefix", *path.extras->rewrite->prefix);
    if (path.extras->rewrite->host) out.member("host", *path.extras->rewrite->host);
    out.end_object();
  }
  if (path.extras->limits->timeout_ms) out.member("timeout_ms", *path.extras->limits->timeout_ms);
  if (path.extras->limits->max_body_bytes)
    out.member("max_body_bytes", *path.extras->limits->max_body_bytes);
  out.key("retry").begin_object().member("attempts", path.extras->retry->attempts);
  out.key("on").array_of(path.extras->retry->on);
  out.member("per_try_timeout_ms", path.extras->retry->per_try_timeout_ms).end_object();
  out.key("upgrades").array_of(path.extras->upgrades->protocols);
}

// `rate_limit`, when the path has one, as it was written: the bucket every client shares, and
// `per_client`.
void write_rate_limit(JsonWriter& out, const PathConfig& path) {
  const routing::PathRateLimits& limits = *path.extras->rate_limits;
  if (!limits.route.enabled() && !limits.client.enabled()) return;
  out.key("rate_limit").begin_object();
  if (limits.route.enabled()) {
    out.member("requests_per_second", limits.route.requests_per_second)
        .member("burst", limits.route.burst);
  }
  if (limits.client.enabled()) {
    out.key("per_client")
        .begin_object()
        .member("requests_per_second", limits.client.requests_per_second)
        .member("burst", limits.client.burst)
        .end_object();
  }
  out.end_object();
}

void write_path(JsonWriter& out, const PathConfig& path) {
  out.begin_object().member("match", match_name(path.match)).member("value", path.path);
  if (path.match == PathConfig::Match::kPrefix) out.member("segments", path.segments);
  const routing::RequestMatchers& conditions = *path.extras->matchers;
  if (!conditions.methods.empty()) out.key("methods").array_of(conditions.methods);
  write_matchers(out, "headers", conditions.headers);
  write_matchers(out, "query", conditions.query);
  write_action(out, path);
  if (path.action == PathConfig::Action::kForward) write_forwarding(out, path);
  write_header_edits(out, "request_headers", *path.extras->request_headers);
  write_header_edits(out, "response_headers", *path.extras->response_headers);
  write_rate_limit(out, path);
  out.end_object();
}

void write_route_list(JsonWriter& out, const std::vector<routing::RouteConfig>& routes) {
  for (const routing::RouteConfig& route : routes) {
    out.begin_object();
    out.key("hosts").array_of(route.hosts);
    out.key("paths").begin_array();
    for (const PathConfig& path : route.paths)
      write_path(out, path);
    out.end_array().end_object();
  }
}

}  // namespace

void write_routes(JsonWriter& out, const std::vector<routing::RouteConfig>& routes,
                  std::span<const routing::SharedRoutes> entries) {
  out.begin_array();
  write_route_list(out, routes);
  for (const routing::SharedRoutes& entry : entries)
    write_route_list(out, *entry);
  out.end_array();
}

std::string render_routes(const routing::Config& config,
                          std::span<const routing::SharedRoutes> entries) {
  JsonWriter out;
  out.begin_object().key("routes");
  write_routes(out, config.routes, entries);
  out.end_object();
  return out.take();
}

}  // namespace waygate::admin
