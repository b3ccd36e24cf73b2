// Stable small ids for named things (clusters by name, endpoints by address), kept while anything
// refers to the name and reused afterwards, so that arrays indexed by id stay dense. Each reuse
// bumps the id's generation. Control thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace waygate::routing {

class IdRegistry {
 public:
  struct Id {
    uint32_t id;
    uint32_t generation;
  };

  // The id for `key`, taking one more reference (a new id when the key had none).
  Id acquire(const std::string& key) {
    auto it = by_key_.find(key);
    if (it != by_key_.end()) {
      ++slots_[it->second].references;
      return {it->second, slots_[it->second].generation};
    }
    uint32_t id;
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
    } else {
      id = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    Slot& slot = slots_[id];
    ++slot.generation;
    slot.references = 1;
    slot.key = key;
    by_key_.emplace(key, id);
    return {id, slot.generation};
  }

  // Drops one reference; returns true when that was the last and the id is free again.
  bool release(uint32_t id) {
    Slot& slot = slots_[id];
    if (--slot.references > 0) return false;
    by_key_.erase(slot.key);
    slot.key.clear();
    free_.push_back(id);
    return true;
  }

  // The id held for `key`, if any, without taking a reference.
  std::optional<Id> find(const std::string& key) const {
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return std::nullopt;
    return Id{it->second, slots_[it->second].generation};
  }

  // One past the largest id ever given: the size of an array indexed by id.
  uint32_t capacity() const { return static_cast<uint32_t>(slots_.size()); }

 private:
  struct Slot {
    std::string key;
    uint32_t references = 0;
    uint32_t generation = 0;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  std::unordered_map<std::string, uint32_t> by_key_;
};

}  // namespace waygate::routing
