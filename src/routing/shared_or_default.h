// A part of a config entry that most entries leave at its default (a route's redirect, its
// retries, its header edits): held behind a pointer that is null until the entry sets the part,
// so 100,000 routes pay one pointer each for it, not its whole size and its allocations.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>

namespace waygate::routing {

template <typename T>
class SharedOrDefault {
 public:
  SharedOrDefault() = default;
  SharedOrDefault(const SharedOrDefault& other) : block_(other.block_) { hold(); }
  SharedOrDefault(SharedOrDefault&& other) noexcept
      : block_(std::exchange(other.block_, nullptr)) {}
  SharedOrDefault& operator=(SharedOrDefault other) noexcept {
    std::swap(block_, other.block_);
    return *this;
  }
  ~SharedOrDefault() { release(); }

  const T& operator*() const { return block_ ? block_->value : default_value(); }
  const T* operator->() const { return &**this; }
  // The part to fill in, this entry's own from now on: made from the default on first use, and
  // copied first when a copy of the entry shares it.
  T& edit() {
    if (!block_ || block_->holders.load(std::memory_order_acquire) > 1) {
      auto* own = new Block(**this);
      release();
      block_ = own;
    }
    return block_->value;
  }
  bool is_default() const { return !block_; }
  // Whether both hold the same block (or both the default), and a hash of which block it is.
  bool shares_with(const SharedOrDefault& other) const { return block_ == other.block_; }
  size_t block_hash() const { return std::hash<const void*>{}(block_); }

 private:
  // One pointer, not a std::shared_ptr's two: a path holds several of these. Copies share the
  // part; the last to let go deletes it, on whichever thread lets go of the config last.
  struct Block {
    explicit Block(const T& from) : value(from) {}
    T value;
    std::atomic<uint32_t> holders{1};
  };

  void hold() {
    if (block_) block_->holders.fetch_add(1, std::memory_order_relaxed);
  }
  void release() {
    if (block_ && block_->holders.fetch_sub(1, std::memory_order_acq_rel) == 1) delete block_;
    block_ = nullptr;
  }
  static const T& default_value() {
    static const T value{};
    return value;
  }

  Block* block_ = nullptr;
};

// Makes equal parts one while a config is read: a part equal to one given before becomes a copy
// of that one, sharing its block. 100,000 paths that answer /health alike then hold one response,
// not 100,000 allocations of it. `Hash` hashes a T, `Equal` compares two.
template <typename T, typename Hash, typename Equal = std::equal_to<T>>
class SharedOrDefaultPool {
 public:
  void share(SharedOrDefault<T>& part) {
    if (part.is_default()) return;
    auto [first, last] = seen_.equal_range(Hash{}(*part));
    for (auto it = first; it != last; ++it) {
      if (Equal{}(*it->second, *part)) {
        part = it->second;
        return;
      }
    }
    seen_.emplace(Hash{}(*part), part);
  }

 private:
  std::unordered_multimap<size_t, SharedOrDefault<T>> seen_;
};

}  // namespace waygate::routing
