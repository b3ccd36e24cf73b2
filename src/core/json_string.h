// JSON string literals (RFC 8259) from bytes that may be anything: the admin API's JSON and the
// access log's JSON lines. Control bytes and quotes are escaped; bytes that are not well-formed
// UTF-8 become U+FFFD, so the output is always valid JSON in UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace waygate {

// The most bytes write_json_string may write for `value`: every byte escaped as \u00XX, and the
// quotes.
constexpr size_t json_string_bound(std::string_view value) {
  return 6 * value.size() + 2;
}

// Writes `value` as a JSON string, quotes included, at `out`, which has room for
// json_string_bound(value) bytes; returns the end of what it wrote. Runs of plain ASCII are copied
// whole: a request's fields cost little more than a copy.
char* write_json_string(char* out, std::string_view value);

// The same, appended to a string.
void append_json_string(std::string& out, std::string_view value);

}  // namespace waygate
