#include "http/serialize.h"

#include <llhttp.h>

#include <charconv>

#include "http/header_names.h"
#include "http/status.h"

namespace waygate::http {
namespace {

void append_number(std::string& out, uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

// A header that must not reach the next hop: per-hop by definition, named in Connection, or
// removed by the route.
bool is_dropped(std::string_view name, std::string_view connection, const HeaderEdits* edits) {
  if (is_per_hop(name) || (!connection.empty() && has_token(connection, name))) return true;
  if (edits) {
    for (const std::string& removed : edits->remove) {
      if (equals_ignore_case(name, removed)) return true;
    }
  }
  return false;
}

void append_added(std::string& out, const HeaderEdits* edits) {
  if (!edits) return;
  for (const auto& [name, value] : edits->add)
    append_header(out, name, value);
}

}  // namespace

void append_upstream_request_head(std::string& out, const MessageHead& request,
                                  const ForwardContext& context) {
  out.append(llhttp_method_name(static_cast<llhttp_method_t>(request.method)));
  out.push_back(' ');
  out.append(context.target.empty() ? request.target() : context.target);
  out.append(" HTTP/1.1\r\n");

  std::string_view connection = request.find("connection").value_or("");
  std::string_view host;
  std::string forwarded_for;
  bool has_request_id = false;
  for (const HeaderField& field : request.fields) {
    std::string_view name = request.name(field);
    std::string_view value = request.value(field);
    if (is_dropped(name, connection, context.edits)) continue;
    if (equals_ignore_case(name, "x-forwarded-for")) {
      forwarded_for.append(value).append(", ");
      continue;
    }
    // waygate answers 100-continue itself; the upstream gets the body once it is connected.
    if (equals_ignore_case(name, "expect") && has_token(value, "100-continue")) continue;
    if (equals_ignore_case(name, "x-forwarded-proto") ||
        equals_ignore_case(name, "x-forwarded-host")) {
      continue;
    }
    if (equals_ignore_case(name, "host")) {
      host = value;
      if (!context.host.empty()) value = context.host;
    }
    if (equals_ignore_case(name, "x-request-id")) has_request_id = true;
    append_header(out, name, value);
  }
  if (host.empty() && !context.host.empty()) append_header(out, "Host", context.host);
  append_added(out, context.edits);
  forwarded_for.append(context.client_address);
  append_header(out, "X-Forwarded-For", forwarded_for);
  append_header(out, "X-Forwarded-Proto", context.proto);
  if (!host.empty()) append_header(out, "X-Forwarded-Host", host);
  if (!has_request_id && !context.request_id.empty()) {
    append_header(out, "X-Request-Id", context.request_id);
  }
  if (context.upgrade) {
    out.append("Connection: upgrade\r\n");
    append_header(out, "Upgrade", request.find("upgrade").value_or(""));
  }
  if (request.chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  } else if (request.has_content_length) {
    out.append("Content-Length: ");
    append_number(out, request.content_length);
    out.append("\r\n");
  }
  out.append("\r\n");
}

void append_downstream_response_head(std::string& out, const MessageHead& response,
                                     const ResponseFraming& framing) {
  out.append("HTTP/1.1 ");
  append_number(out, response.status);
  out.push_back(' ');
  out.append(response.target().empty() ? reason_phrase(response.status) : response.target());
  out.append("\r\n");

  std::string_view connection = response.find("connection").value_or("");
  for (const HeaderField& field : response.fields) {
    std::string_view name = response.name(field);
    if (is_dropped(name, connection, framing.edits)) continue;
    append_header(out, name, response.value(field));
  }
  append_added(out, framing.edits);
  if (framing.upgrade) {
    out.append("Connection: upgrade\r\n");
    append_header(out, "Upgrade", response.find("upgrade").value_or(""));
  } else if (framing.close) {
    out.append("Connection: close\r\n");
  } else if (framing.keep_alive_10) {
    out.append("Connection: keep-alive\r\n");
  }
  if (framing.framing == BodyFraming::kChunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  } else if (framing.framing == BodyFraming::kContentLength) {
    out.append("Content-Length: ");
    append_number(out, framing.content_length);
    out.append("\r\n");
  }
  out.append("\r\n");
}

void append_generated_response(std::string& out, uint16_t status, bool close) {
  std::string body;
  append_number(body, status);
  body.push_back(' ');
  body.append(reason_phrase(status));
  body.push_back('\n');
  append_local_response(out, status, body, {}, close);
}

void append_local_response(std::string& out, uint16_t status, std::string_view body,
                           const HeaderList& headers, bool close) {
  out.append("HTTP/1.1 ");
  append_number(out, status);
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\n");
  bool has_type = false;
  for (const auto& [name, value] : headers) {
    has_type = has_type || equals_ignore_case(name, "content-type");
    append_header(out, name, value);
  }
  if (!has_type) out.append("Content-Type: text/plain\r\n");
  out.append("Content-Length: ");
  append_number(out, body.size());
  out.append(close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n");
  out.append(body);
}

void append_chunk_header(std::string& out, uint64_t size) {
  char digits[20];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), size, 16);
  out.append(digits, end);
  out.append("\r\n");
}

}  // namespace waygate::http
