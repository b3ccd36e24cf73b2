// DueHeap, the checker's schedule: whatever order items are scheduled, moved and removed in, the
// top is always the item due first, and removed items never come back.
#include "health/due_heap.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace waygate::health {
namespace {

struct Item {
  size_t heap_index = DueHeap<Item>::kNotQueued;
  uint64_t due = 0;  // what the test expects; the heap keeps its own copy
  bool queued = false;
};

// The earliest due among the queued items, by brute force.
uint64_t earliest(const std::vector<Item>& items) {
  uint64_t best = UINT64_MAX;
  for (const Item& item : items) {
    if (item.queued) best = std::min(best, item.due);
  }
  return best;
}

TEST(DueHeapTest, TopIsAlwaysTheItemDueFirst) {
  std::mt19937 random(7);
  std::vector<Item> items(500);
  DueHeap<Item> heap;
  for (int step = 0; step < 20'000; ++step) {
    Item& item = items[random() % items.size()];
    if (random() % 4 == 0) {
      heap.remove(item);
      item.queued = false;
    } else {
      item.due = random() % 10'000;
      item.queued = true;
      heap.schedule(item, item.due);
    }
    size_t queued =
        std::count_if(items.begin(), items.end(), [](const Item& i) { return i.queued; });
    ASSERT_EQ(heap.size(), queued);
    if (queued == 0) continue;
    ASSERT_EQ(heap.top_due(), earliest(items));
    ASSERT_EQ(heap.top().due, heap.top_due());
    ASSERT_TRUE(heap.top().queued);
  }
}

TEST(DueHeapTest, DrainsInDueOrder) {
  std::mt19937 random(11);
  std::vector<Item> items(1000);
  DueHeap<Item> heap;
  for (Item& item : items) {
    item.due = random() % 100;
    heap.schedule(item, item.due);
  }
  uint64_t last = 0;
  while (!heap.empty()) {
    Item& top = heap.top();
    EXPECT_GE(top.due, last);
    EXPECT_EQ(heap.top_due(), top.due);
    last = top.due;
    heap.remove(top);
    EXPECT_EQ(top.heap_index, DueHeap<Item>::kNotQueued);
  }
}

}  // namespace
}  // namespace waygate::health
