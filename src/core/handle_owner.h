// An object that embeds libuv handles and must outlive them. libuv frees nothing itself: a handle's
// memory must stay valid until its close callback has run, and the owner may be freed only then.
// close_handles() closes them all and on_handles_closed() runs once, after the last callback.
#pragma once

#include <uv.h>

#include <cstdint>
#include <initializer_list>

namespace waygate {

class HandleOwner {
 public:
  HandleOwner(const HandleOwner&) = delete;
  HandleOwner& operator=(const HandleOwner&) = delete;

 protected:
  HandleOwner() = default;
  ~HandleOwner() = default;

  // Closes every handle given (each initialised, none closed yet). Callbacks of requests still
  // pending on them (writes, connects, shutdowns) run with UV_ECANCELED before the close
  // callbacks, so the owner is still alive for them. Idempotent: a second call does nothing.
  void close_handles(std::initializer_list<uv_handle_t*> handles);
  bool handles_closing() const { return closing_; }

  // The last close callback ran: the owner may free itself now (and usually does).
  virtual void on_handles_closed() = 0;

 private:
  static void on_close(uv_handle_t* handle);

  uint8_t open_ = 0;
  bool closing_ = false;
};

}  // namespace waygate
