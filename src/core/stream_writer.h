// Writes to a libuv stream without copying in the common case: uv_try_write first, and only the
// bytes the kernel did not take are copied and queued. The owner reads pending_bytes() to apply
// backpressure (stop reading the peer) and is called back when the queue has drained.
#pragma once

#include <uv.h>

#include <memory>
#include <span>
#include <string>

namespace waygate {

class StreamWriter {
 public:
  // Called when queued bytes have all been written (status 0) or the stream failed (status < 0).
  using DrainedFn = void (*)(void* owner, int status);

  StreamWriter(DrainedFn on_drained, void* owner) : on_drained_(on_drained), owner_(owner) {}
  StreamWriter(const StreamWriter&) = delete;
  StreamWriter& operator=(const StreamWriter&) = delete;

  void attach(uv_stream_t* stream) { stream_ = stream; }

  // Takes the bytes (copying only what cannot be written now). Returns a negative libuv error once
  // the stream has failed, else 0.
  int write(std::span<const uv_buf_t> bufs);
  int write(std::string_view bytes);

  size_t pending_bytes() const {
    return queue_ ? queue_->in_flight.size() + queue_->waiting.size() : 0;
  }
  bool idle() const { return pending_bytes() == 0; }
  int error() const { return error_; }

 private:
  // Exists only while bytes are queued, so an idle connection carries no write request or buffer.
  struct Queue {
    uv_write_t request;
    std::string in_flight;  // handed to uv_write; must not move until its callback
    std::string waiting;    // taken while a write was in flight
    StreamWriter* writer;
  };

  void submit();
  static void on_write(uv_write_t* request, int status);

  uv_stream_t* stream_ = nullptr;
  DrainedFn on_drained_;
  void* owner_;
  std::unique_ptr<Queue> queue_;
  int error_ = 0;
};

}  // namespace waygate
