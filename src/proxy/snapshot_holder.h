// The worker's hold on routing snapshots. A request keeps the snapshot it started with until it
// ends; counting those requests with a shared_ptr would touch one atomic reference count per
// request on every worker. Here each worker counts its own users in a plain integer, and only
// the worker's single shared_ptr per snapshot is shared with the control thread.
#pragma once

#include <cstdint>
#include <list>
#include <memory>

#include "routing/snapshot.h"

namespace waygate::proxy {

class SnapshotHolder {
 public:
  struct Held {
    std::shared_ptr<const routing::Snapshot> snapshot;
    uint32_t users = 0;
  };

  // A reference that a request keeps; move-only, released when it goes out of scope or reset().
  class Ref {
   public:
    Ref() = default;
    Ref(SnapshotHolder* holder, Held* held) : holder_(holder), held_(held) { ++held_->users; }
    Ref(Ref&& other) noexcept : holder_(other.holder_), held_(other.held_) {
      other.held_ = nullptr;
    }
    Ref& operator=(Ref&& other) noexcept {
      if (this != &other) {
        reset();
        holder_ = other.holder_;
        held_ = other.held_;
        other.held_ = nullptr;
      }
      return *this;
    }
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;
    ~Ref() { reset(); }

    void reset() {
      if (held_) holder_->release(held_);
      held_ = nullptr;
    }
    const routing::Snapshot* operator->() const { return held_->snapshot.get(); }
    const routing::Snapshot& operator*() const { return *held_->snapshot; }
    explicit operator bool() const { return held_ != nullptr; }

   private:
    SnapshotHolder* holder_ = nullptr;
    Held* held_ = nullptr;
  };

  explicit SnapshotHolder(std::shared_ptr<const routing::Snapshot> first) {
    replace(std::move(first));
  }

  const routing::Snapshot& current() const { return *held_.front().snapshot; }
  Ref acquire() { return Ref(this, &held_.front()); }

  // The new snapshot serves new requests; the old one stays while requests use it.
  void replace(std::shared_ptr<const routing::Snapshot> snapshot) {
    if (!held_.empty() && held_.front().users == 0) held_.pop_front();
    held_.push_front(Held{std::move(snapshot), 0});
  }

 private:
  void release(Held* held) {
    if (--held->users > 0 || held == &held_.front()) return;
    // An old snapshot's last request ended. The control thread still holds it and frees it.
    held_.remove_if([held](const Held& h) { return &h == held; });
  }

  std::list<Held> held_;  // the current one first
};

}  // namespace waygate::proxy
