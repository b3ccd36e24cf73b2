// The per-request HTTP work of the data path: parsing a request head, normalising its path, writing
// the upstream head, parsing the response head and writing the downstream head.
#include <benchmark/benchmark.h>

#include "http/parser.h"
#include "http/request_target.h"
#include "http/serialize.h"

namespace waygate::http {
namespace {

constexpr std::string_view kRequest =
    "GET /api/v1/users/12345?fields=name,email HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n"
    "Accept: application/json\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: session=0123456789abcdef0123456789abcdef; theme=dark\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 2\r\n"
    "Cache-Control: no-cache\r\n"
    "Date: Wed, 25 Nov 2026 12:00:00 GMT\r\n"
    "\r\n{}";

class Sink final : public ParserSink {
 public:
  MessageHead& on_message_begin() override { return head; }
  int on_headers_complete(MessageHead&) override { return kHeadContinue; }
  int on_body(std::string_view) override { return 0; }
  int on_message_complete() override { return 0; }
  MessageHead head;
};

void BM_ParseRequestHead(benchmark::State& state) {
  Sink sink;
  Parser parser(HTTP_REQUEST, sink);
  size_t consumed = 0;
  for (auto _ : state) {
    parser.execute(kRequest, &consumed);
    benchmark::DoNotOptimize(sink.head.fields.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRequest.size()));
}
BENCHMARK(BM_ParseRequestHead);

void BM_ParseResponseHead(benchmark::State& state) {
  Sink sink;
  Parser parser(HTTP_RESPONSE, sink);
  size_t consumed = 0;
  for (auto _ : state) {
    parser.execute(kResponse, &consumed);
    benchmark::DoNotOptimize(sink.head.fields.data());
  }
}
BENCHMARK(BM_ParseResponseHead);

// The common case: a path that is already normal, which costs one scan and no copy.
void BM_NormalizePathAlreadyNormal(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    benchmark::DoNotOptimize(normalize_path("/api/v1/users/12345/orders", {}, out));
  }
}
BENCHMARK(BM_NormalizePathAlreadyNormal);

void BM_NormalizePathWithDotSegmentsAndEscapes(benchmark::State& state) {
  std::string out;
  for (auto _ : state) {
    normalize_path("/api/v1//users/./%2e%2E/%75sers/12345/caf%c3%a9/../orders", {}, out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_NormalizePathWithDotSegmentsAndEscapes);

void BM_WriteUpstreamRequestHead(benchmark::State& state) {
  Sink sink;
  Parser parser(HTTP_REQUEST, sink);
  size_t consumed = 0;
  parser.execute(kRequest, &consumed);
  std::string out;
  ForwardContext context;
  context.client_address = "192.168.1.20";
  context.proto = "http";
  context.request_id = "0123456789abcdef0123456789abcdef";
  for (auto _ : state) {
    out.clear();
    append_upstream_request_head(out, sink.head, context);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_WriteUpstreamRequestHead);

void BM_WriteDownstreamResponseHead(benchmark::State& state) {
  Sink sink;
  Parser parser(HTTP_RESPONSE, sink);
  size_t consumed = 0;
  parser.execute(kResponse, &consumed);
  std::string out;
  ResponseFraming framing;
  framing.framing = BodyFraming::kContentLength;
  framing.content_length = 2;
  for (auto _ : state) {
    out.clear();
    append_downstream_response_head(out, sink.head, framing);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_WriteDownstreamResponseHead);

}  // namespace
}  // namespace waygate::http
