// The checker's one schedule: a min-heap of endpoints by the time they are next due (a check to
// start, or a check's deadline). Each item knows its place, so moving or removing one is O(log n)
// and 10,000 endpoints need one uv_timer, armed for the earliest. Every check moves its endpoint
// twice (to its deadline, then to its next check), so the heap is 4-ary with the due times kept
// in the array: a level's four children share a cache line and the walk is half as deep.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace waygate::health {

// T has `size_t heap_index`, which the heap alone writes (kNotQueued when the item is not in it).
template <typename T>
class DueHeap {
 public:
  static constexpr size_t kNotQueued = SIZE_MAX;

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // The item due first, and when; only when not empty().
  T& top() const { return *entries_.front().item; }
  uint64_t top_due() const { return entries_.front().due; }

  // Puts the item in with this due time, or moves it there when it is in already.
  void schedule(T& item, uint64_t due) {
    size_t index = item.heap_index;
    if (index == kNotQueued) {
      entries_.push_back({due, &item});
      sift_up(entries_.size() - 1);
      return;
    }
    bool earlier = due < entries_[index].due;
    entries_[index].due = due;
    if (earlier) {
      sift_up(index);
    } else {
      sift_down(index);
    }
  }

  void remove(T& item) {
    size_t index = item.heap_index;
    if (index == kNotQueued) return;
    item.heap_index = kNotQueued;
    Entry last = entries_.back();
    entries_.pop_back();
    if (last.item == &item) return;
    entries_[index] = last;
    sift_up(index);
    sift_down(last.item->heap_index);
  }

 private:
  static constexpr size_t kArity = 4;

  struct Entry {
    uint64_t due;
    T* item;
  };

  void place(size_t index, const Entry& entry) {
    entries_[index] = entry;
    entry.item->heap_index = index;
  }

  void sift_up(size_t index) {
    Entry entry = entries_[index];
    while (index > 0) {
      size_t parent = (index - 1) / kArity;
      if (entries_[parent].due <= entry.due) break;
      place(index, entries_[parent]);
      index = parent;
    }
    place(index, entry);
  }

  void sift_down(size_t index) {
    Entry entry = entries_[index];
    size_t count = entries_.size();
    for (;;) {
      size_t first = kArity * index + 1;
      if (first >= count) break;
      size_t least = first;
      for (size_t child = first + 1; child < first + kArity && child < count; ++child) {
        if (entries_[child].due < entries_[least].due) least = child;
      }
      if (entry.due <= entries_[least].due) break;
      place(index, entries_[least]);
      index = least;
    }
    place(index, entry);
  }

  std::vector<Entry> entries_;
};

}  // namespace waygate::health
