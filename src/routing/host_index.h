// Host names to virtual-host numbers, for the route table: an open-addressed table of 16-byte
// slots built once, so a lookup among a million names costs one probe of one cache line and one
// comparison with the name, where a node-based map chases a pointer per step.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace waygate::routing {

class HostIndex {
 public:
  // Room for `count` names without growing (a table of many hosts is sized once).
  void reserve(size_t count);
  // Adds `name` (viewed, not copied: it must outlive the index) unless it is there already: the
  // first one added wins. Names are at most 65,535 bytes (host names are at most 253).
  void insert(std::string_view name, uint32_t value);
  // The value of `name`, or -1.
  int64_t find(std::string_view name) const { return find(name, hash(name)); }
  // The same with the name's hash(), for a caller that has it already.
  int64_t find(std::string_view name, uint64_t hash) const;
  size_t size() const { return size_; }
  static uint64_t hash(std::string_view name) { return std::hash<std::string_view>{}(name); }

 private:
  struct Slot {
    const char* name = nullptr;  // null: empty
    uint16_t length = 0;
    uint16_t tag = 0;  // hash bits the slot's position does not use: most misses end here
    uint32_t value = 0;
  };
  void grow();

  std::vector<Slot> slots_;  // a power of two, at most half full
  size_t size_ = 0;
};

}  // namespace waygate::routing
