// A part of a config entry that most entries leave at its default (a route's redirect, its
// retries, its header edits): held behind a pointer that is null until the entry sets the part,
// so 100,000 routes pay one pointer each for it, not its whole size and its allocations.
#pragma once

#include <memory>

namespace waygate::routing {

template <typename T>
class SharedOrDefault {
 public:
  const T& operator*() const { return value_ ? *value_ : default_value(); }
  const T* operator->() const { return &**this; }
  // The part to fill in, this entry's own from now on: made from the default on first use, and
  // copied first when a copy of the entry shares it.
  T& edit() {
    if (!value_ || value_.use_count() > 1) value_ = std::make_shared<T>(**this);
    return *value_;
  }
  bool is_default() const { return !value_; }

 private:
  static const T& default_value() {
    static const T value{};
    return value;
  }

  std::shared_ptr<T> value_;
};

}  // namespace waygate::routing
