// Reading one cookie from a request's Cookie header(s) (RFC 6265 5.4: "name=value; name2=value2"),
// for hash-based balancing on a cookie and for sticky sessions.
#pragma once

#include <optional>
#include <string_view>

#include "http/message_head.h"

namespace waygate::http {

// The value of the first cookie with this name (case-sensitive, as RFC 6265 compares names).
std::optional<std::string_view> find_cookie(const MessageHead& request, std::string_view name);

}  // namespace waygate::http
