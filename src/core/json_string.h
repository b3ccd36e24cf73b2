// JSON string literals (RFC 8259) from bytes that may be anything: the admin API's JSON and the
// access log's JSON lines. Control bytes and quotes are escaped; bytes that are not well-formed
// UTF-8 become U+FFFD, so the output is always valid JSON in UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace waygate {

// Appends `value` as a JSON string, quotes included. Runs of plain ASCII are copied whole: a
// request's fields cost little more than a copy.
void append_json_string(std::string& out, std::string_view value);

}  // namespace waygate
