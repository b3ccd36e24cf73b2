// Host names to virtual hosts for a route table that changes one route entry at a time. The names
// are spread by hash over shards of a few dozen, each an immutable HostIndex that tables alike in
// it share: a change copies the shard pointers and rebuilds the shards its names fall in, never
// the whole index, and a worker still reads one immutable object without a lock.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "routing/host_index.h"

namespace waygate::routing {

class HostShards {
 public:
  // A name and what it leads to; `owner` keeps both alive (the compiled routes they point into).
  struct Entry {
    std::string_view name;
    const void* value = nullptr;
    std::shared_ptr<const void> owner;
  };

  HostShards() : shards_(1) {}
  // An index of `entries`; of two with one name, the first wins.
  explicit HostShards(std::vector<Entry> entries);
  // This index without the names `dropped` and with `added` (a name that is there already keeps
  // its value). Costs the shards these names fall in, and a copy of the shard pointers; once the
  // shards have grown to twice their size, the whole index is built again (amortised: it takes
  // as many names added since the last time).
  HostShards patched(std::span<const std::string_view> dropped, std::vector<Entry> added) const;

  // The value of `name`, or null.
  const void* find(std::string_view name) const {
    uint64_t hash = HostIndex::hash(name);
    const Shard* shard = shards_[shard_of(hash)].get();
    if (!shard) return nullptr;
    int64_t found = shard->index.find(name, hash);
    return found < 0 ? nullptr : shard->entries[static_cast<size_t>(found)].value;
  }
  size_t size() const { return size_; }

 private:
  // The index's values are positions in `entries`, whose names it views.
  struct Shard {
    HostIndex index;
    std::vector<Entry> entries;
  };
  // Small shards: a change to a name rebuilds a few dozen. At most 65,536 of them, taking the hash
  // bits above those HostIndex places a name by and below its tag.
  static constexpr size_t kEntriesPerShard = 32;
  static constexpr size_t kMaxShards = size_t{1} << 16;
  size_t shard_of(uint64_t hash) const { return (hash >> 32) & (shards_.size() - 1); }
  static std::shared_ptr<const Shard> make_shard(std::vector<Entry> entries);

  std::vector<std::shared_ptr<const Shard>> shards_;  // a power of two; null: no names there
  size_t size_ = 0;
};

}  // namespace waygate::routing
