#include "core/handle_owner.h"

namespace waygate {

void HandleOwner::close_handles(std::initializer_list<uv_handle_t*> handles) {
  if (closing_) return;
  closing_ = true;
  open_ = static_cast<uint8_t>(handles.size());
  for (uv_handle_t* handle : handles) {
    // After uv_close nothing but the close callback reads handle->data, so it can name the owner
    // whatever it named before (the owner's callbacks cast it to their own types).
    handle->data = this;
    uv_close(handle, &HandleOwner::on_close);
  }
}

void HandleOwner::on_close(uv_handle_t* handle) {
  auto* owner = static_cast<HandleOwner*>(handle->data);
  if (--owner->open_ == 0) owner->on_handles_closed();
}

}  // namespace waygate
