#include "routing/host_shards.h"

#include <algorithm>
#include <bit>
#include <unordered_map>

namespace waygate::routing {

std::shared_ptr<const HostShards::Shard> HostShards::make_shard(std::vector<Entry> entries) {
  if (entries.empty()) return nullptr;
  auto shard = std::make_shared<Shard>();
  shard->index.reserve(entries.size());
  shard->entries.reserve(entries.size());
  for (Entry& entry : entries) {
    size_t before = shard->index.size();
    shard->index.insert(entry.name, entry.value, entry.count);
    if (shard->index.size() != before) shard->entries.push_back(std::move(entry));
  }
  return shard;
}

void HostShards::set_shard(size_t at, std::shared_ptr<const Shard> shard) {
  if (shards_[at]) size_ -= shards_[at]->entries.size();
  views_[at] = shard ? shard->index.slots() : std::span<const HostIndex::Slot>();
  if (shard) size_ += shard->entries.size();
  shards_[at] = std::move(shard);
}

HostShards::HostShards(std::vector<Entry> entries)
    : views_(std::min(kMaxShards,
                      std::bit_ceil(std::max<size_t>(1, entries.size() / kEntriesPerShard)))),
      shards_(views_.size()),
      mask_(views_.size() - 1) {
  std::vector<std::vector<Entry>> split(shards_.size());
  for (Entry& entry : entries)
    split[shard_of(HostIndex::hash(entry.name))].push_back(std::move(entry));
  for (size_t i = 0; i < shards_.size(); ++i)
    set_shard(i, make_shard(std::move(split[i])));
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
      for (const Entry& entry : shard->entries) {
        if (!std::binary_search(gone.begin(), gone.end(), entry.name)) entries.push_back(entry);
      }
    }
    for (Entry& entry : added)
      entries.push_back(std::move(entry));
    return HostShards(std::move(entries));
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
  for (Touched& change : touched) {
    const Shard* old = shards_[change.shard].get();
    std::vector<Entry> entries;
    if (old) {
      entries.reserve(old->entries.size() + change.added.size());
      std::sort(change.dropped.begin(), change.dropped.end());
      for (const Entry& entry : old->entries) {
        if (!std::binary_search(change.dropped.begin(), change.dropped.end(), entry.name)) {
          entries.push_back(entry);
        }
      }
    }
    for (Entry& entry : change.added)
      entries.push_back(std::move(entry));
    next.set_shard(change.shard, make_shard(std::move(entries)));
  }
  return next;
}

}  // namespace waygate::routing
