#include "http/serialize.h"

#include <llhttp.h>

#include <algorithm>
#include <charconv>

#include "http/field_syntax.h"
#include "http/head_writer.h"
#include "http/header_names.h"
#include "http/status.h"

namespace waygate::http {
namespace {

void append_number(std::string& out, uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, end);
}

}  // namespace

ConnectionOptions::ConnectionOptions(const MessageHead& message) {
  std::string_view value = message.find(HeaderId::kConnection).value_or("");
  if (value.find(',') == std::string_view::npos) {
    only_ = trim_whitespace(value);  // the parser trims values; an HTTP/2 field's may not be
  } else {
    list_ = value;
  }
}

bool removed_by(const HeaderEdits* edits, std::string_view name) {
  if (edits) {
    for (const std::string& removed : edits->remove) {
      if (equals_ignore_case(name, removed)) return true;
    }
  }
  return false;
}

void append_upstream_request_head(std::string& out, const MessageHead& request,
                                  const ForwardContext& context) {
  // Room for every field as it came ("name: value\r\n"), the strings added here, and the
  // fixed text around them.
  size_t expected = request.bytes.size() + 4 * request.fields.size() + context.target.size() +
                    context.host.size() + context.client_address.size() +
                    context.forwarded_host.size() + context.request_id.size() +
                    context.client_cert_subject.size() + 256;
  HeadWriter head(out, expected);
  head.put(llhttp_method_name(static_cast<llhttp_method_t>(request.method)));
  head.put(' ');
  head.put(context.target);
  head.put(" HTTP/1.1\r\n");
  head.header("Host", context.host);

  ConnectionOptions connection(request);
  bool has_request_id = false;
  bool has_forwarded_for = false;
  bool te_trailers = false;
  for (const HeaderField& field : request.fields) {
    if (field.id == HeaderId::kTe) {
      // TE is per-hop, but its "trailers" says the client takes trailer fields, which a gRPC
      // server needs to hear: that goes on (RFC 9110 10.1.4), the transfer codings do not.
      te_trailers = te_trailers || has_token(request.value(field), "trailers");
      continue;
    }
    if (is_dropped(request, field, connection, context.edits)) continue;
    switch (field.id) {
      case HeaderId::kHost:  // exactly one Host, written above
      case HeaderId::kXForwardedProto:
      case HeaderId::kXForwardedHost:
      case HeaderId::kXClientCertSubject:
        continue;
      case HeaderId::kXForwardedFor:
        has_forwarded_for = true;  // every value goes into the one header written below
        continue;
      case HeaderId::kExpect:
        // waygate answers 100-continue itself; the upstream gets the body once it is connected.
        if (has_token(request.value(field), "100-continue")) continue;
        break;
      case HeaderId::kXRequestId:
        has_request_id = true;
        break;
      default:
        break;
    }
    head.header(request.name(field), request.value(field));
  }
  if (context.edits) {
    for (const auto& [name, value] : context.edits->add)
      head.header(name, value);
  }
  head.put("X-Forwarded-For: ");
  if (has_forwarded_for) {
    for (const HeaderField& field : request.fields) {
      if (field.id != HeaderId::kXForwardedFor) continue;
      head.put(request.value(field));
      head.put(", ");
    }
  }
  head.put(context.client_address);
  head.put("\r\n");
  head.header("X-Forwarded-Proto", context.proto);
  if (!context.forwarded_host.empty()) {
    head.header("X-Forwarded-Host", context.forwarded_host);
  }
  if (!has_request_id && !context.request_id.empty()) {
    head.header("X-Request-Id", context.request_id);
  }
  if (!context.client_cert_subject.empty()) {
    head.header("X-Client-Cert-Subject", context.client_cert_subject);
  }
  // A sender of TE names it in Connection too (RFC 9110 10.1.4).
  te_trailers = te_trailers && !removed_by(context.edits, "te");
  if (te_trailers) head.put("TE: trailers\r\n");
  if (context.upgrade) {
    head.put(te_trailers ? "Connection: upgrade, te\r\n" : "Connection: upgrade\r\n");
    head.header("Upgrade", request.find(HeaderId::kUpgrade).value_or(""));
  } else if (te_trailers) {
    head.put("Connection: te\r\n");
  }
  if (request.chunked) {
    head.put("Transfer-Encoding: chunked\r\n");
  } else if (request.has_content_length) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), request.content_length);
    head.put("Content-Length: ");
    head.put(std::string_view(digits, static_cast<size_t>(end - digits)));
    head.put("\r\n");
  }
  head.put("\r\n");
}

void append_downstream_response_head(std::string& out, const MessageHead& response,
                                     const ResponseFraming& framing) {
  out.append("HTTP/1.1 ");
  append_number(out, response.status);
  out.push_back(' ');
  out.append(response.target().empty() ? reason_phrase(response.status) : response.target());
  out.append("\r\n");

  // The appends written out here rather than append_header's call: this runs for every field of
  // every response.
  for_each_downstream_response_field(
      response, framing, [&out](HeaderId, std::string_view name, std::string_view value) {
        out.append(name).append(": ").append(value).append("\r\n");
      });
  out.append("\r\n");
}

void append_generated_response(std::string& out, uint16_t status, bool close) {
  // "<status> <reason>\n" built in place: answering an error allocates nothing.
  char body[64];
  std::string_view reason = reason_phrase(status);
  auto [end, ec] = std::to_chars(body, body + 8, status);
  *end++ = ' ';
  size_t reason_length =
      std::min(reason.size(), sizeof(body) - static_cast<size_t>(end - body) - 1);
  end = std::copy_n(reason.data(), reason_length, end);
  *end++ = '\n';
  append_status_line(out, status);
  append_local_body(out, std::string_view(body, static_cast<size_t>(end - body)), false, close);
}

void append_local_response(std::string& out, uint16_t status, std::string_view body,
                           const HeaderList& headers, bool close) {
  append_status_line(out, status);
  bool has_type = false;
  for (const auto& [name, value] : headers) {
    has_type = has_type || equals_ignore_case(name, "content-type");
    append_header(out, name, value);
  }
  append_local_body(out, body, has_type, close);
}

void append_status_line(std::string& out, uint16_t status) {
  out.append("HTTP/1.1 ");
  append_number(out, status);
  out.push_back(' ');
  out.append(reason_phrase(status));
  out.append("\r\n");
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void append_local_body(std::string& out, std::string_view body, bool has_content_type, bool close) {
  if (!has_content_type) out.append("Content-Type: text/plain\r\n");
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

bool is_forwarded_trailer(std::string_view name) {
  if (is_per_hop(name)) return false;  // framing and hop-by-hop, Trailer and TE among them
  static constexpr std::string_view kNotForwarded[] = {
      // routing and request modifiers (RFC 9110 6.5.1)
      "host", "expect", "max-forwards", "range", "if-match", "if-none-match", "if-modified-since",
      "if-unmodified-since", "if-range", "cache-control", "pragma",
      // authentication and state
      "authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate", "cookie",
      "set-cookie",
      // response control data
      "age", "expires", "date", "location", "retry-after", "vary",
      // how to process the content
      "content-encoding", "content-type", "content-range",
      // what waygate sets itself on the head
      "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-request-id",
      "x-client-cert-subject", "strict-transport-security"};
  for (std::string_view refused : kNotForwarded) {
    if (equals_ignore_case(name, refused)) return false;
  }
  return true;
}

void append_last_chunk(std::string& out, const MessageHead& trailers) {
  if (trailers.fields.empty()) {
    out.append(kLastChunk);
    return;
  }
  out.append("0\r\n");
  for (const HeaderField& field : trailers.fields) {
    std::string_view name = trailers.name(field);
    if (is_forwarded_trailer(name)) append_header(out, name, trailers.value(field));
  }
  out.append("\r\n");
}

}  // namespace waygate::http
