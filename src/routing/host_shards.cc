#include "routing/host_shards.h"

#include <algorithm>
#include <bit>
#include <unordered_map>

#include "routing/table_memory.h"

namespace waygate::routing {

std::vector<std::shared_ptr<const HostShards::Shard>> HostShards::make_shards(
    std::span<const std::vector<Entry>> split, size_t value_bytes) {
  std::vector<HostIndex::Entry> keys;
  auto keys_of = [&keys](const std::vector<Entry>& entries) {
    keys.clear();
    for (const Entry& entry : entries)
      keys.push_back({entry.name, entry.value, entry.count});
    return std::span<const HostIndex::Entry>(keys);
  };
  std::vector<size_t> offsets;
  offsets.reserve(split.size() + 1);
  offsets.push_back(0);
  for (const std::vector<Entry>& entries : split)
    offsets.push_back(offsets.back() + HostIndex::bytes_for(keys_of(entries), value_bytes));
  std::shared_ptr<std::byte[]> memory = table_memory(offsets.back());
  std::vector<std::shared_ptr<const Shard>> shards(split.size());
  std::vector<uint32_t> slot_of;
  for (size_t i = 0; i < split.size(); ++i) {
    const std::vector<Entry>& entries = split[i];
    if (entries.empty()) continue;
    auto shard = std::make_shared<Shard>();
    slot_of.assign(entries.size(), HostIndex::kNotKept);
    shard->index = HostIndex(keys_of(entries),
                             std::span(memory.get() + offsets[i], offsets[i + 1] - offsets[i]),
                             value_bytes, slot_of);
    shard->memory = memory;
    // Most shards hold the names of one group (the config file's): they need no owner per slot.
    std::vector<std::shared_ptr<const void>>& owners = shard->owners;
    auto owner_at = [&owners](const std::shared_ptr<const void>& owner) {
      auto known = std::find(owners.rbegin(), owners.rend(), owner);
      if (known != owners.rend()) return static_cast<uint32_t>(owners.rend() - known - 1);
      owners.push_back(owner);
      return static_cast<uint32_t>(owners.size() - 1);
    };
    for (size_t j = 0; j < entries.size(); ++j) {
      if (slot_of[j] != HostIndex::kNotKept) owner_at(entries[j].owner);
    }
    if (owners.size() > 1) {
      shard->owner_of.resize(shard->index.slots().size());
      for (size_t j = 0; j < entries.size(); ++j) {
        if (slot_of[j] != HostIndex::kNotKept)
          shard->owner_of[slot_of[j]] = owner_at(entries[j].owner);
      }
    }
    shards[i] = std::move(shard);
  }
  return shards;
}

std::vector<HostShards::Entry> HostShards::entries_of(const Shard& shard) {
  std::vector<Entry> entries;
  entries.reserve(shard.index.size());
  std::span<const HostIndex::Slot> slots = shard.index.slots();
  for (size_t at = 0; at < slots.size(); ++at) {
    const HostIndex::Slot& slot = slots[at];
    if (!slot.name) continue;
    entries.push_back(Entry{std::string_view(slot.name, slot.length), slot.value, slot.count,
                            shard.owners[shard.owner_of.empty() ? 0 : shard.owner_of[at]]});
  }
  return entries;
}

void HostShards::set_shard(size_t at, std::shared_ptr<const Shard> shard) {
  if (shards_[at]) size_ -= shards_[at]->index.size();
  views_[at] = shard ? shard->index.slots() : std::span<const HostIndex::Slot>();
  if (shard) size_ += shard->index.size();
  shards_[at] = std::move(shard);
}

HostShards::HostShards(std::vector<Entry> entries, size_t value_bytes)
    : views_(std::min(kMaxShards,
                      std::bit_ceil(std::max<size_t>(1, entries.size() / kEntriesPerShard)))),
      shards_(views_.size()),
      mask_(views_.size() - 1),
      value_bytes_(value_bytes) {
  std::vector<std::vector<Entry>> split(shards_.size());
  for (Entry& entry : entries)
    split[shard_of(HostIndex::hash(entry.name))].push_back(std::move(entry));
  std::vector<std::shared_ptr<const Shard>> shards = make_shards(split, value_bytes_);
  for (size_t i = 0; i < shards.size(); ++i)
    set_shard(i, std::move(shards[i]));
}

HostShards HostShards::patched(std::span<const std::string_view> dropped,
                               std::vector<Entry> added) const {
  if (size_ + added.size() > 2 * kEntriesPerShard * shards_.size() && shards_.size() < kMaxShards) {
    std::vector<std::string_view> gone(dropped.begin(), dropped.end());
    std::sort(gone.begin(), gone.end());
    std::vector<Entry> entries;
    entries.reserve(size_ + added.size());
    for (const std::shared_ptr<const Shard>& shard : shards_) {
      if (!shard) continue;
      for (Entry& entry : entries_of(*shard)) {
        if (!std::binary_search(gone.begin(), gone.end(), entry.name)) {
          entries.push_back(std::move(entry));
        }
      }
    }
    for (Entry& entry : added)
      entries.push_back(std::move(entry));
    return HostShards(std::move(entries), value_bytes_);
  }
  HostShards next = *this;
  // The shards touched, each with the names it loses and gains.
  struct Touched {
    size_t shard;
    std::vector<std::string_view> dropped;
    std::vector<Entry> added;
  };
  std::vector<Touched> touched;
  std::unordered_map<size_t, size_t> touched_at;  // shard -> its place in `touched`
  auto touch = [&](std::string_view name) -> Touched& {
    size_t shard = shard_of(HostIndex::hash(name));
    auto [at, added_now] = touched_at.try_emplace(shard, touched.size());
    if (added_now) touched.push_back(Touched{shard, {}, {}});
    return touched[at->second];
  };
  for (std::string_view name : dropped)
    touch(name).dropped.push_back(name);
  for (Entry& entry : added)
    touch(entry.name).added.push_back(std::move(entry));
  std::vector<std::vector<Entry>> split(touched.size());
  for (size_t i = 0; i < touched.size(); ++i) {
    Touched& change = touched[i];
    std::vector<Entry>& entries = split[i];
    if (const Shard* old = shards_[change.shard].get()) {
      std::sort(change.dropped.begin(), change.dropped.end());
      for (Entry& entry : entries_of(*old)) {
        if (!std::binary_search(change.dropped.begin(), change.dropped.end(), entry.name)) {
          entries.push_back(std::move(entry));
        }
      }
    }
    for (Entry& entry : change.added)
      entries.push_back(std::move(entry));
  }
  std::vector<std::shared_ptr<const Shard>> shards = make_shards(split, value_bytes_);
  for (size_t i = 0; i < touched.size(); ++i)
    next.set_shard(touched[i].shard, std::move(shards[i]));
  return next;
}

}  // namespace waygate::routing
