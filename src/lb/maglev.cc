#include "lb/maglev.h"

#include <algorithm>
#include <limits>

#include "core/hash.h"
#include "lb/pickable.h"

namespace waygate::lb {
namespace {

constexpr uint32_t kEmpty = std::numeric_limits<uint32_t>::max();
// Two independent hashes of a host's address: where its preference list starts, and its stride.
constexpr uint64_t kOffsetSeed = 0x6d61676c65762d6fULL;
constexpr uint64_t kSkipSeed = 0x6d61676c65762d73ULL;

// A host's walk through the table in its own order (the paper's permutation), and how many slots
// it is owed.
struct Candidate {
  uint32_t host;
  uint64_t order;  // hash of the address: the turn order, the same whatever the hosts' list order
  uint32_t weight;
  uint32_t position;
  uint32_t skip;
  uint64_t credit = 0;
};

}  // namespace

std::shared_ptr<const MaglevTable> build_maglev_table(const routing::HostSet& hosts) {
  constexpr uint32_t kSize = MaglevTable::kSize;
  auto table = std::make_shared<MaglevTable>();
  table->kind = PolicyKind::kMaglev;
  table->host_count = hosts.hosts.size();
  std::vector<Candidate> candidates;
  for (size_t i = 0; i < hosts.hosts.size(); ++i) {
    const routing::Host& host = hosts.hosts[i];
    if (!routing::eligible(hosts, host)) continue;
    candidates.push_back(
        {static_cast<uint32_t>(i), hash64(host.address_text), std::max<uint32_t>(host.weight, 1),
         static_cast<uint32_t>(hash64(host.address_text, kOffsetSeed) % kSize),
         static_cast<uint32_t>(hash64(host.address_text, kSkipSeed) % (kSize - 1) + 1)});
  }
  if (candidates.empty()) return table;
  // Which host takes a contested slot depends on the turn order; fixing it by address keeps the
  // table the same for the same hosts, and a host leaving disturbs only what it must.
  std::sort(candidates.begin(), candidates.end(),
            [](const Candidate& a, const Candidate& b) { return a.order < b.order; });
  uint32_t min_weight = kEmpty;
  for (const Candidate& candidate : candidates)
    min_weight = std::min(min_weight, candidate.weight);

  // Each turn every host earns its weight in credit and takes a slot per min_weight of it: with
  // equal weights one slot each, as in the paper; a host twice as heavy takes two. Slot counts
  // then follow the weights, and a turn never passes without a slot taken.
  table->slots.assign(kSize, kEmpty);
  uint32_t filled = 0;
  while (filled < kSize) {
    for (Candidate& candidate : candidates) {
      candidate.credit += candidate.weight;
      while (candidate.credit >= min_weight && filled < kSize) {
        candidate.credit -= min_weight;
        while (table->slots[candidate.position] != kEmpty) {
          candidate.position += candidate.skip;
          if (candidate.position >= kSize) candidate.position -= kSize;
        }
        table->slots[candidate.position] = candidate.host;
        ++filled;
      }
      if (filled == kSize) break;
    }
  }
  return table;
}

int32_t Maglev::pick(const routing::HostSet& hosts, const PickContext& context) {
  const auto* table = table_for<MaglevTable>(hosts, PolicyKind::kMaglev);
  if (!table || table->slots.empty()) return without_table_.pick(hosts, context);
  uint64_t key = context.has_hash ? context.hash : context.random;
  // A host that is out gives way to the next slots' hosts: the same ones for the same key, and
  // slots of all hosts interleave, so the detour spreads over them.
  int32_t index = first_pickable_from(table->slots, key % MaglevTable::kSize, hosts, context);
  return index >= 0 ? index : without_table_.pick(hosts, context);
}

}  // namespace waygate::lb
