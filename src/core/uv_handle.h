// Sole ownership of one libuv handle that nothing else embeds (a listener, a timer, a signal): the
// handle lives on the heap, and destroying the owner closes it; the close callback frees it. For
// handles that requests (writes, connects) may still point into, see HandleOwner instead.
#pragma once

#include <uv.h>

#include <memory>

namespace waygate {

template <typename T>
class UvHandle {
 public:
  UvHandle() = default;
  ~UvHandle() { reset(); }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  UvHandle(UvHandle&& other) noexcept : handle_(other.handle_) { other.handle_ = nullptr; }
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      reset();
      handle_ = other.handle_;
      other.handle_ = nullptr;
    }
    return *this;
  }

  // Allocates and initialises the handle with `init` (uv_timer_init, uv_async_init, ...), which is
  // called as init(loop, handle, args...). `data` is stored in handle->data for the callbacks.
  // Returns init's result; on failure nothing is owned.
  template <typename Init, typename... Args>
  int init(Init init_fn, uv_loop_t* loop, void* data, Args... args) {
    reset();
    auto handle = std::make_unique<T>();
    int rc = init_fn(loop, handle.get(), args...);
    if (rc != 0) return rc;
    handle_ = handle.release();
    handle_->data = data;
    return 0;
  }

  // Closes the handle (no callback but the close follows) and lets the close callback free it.
  void reset() {
    if (!handle_) return;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_), &UvHandle::free_handle);
    handle_ = nullptr;
  }

  T* get() const { return handle_; }
  uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(handle_); }
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(handle_); }
  explicit operator bool() const { return handle_ != nullptr; }

 private:
  static void free_handle(uv_handle_t* handle) {
    std::unique_ptr<T> owned(reinterpret_cast<T*>(handle));
  }

  T* handle_ = nullptr;
};

}  // namespace waygate
