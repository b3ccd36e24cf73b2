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
    uint32_t count = 0;  // HostIndex::Slot::count
    std::shared_ptr<const void> owner;
  };

  HostShards() : views_(1), shards_(1) {}
  // An index of `entries`; of two with one name, the first wins. With `value_bytes`, the values
  // are copied beside the names (HostIndex), so that the slot, the name and the value of a lookup
  // sit on one page.
  explicit HostShards(std::vector<Entry> entries, size_t value_bytes = 0);
  // This index without the names `dropped` and with `added` (a name that is there already keeps
  // its value). Costs the shards these names fall in, and a copy of the shard pointers; once the
  // shards have grown to twice their size, the whole index is built again (amortised: it takes
  // as many names added since the last time).
  HostShards patched(std::span<const std::string_view> dropped, std::vector<Entry> added) const;

  // The slot of `name` (its value and count), or null. Reads the shard's slots straight from
  // views_: a lookup costs the cache misses of one HostIndex, not a walk through the shard's
  // objects too.
  const HostIndex::Slot* find(std::string_view name) const {
    uint64_t hash = HostIndex::hash(name);
    return HostIndex::find(views_[shard_of(hash)], name, hash);
  }
  size_t size() const { return size_; }

 private:
  // The index holds copies of the names; the owners keep the values alive. The index's block is
  // shared by the shards built together, so that a table built whole sits on a few huge pages;
  // the price: a shard a change rebuilds leaves its old place in the block taken until the block's
  // last shard goes (at most the index's size again, until the next whole build).
  struct Shard {
    HostIndex index;
    std::shared_ptr<std::byte[]> memory;
    std::vector<std::shared_ptr<const void>> owners;  // each once
    std::vector<uint32_t> owner_of;  // per slot of the index, its owner's place; empty: one owner
  };
  // Small shards: a change to a name rebuilds a few dozen. Not fewer: the shards' views are read
  // by every lookup, and with 32 names a shard instead of 64 they no longer stayed in cache beside
  // the rest of a lookup among 1M hosts (route_bench BM_LookupSpreadHosts/1000000: 102 -> 85 ns).
  // At most 65,536 shards, taking the hash bits above those HostIndex places a name by and below
  // its tag.
  static constexpr size_t kEntriesPerShard = 64;
  static constexpr size_t kMaxShards = size_t{1} << 16;
  size_t shard_of(uint64_t hash) const { return (hash >> 32) & mask_; }
  // The shards of `split` (entries by shard, of two with one name the first winning), their
  // indexes in one block of table_memory.
  static std::vector<std::shared_ptr<const Shard>> make_shards(
      std::span<const std::vector<Entry>> split, size_t value_bytes);
  // The entries of a shard, their names viewing its index.
  static std::vector<Entry> entries_of(const Shard& shard);
  void set_shard(size_t at, std::shared_ptr<const Shard> shard);

  std::vector<std::span<const HostIndex::Slot>> views_;  // each shard's slots; empty: no names
  std::vector<std::shared_ptr<const Shard>> shards_;     // as many, a power of two; null: none
  size_t mask_ = 0;                                      // their number less one
  size_t size_ = 0;
  size_t value_bytes_ = 0;
};

}  // namespace waygate::routing
