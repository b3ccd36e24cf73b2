// Reading the JSON answers of etcd and the Kubernetes API, where any member may be missing or of
// another type than documented: a lookup that gives null instead of throwing.
#pragma once

#include <nlohmann/json.hpp>

namespace waygate::discovery {

// The member `name` of `object`, or null when `object` is not an object or has no such member.
inline const nlohmann::json* json_member(const nlohmann::json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

}  // namespace waygate::discovery
