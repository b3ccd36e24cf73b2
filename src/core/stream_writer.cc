#include "core/stream_writer.h"

namespace waygate {

int StreamWriter::write(std::string_view bytes) {
  uv_buf_t buf = uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()));
  return write(std::span<const uv_buf_t>(&buf, 1));
}

int StreamWriter::write(std::span<const uv_buf_t> bufs) {
  if (error_ != 0 || bufs.empty()) return error_;
  size_t skip = 0;
  if (idle()) {
    int written = uv_try_write(stream_, bufs.data(), static_cast<unsigned>(bufs.size()));
    if (written < 0 && written != UV_EAGAIN) {
      error_ = written;
      return error_;
    }
    skip = written > 0 ? static_cast<size_t>(written) : 0;
  }
  size_t total = 0;
  for (const uv_buf_t& buf : bufs)
    total += buf.len;
  if (skip == total) return 0;

  if (!queue_) {
    queue_ = std::make_unique<Queue>();
    queue_->writer = this;
  }
  std::string& target = queue_->in_flight.empty() ? queue_->in_flight : queue_->waiting;
  for (const uv_buf_t& buf : bufs) {
    if (skip >= buf.len) {
      skip -= buf.len;
      continue;
    }
    target.append(buf.base + skip, buf.len - skip);
    skip = 0;
  }
  if (&target == &queue_->in_flight) submit();
  return error_;
}

void StreamWriter::submit() {
  uv_buf_t buf =
      uv_buf_init(queue_->in_flight.data(), static_cast<unsigned>(queue_->in_flight.size()));
  queue_->request.data = queue_.get();
  int rc = uv_write(&queue_->request, stream_, &buf, 1, &StreamWriter::on_write);
  if (rc < 0) {
    error_ = rc;
    queue_->in_flight.clear();
    queue_->waiting.clear();
  }
}

void StreamWriter::on_write(uv_write_t* request, int status) {
  auto* queue = static_cast<Queue*>(request->data);
  StreamWriter* self = queue->writer;
  queue->in_flight.clear();
  if (status < 0) {
    self->error_ = status;
    queue->waiting.clear();
    self->on_drained_(self->owner_, status);
    return;
  }
  if (!queue->waiting.empty()) {
    queue->in_flight.swap(queue->waiting);
    self->submit();
    if (self->error_ != 0) self->on_drained_(self->owner_, self->error_);
    return;
  }
  // Drained: give the memory back so an idle connection holds no buffers.
  self->queue_.reset();
  self->on_drained_(self->owner_, 0);
}

}  // namespace waygate
