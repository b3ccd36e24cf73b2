// The HTTP/2 connection's streams by id: every stream inserted is found until it is taken, and
// never after, whatever the order of inserts and removals, the growth, or ids spaced to collide.
#include "proxy/http2_stream_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <vector>

namespace waygate::proxy {
namespace {

struct Stream {
  explicit Stream(int32_t stream_id) : id(stream_id) {}
  int32_t id;
};

using Table = Http2StreamTable<Stream>;

// Checks the table against `expected`: each id there is found with its own stream, each of
// `absent` is not, and for_each visits exactly the expected ones.
void expect_same(const Table& table, const std::map<int32_t, Stream*>& expected,
                 const std::vector<int32_t>& absent) {
  ASSERT_EQ(table.size(), expected.size());
  for (const auto& [id, stream] : expected) {
    ASSERT_EQ(table.find(id), stream) << "id " << id;
  }
  for (int32_t id : absent) {
    if (!expected.contains(id)) {
      ASSERT_EQ(table.find(id), nullptr) << "id " << id;
    }
  }
  std::map<int32_t, Stream*> visited;
  table.for_each([&visited](Stream& stream) { visited.emplace(stream.id, &stream); });
  ASSERT_EQ(visited, expected);
}

TEST(Http2StreamTable, FindsNothingWhenEmpty) {
  Table table;
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.find(1), nullptr);
  EXPECT_EQ(table.take(1), nullptr);
}

TEST(Http2StreamTable, TakeHandsBackTheStreamAndForgetsIt) {
  Table table;
  Stream& stream = table.insert(7, std::make_unique<Stream>(7));
  EXPECT_EQ(table.find(7), &stream);
  std::unique_ptr<Stream> taken = table.take(7);
  EXPECT_EQ(taken.get(), &stream);
  EXPECT_EQ(table.find(7), nullptr);
  EXPECT_EQ(table.take(7), nullptr);
  EXPECT_TRUE(table.empty());
}

// Frames of the connection itself have stream id 0, which empty slots hold too.
TEST(Http2StreamTable, IdZeroIsNeverFoundNorTaken) {
  Table table;
  table.insert(1, std::make_unique<Stream>(1));
  EXPECT_EQ(table.find(0), nullptr);
  EXPECT_EQ(table.take(0), nullptr);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_NE(table.find(1), nullptr);
}

// As a client opens them: odd increasing ids, a window of them alive, finishing in any order.
TEST(Http2StreamTable, KeepsAWindowOfIncreasingIdsFinishingInAnyOrder) {
  Table table;
  std::map<int32_t, Stream*> expected;
  std::vector<int32_t> seen;
  std::mt19937 random(12345);
  int32_t next_id = 1;
  for (int round = 0; round < 20000; ++round) {
    bool open = expected.size() < 100 && (expected.empty() || random() % 2 == 0);
    if (open) {
      Stream& stream = table.insert(next_id, std::make_unique<Stream>(next_id));
      expected.emplace(next_id, &stream);
      seen.push_back(next_id);
      next_id += 2;
    } else {
      auto it = expected.begin();
      std::advance(it, static_cast<long>(random() % expected.size()));
      ASSERT_EQ(table.take(it->first).get(), it->second);
      expected.erase(it);
    }
    if (round % 97 == 0) {
      expect_same(table, expected, {seen.end() - std::min<size_t>(seen.size(), 300), seen.end()});
    }
  }
  expect_same(table, expected, seen);
}

// Odd ids from `from` on whose probes start at `slot` of `capacity` slots, `count` of them.
std::vector<int32_t> ids_homed_at(size_t slot, size_t capacity, size_t count, int32_t from = 1) {
  std::vector<int32_t> ids;
  for (int32_t id = from; ids.size() < count; id += 2) {
    if (Table::home_slot(id, capacity) == slot) ids.push_back(id);
  }
  return ids;
}

// Ids that share the last slot as their home: each probe passes the others and wraps around to
// slot 0, where more ids have their homes; a removal must keep every one after it reachable.
// (A slot's home among more slots is a slot's among fewer too: the top bits of the same hash.)
TEST(Http2StreamTable, FindsIdsThatCollideAndWrapAfterRemovalsInEveryOrder) {
  constexpr size_t kCapacity = 128;  // what the table grows to for the ids below
  std::vector<int32_t> ids = ids_homed_at(kCapacity - 1, kCapacity, 30);
  for (size_t slot = 0; slot < 3; ++slot) {
    for (int32_t id : ids_homed_at(slot, kCapacity, 8))
      ids.push_back(id);
  }
  std::mt19937 random(777);
  for (int order = 0; order < 50; ++order) {
    Table table;
    std::map<int32_t, Stream*> expected;
    std::vector<int32_t> inserting = ids;
    std::shuffle(inserting.begin(), inserting.end(), random);
    for (int32_t id : inserting)
      expected.emplace(id, &table.insert(id, std::make_unique<Stream>(id)));
    ASSERT_EQ(table.capacity(), kCapacity);
    expect_same(table, expected, ids);
    std::vector<int32_t> removing = ids;
    std::shuffle(removing.begin(), removing.end(), random);
    for (int32_t id : removing) {
      ASSERT_EQ(table.take(id).get(), expected.at(id));
      expected.erase(id);
      expect_same(table, expected, ids);
    }
  }
}

TEST(Http2StreamTable, GrowsPastItsFirstSizeAndKeepsEveryStream) {
  Table table;
  std::map<int32_t, Stream*> expected;
  std::vector<int32_t> ids;
  for (int32_t id = 1; id < 2 * 5000; id += 2) {
    expected.emplace(id, &table.insert(id, std::make_unique<Stream>(id)));
    ids.push_back(id);
  }
  expect_same(table, expected, ids);
}

TEST(Http2StreamTable, ClearFreesEveryStream) {
  auto alive = std::make_shared<int>(0);
  struct Counted {
    explicit Counted(std::shared_ptr<int> alive_count) : count(std::move(alive_count)) { ++*count; }
    ~Counted() { --*count; }
    std::shared_ptr<int> count;
  };
  Http2StreamTable<Counted> table;
  for (int32_t id = 1; id < 100; id += 2)
    table.insert(id, std::make_unique<Counted>(alive));
  EXPECT_EQ(*alive, 50);
  table.take(11);
  EXPECT_EQ(*alive, 49);
  table.clear();
  EXPECT_EQ(*alive, 0);
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.find(13), nullptr);
}

}  // namespace
}  // namespace waygate::proxy
