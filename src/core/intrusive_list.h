// A doubly linked list threaded through its elements, for the worker's sessions and a pool's
// connections: no node allocation per element, and removal in constant time from the element
// itself. The list owns what it holds (elements are given and taken back as unique_ptr).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace waygate {

template <typename T>
struct ListLink {
  T* previous = nullptr;
  T* next = nullptr;
};

// `kLink` names the ListLink member of T that this list threads through.
template <typename T, ListLink<T> T::*kLink>
class IntrusiveList {
 public:
  IntrusiveList() = default;
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;
  ~IntrusiveList() {
    while (head_)
      take(*head_);
  }

  T& push_front(std::unique_ptr<T> owned) {
    T* element = owned.release();
    (element->*kLink).next = head_;
    if (head_) (head_->*kLink).previous = element;
    head_ = element;
    ++size_;
    return *element;
  }

  // Unlinks the element and hands it back (destroying the result frees it).
  std::unique_ptr<T> take(T& element) {
    ListLink<T>& link = element.*kLink;
    // clang-analyzer 14, following the destructor's loop, takes the element just freed for the
    // next head, as if push_front could link an element to itself.
    // NOLINTNEXTLINE(clang-analyzer-cplusplus.NewDelete)
    if (link.previous) {
      (link.previous->*kLink).next = link.next;
    } else {
      head_ = link.next;
    }
    if (link.next) (link.next->*kLink).previous = link.previous;
    link = ListLink<T>{};
    --size_;
    return std::unique_ptr<T>(&element);
  }

  // The elements, newest first, as plain pointers: safe to walk while the calls it leads to
  // remove elements.
  std::vector<T*> snapshot() const {
    std::vector<T*> elements;
    elements.reserve(size_);
    for (T* element = head_; element; element = (element->*kLink).next)
      elements.push_back(element);
    return elements;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  T* head_ = nullptr;
  size_t size_ = 0;
};

}  // namespace waygate
