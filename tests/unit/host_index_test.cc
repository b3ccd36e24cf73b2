// The route table's host index: every name given is found with its value, the first of a name
// given twice wins, and names that are not there are not found, however full the table.
#include "routing/host_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace waygate::routing {
namespace {

// An index of `entries` in `memory`.
HostIndex index_of(const std::vector<HostIndex::Entry>& entries, std::vector<std::byte>& memory,
                   std::span<uint32_t> slot_of = {}) {
  memory.resize(HostIndex::bytes_for(entries));
  return HostIndex(entries, memory, 0, slot_of);
}

TEST(HostIndex, FindsEveryNameGiven) {
  std::vector<std::string> names;
  for (int i = 0; i < 5000; ++i)
    names.push_back("host" + std::to_string(i) + ".example.com");
  std::vector<int> values(names.size());
  std::vector<HostIndex::Entry> entries;
  for (size_t i = 0; i < names.size(); ++i)
    entries.push_back({names[i], &values[i]});
  std::vector<std::byte> memory;
  HostIndex index = index_of(entries, memory);
  for (std::string& name : names)
    name.assign(name.size(), 'x');  // the index keeps copies of the names
  EXPECT_EQ(index.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i)
    ASSERT_EQ(index.find("host" + std::to_string(i) + ".example.com"), &values[i]) << i;
  // Same lengths, one byte apart; prefixes and extensions of names that are there.
  EXPECT_EQ(index.find("host5000.example.com"), nullptr);
  EXPECT_EQ(index.find("host1.example.co"), nullptr);
  EXPECT_EQ(index.find("host1.example.comm"), nullptr);
  EXPECT_EQ(index.find("Host1.example.com"), nullptr);  // the table lower-cases before it asks
  EXPECT_EQ(index.find(""), nullptr);
}

TEST(HostIndex, FirstOfANameAddedTwiceWins) {
  std::string first = "api.example.com";
  std::string again = "api.example.com";
  int seven = 7;
  int nine = 9;
  std::vector<std::byte> memory;
  std::vector<uint32_t> slot_of(2);
  HostIndex index = index_of({{first, &seven}, {again, &nine}}, memory, slot_of);
  EXPECT_EQ(index.find("api.example.com"), &seven);
  EXPECT_EQ(index.size(), 1U);
  EXPECT_NE(slot_of[0], HostIndex::kNotKept);
  EXPECT_EQ(slot_of[1], HostIndex::kNotKept);
}

TEST(HostIndex, KeepsCopiesOfValuesGivenWithTheirSize) {
  std::vector<std::string> names = {"a.example.com", "bb.example.com", "ccc.example.com"};
  std::vector<std::vector<uint64_t>> values = {{1, 2}, {3}, {4, 5}};
  std::vector<HostIndex::Entry> entries;
  for (size_t i = 0; i < names.size(); ++i)
    entries.push_back({names[i], values[i].data(), static_cast<uint32_t>(values[i].size())});
  std::vector<std::byte> memory(HostIndex::bytes_for(entries, sizeof(uint64_t)));
  HostIndex index(entries, memory, sizeof(uint64_t));
  for (std::vector<uint64_t>& value : values)
    std::fill(value.begin(), value.end(), 0);  // the index holds copies
  EXPECT_EQ(*static_cast<const uint64_t*>(index.find("a.example.com")), 1U);
  const auto* bb = static_cast<const uint64_t*>(index.find("bb.example.com"));
  EXPECT_EQ(bb[0], 3U);
  const auto* ccc = static_cast<const uint64_t*>(index.find("ccc.example.com"));
  EXPECT_EQ(ccc[0], 4U);
  EXPECT_EQ(ccc[1], 5U);
}

TEST(HostIndex, EmptyIndexFindsNothing) {
  HostIndex index;
  EXPECT_EQ(index.find("a.example.com"), nullptr);
}

}  // namespace
}  // namespace waygate::routing
