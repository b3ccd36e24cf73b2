// One call to etcd's v3 JSON gateway that waits for its answer: for the admin API's edits of route
// entries, which answer only once etcd has taken (or refused) the write. The call runs a loop of
// its own on the calling thread, bounded by a timeout per endpoint; the workers serve meanwhile.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace waygate::discovery {

// POSTs `body` to `path` ("/v3/kv/txn") on each endpoint in turn until one answers. Returns the
// answer's JSON, or nullopt with *error saying why ("127.0.0.1:2379: connect refused", or etcd's
// own message for a call it refused).
std::optional<nlohmann::json> call_etcd(const std::vector<std::string>& endpoints,
                                        std::string_view path, const nlohmann::json& body,
                                        uint64_t timeout_ms, std::string* error);

// A revision field of an answer (int64 as a JSON string, proto3's mapping); 0 when absent.
uint64_t etcd_revision(const nlohmann::json* object, const char* name);

}  // namespace waygate::discovery
