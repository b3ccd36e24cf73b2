#include "core/tls_transport.h"

#include <openssl/err.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "core/openssl_error.h"

namespace waygate {
namespace {

constexpr size_t kRecordBytes = 16 * 1024;        // the most plaintext one TLS record carries
constexpr size_t kStagingFlushBytes = 64 * 1024;  // records gathered before they go to TCP
constexpr size_t kSniffBytes = 16;                // longer than any HTTP method and its space

// Ciphertext OpenSSL produced during one operation (a handshake flight, the records of one
// write), handed to its transport's TCP writer in one piece at the end of it: one syscall, not
// one per record. Shared by the thread's transports, and empty between operations.
struct Staging {
  std::string bytes;
  TlsTransport* owner = nullptr;
};

Staging& staging() {
  thread_local Staging staging;
  return staging;
}

// Decrypted bytes on their way to a codec: one per thread, valid during the sink call only.
// Deliveries never nest: they start from libuv callbacks only (a TCP read, the resume queue),
// never from a call a codec makes.
// (The NOLINTs: clang-analyzer 14 lets a thread_local's destructor run on a path that goes on
// to use it, as if the thread had ended in between.)
char* plaintext_buffer() {
  thread_local std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kRecordBytes);
  return buffer.get();  // NOLINT(clang-analyzer-cplusplus.NewDelete)
}

// Small buffers of one write gathered into one record.
char* record_buffer() {
  thread_local std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kRecordBytes);
  return buffer.get();  // NOLINT(clang-analyzer-cplusplus.NewDelete)
}

bool is_token_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

enum class FirstBytes { kTls, kHttp, kUndecided };

// A ClientHello starts with a handshake record (0x16); an HTTP request with a method and a space.
// Anything else goes to OpenSSL, which names what is wrong with it.
FirstBytes classify_first_bytes(std::string_view bytes) {
  if (bytes.empty()) return FirstBytes::kUndecided;
  if (static_cast<unsigned char>(bytes[0]) == 0x16) return FirstBytes::kTls;
  size_t limit = std::min(bytes.size(), kSniffBytes);
  for (size_t i = 0; i < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == ' ') return i > 0 ? FirstBytes::kHttp : FirstBytes::kTls;
    if (!is_token_char(c)) return FirstBytes::kTls;
  }
  return bytes.size() >= kSniffBytes ? FirstBytes::kTls : FirstBytes::kUndecided;
}

}  // namespace

// ---- Resuming paused transports ------------------------------------------------------------

// One per loop while TLS transports live on it. A transport that resumes reading with plaintext
// (or the stream's end) already buffered waits here and is served from an idle handle on the next
// loop turn, never from inside set_reading. Transports unlink themselves when destroyed; the
// last one to go closes the handle, whose close callback frees the queue.
class TlsTransport::ResumeQueue {
 public:
  explicit ResumeQueue(uv_loop_t* loop) : loop_(loop) {
    uv_idle_init(loop, &idle_);
    idle_.data = this;
  }

  static ResumeQueue& join(uv_loop_t* loop) {
    std::vector<ResumeQueue*>& queues = registry();
    for (ResumeQueue* queue : queues) {
      if (queue->loop_ == loop) {
        ++queue->members_;
        return *queue;
      }
    }
    auto queue = std::make_unique<ResumeQueue>(loop);
    ++queue->members_;
    queues.push_back(queue.get());
    return *queue.release();  // freed by on_closed
  }

  void leave(TlsTransport& transport) {
    cancel(transport);
    if (--members_ > 0) return;
    std::vector<ResumeQueue*>& queues = registry();
    queues.erase(std::find(queues.begin(), queues.end(), this));
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_), &ResumeQueue::on_closed);
  }

  void schedule(TlsTransport& transport) {
    if (transport.resume_scheduled_) return;
    transport.resume_scheduled_ = true;
    transport.resume_previous_ = tail_;
    transport.resume_next_ = nullptr;
    (tail_ ? tail_->resume_next_ : head_) = &transport;
    tail_ = &transport;
    if (waiting_++ == 0) uv_idle_start(&idle_, &ResumeQueue::on_idle);
  }

  void cancel(TlsTransport& transport) {
    if (!transport.resume_scheduled_) return;
    transport.resume_scheduled_ = false;
    (transport.resume_previous_ ? transport.resume_previous_->resume_next_ : head_) =
        transport.resume_next_;
    (transport.resume_next_ ? transport.resume_next_->resume_previous_ : tail_) =
        transport.resume_previous_;
    transport.resume_previous_ = transport.resume_next_ = nullptr;
    if (--waiting_ == 0) uv_idle_stop(&idle_);
  }

 private:
  static std::vector<ResumeQueue*>& registry() {
    thread_local std::vector<ResumeQueue*> queues;  // a loop runs on one thread
    return queues;
  }

  static void on_idle(uv_idle_t* idle) {
    auto* queue = static_cast<ResumeQueue*>(idle->data);
    // Only those waiting now: one scheduled meanwhile waits for the next turn.
    for (size_t n = queue->waiting_; n > 0 && queue->head_; --n) {
      TlsTransport* transport = queue->head_;
      queue->cancel(*transport);
      transport->resume();
    }
  }

  static void on_closed(uv_handle_t* handle) {
    std::unique_ptr<ResumeQueue> owned(static_cast<ResumeQueue*>(handle->data));
  }

  uv_idle_t idle_;
  uv_loop_t* loop_;
  TlsTransport* head_ = nullptr;
  TlsTransport* tail_ = nullptr;
  size_t waiting_ = 0;
  size_t members_ = 0;
};

// ---- Life ----------------------------------------------------------------------------------

TlsTransport::TlsTransport(TcpTransport& tcp, TransportSink& sink, SSL* ssl)
    : tcp_(tcp),
      sink_(sink),
      ssl_(ssl),
      resume_queue_(&ResumeQueue::join(tcp.handle()->loop)),
      server_(SSL_is_server(ssl) == 1),
      handshake_started_(server_) {
  BIO* bio = BIO_new(bio_method());
  BIO_set_data(bio, this);
  SSL_set_bio(ssl, bio, bio);
  SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);  // whatever context the SSL came from
  // OpenSSL takes whole reads from the BIO rather than a record header, then its body.
  SSL_set_read_ahead(ssl, 1);
  tcp_.set_sink(*this);
  update_tcp_reading();  // an accepted connection's handshake starts now
}

TlsTransport::~TlsTransport() {
  resume_queue_->leave(*this);
  Staging& staged = staging();
  if (staged.owner == this) {
    staged.bytes.clear();
    staged.owner = nullptr;
  }
  tcp_.set_sink(sink_);
}

bool TlsTransport::closing() const {
  return uv_is_closing(tcp_.handle()) != 0;
}

// ---- The BIO -------------------------------------------------------------------------------

BIO_METHOD* TlsTransport::bio_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* created =
        BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "waygate transport");
    BIO_meth_set_read_ex(created, &TlsTransport::bio_read);
    BIO_meth_set_write_ex(created, &TlsTransport::bio_write);
    BIO_meth_set_ctrl(created, &TlsTransport::bio_ctrl);
    BIO_meth_set_create(created, [](BIO* bio) {
      BIO_set_init(bio, 1);
      return 1;
    });
    return created;
  }();
  return method;
}

int TlsTransport::bio_read(BIO* bio, char* out, size_t size, size_t* read) {
  auto* self = static_cast<TlsTransport*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  *read = self->take_input(out, size);
  if (*read > 0) return 1;
  BIO_set_retry_read(bio);  // OpenSSL says SSL_ERROR_WANT_READ: wait for the next TCP read
  return 0;
}

int TlsTransport::bio_write(BIO* bio, const char* data, size_t size, size_t* written) {
  auto* self = static_cast<TlsTransport*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  Staging& staged = staging();
  if (staged.owner != self) {
    if (staged.owner) staged.owner->flush_output();
    staged.owner = self;
  }
  staged.bytes.append(data, size);
  if (staged.bytes.size() >= kStagingFlushBytes) self->flush_output();
  *written = size;
  return 1;
}

long TlsTransport::bio_ctrl(BIO*, int command, long, void*) {
  // Flushing is done by the transport after each operation; OpenSSL only needs to hear success.
  return command == BIO_CTRL_FLUSH ? 1 : 0;
}

size_t TlsTransport::take_input(char* out, size_t size) {
  if (stash_offset_ < stash_.size()) {
    size_t n = std::min(size, stash_.size() - stash_offset_);
    std::memcpy(out, stash_.data() + stash_offset_, n);
    stash_offset_ += n;
    if (stash_offset_ == stash_.size()) {
      std::string().swap(stash_);  // an idle connection holds no buffer
      stash_offset_ = 0;
    }
    return n;
  }
  size_t n = std::min(size, chunk_.size());
  if (n == 0) return 0;
  std::memcpy(out, chunk_.data(), n);
  chunk_.remove_prefix(n);
  return n;
}

// The rest of the TCP read that OpenSSL was not asked for yet, kept before the read buffer is
// reused.
void TlsTransport::keep_input() {
  if (!chunk_.empty() && !failed_ && !end_delivered_) {
    if (stash_offset_ > 0) {
      stash_.erase(0, stash_offset_);
      stash_offset_ = 0;
    }
    stash_.append(chunk_);
  }
  chunk_ = {};
}

void TlsTransport::flush_output() {
  Staging& staged = staging();
  if (staged.owner != this) return;
  staged.owner = nullptr;
  if (staged.bytes.empty()) return;
  int rc = tcp_.write(staged.bytes);
  staged.bytes.clear();
  if (rc < 0 && write_error_ == 0) write_error_ = rc;
}

// ---- Handshake -----------------------------------------------------------------------------

void TlsTransport::start_client_handshake() {
  if (server_ || handshake_started_ || failed_) return;
  handshake_started_ = true;
  update_tcp_reading();
  in_codec_call_ = true;
  advance_handshake();
  in_codec_call_ = false;
}

// Sets sniffed_ when the first bytes may go to OpenSSL; fails the handshake on plain HTTP.
bool TlsTransport::sniff_client_hello() {
  std::string_view first =
      stash_offset_ < stash_.size() ? std::string_view(stash_).substr(stash_offset_) : chunk_;
  switch (classify_first_bytes(first)) {
    case FirstBytes::kUndecided:
      return false;
    case FirstBytes::kHttp:
      plaintext_http_ = true;
      fail_handshake(UV_EPROTO, "plaintext-http");
      return false;
    case FirstBytes::kTls:
      break;
  }
  sniffed_ = true;
  return true;
}

void TlsTransport::advance_handshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_.get());
  int error = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_.get(), rc);
  flush_output();  // the next flight, or the alert that ends a failed handshake
  if (write_error_ != 0) {
    ERR_clear_error();
    fail_handshake(write_error_, uv_strerror(write_error_));
  } else if (rc == 1) {
    complete_handshake();
  } else if (error != SSL_ERROR_WANT_READ) {
    fail_handshake(UV_EPROTO, describe_failure(error));
  }
}

void TlsTransport::complete_handshake() {
  handshake_done_ = true;
  if (!unsent_.empty()) {
    std::string plaintext;
    plaintext.swap(unsent_);
    uv_buf_t buf = uv_buf_init(plaintext.data(), static_cast<unsigned>(plaintext.size()));
    encrypt(std::span<const uv_buf_t>(&buf, 1));
  }
  if (shutdown_requested_) send_close_notify();
  if (!server_) sink_.on_transport_connected(0);
  if (drain_owed_ && pending_bytes() == 0 && !closing()) {
    drain_owed_ = false;
    sink_.on_transport_drained(write_error_);
  }
}

void TlsTransport::fail_handshake(int status, std::string reason) {
  failed_ = true;
  failure_ = std::move(reason);
  chunk_ = {};
  std::string().swap(stash_);
  stash_offset_ = 0;
  std::string().swap(unsent_);
  drain_owed_ = false;
  update_tcp_reading();
  if (shutdown_requested_) tcp_.shutdown();
  if (in_codec_call_) {
    // The codec is inside its own call (start_client_handshake): it hears of it from the loop.
    pending_report_ = status;
    resume_queue_->schedule(*this);
    return;
  }
  report_failure(status);
}

void TlsTransport::report_failure(int status) {
  if (closing()) return;
  if (server_) {
    sink_.on_transport_eof(status);
  } else {
    sink_.on_transport_connected(status);
  }
}

std::string TlsTransport::describe_failure(int ssl_error) const {
  unsigned long code = ERR_peek_error();
  if (code == 0) {
    ERR_clear_error();
    return ssl_error == SSL_ERROR_SYSCALL ? "unexpected eof" : "tls error";
  }
  if (ERR_GET_LIB(code) == ERR_LIB_SSL) {
    switch (ERR_GET_REASON(code)) {
      case SSL_R_UNEXPECTED_EOF_WHILE_READING:
        ERR_clear_error();
        return "unexpected eof";
      case SSL_R_CERTIFICATE_VERIFY_FAILED:
        ERR_clear_error();
        return std::string("certificate verify failed: ") +
               X509_verify_cert_error_string(SSL_get_verify_result(ssl_.get()));
      default:
        break;
    }
  }
  return take_openssl_error("tls error");
}

// ---- Reading -------------------------------------------------------------------------------

void TlsTransport::on_transport_read(std::string_view bytes) {
  if (failed_ || end_delivered_ || !handshake_started_) return;
  if (stash_offset_ < stash_.size()) {
    stash_.append(bytes);  // after what waits, in order
  } else {
    chunk_ = bytes;
  }
  if (!handshake_done_) {
    if (server_ && !sniffed_ && !sniff_client_hello()) {
      keep_input();
      return;
    }
    advance_handshake();
    if (!handshake_done_ || closing()) {
      keep_input();
      return;
    }
  }
  pump();
  keep_input();
  update_tcp_reading();
}

void TlsTransport::on_transport_eof(int status) {
  if (failed_ || end_delivered_ || closing()) return;
  if (!handshake_done_) {
    bool clean = status == UV_EOF;
    if (clean && server_ && !sniffed_ && stash_offset_ >= stash_.size()) {
      // Closed without a byte (a port check, a balancer's probe): an end, not a failure.
      fail_handshake(UV_EOF, "");
      return;
    }
    fail_handshake(clean ? UV_EPROTO : status, clean ? "unexpected eof" : uv_strerror(status));
    return;
  }
  if (status != UV_EOF) {
    // A reset: nobody is left to read the plaintext still buffered.
    if (failure_.empty()) failure_ = uv_strerror(status);
    end_status_ = status;
    std::string().swap(stash_);
    stash_offset_ = 0;
    deliver_end();
    return;
  }
  // A FIN with or without close_notify: an end like any other (as browsers take it), heard after
  // the plaintext before it.
  if (end_status_ == 0) end_status_ = UV_EOF;
  pump();
  update_tcp_reading();
}

// Decrypts and delivers while the codec reads, one record's worth at a time (small records are
// gathered into one delivery), then the stream's end once nothing more can come before it.
void TlsTransport::pump() {
  char* buffer = plaintext_buffer();
  while (want_reading_ && !end_delivered_ && !closing()) {
    size_t filled = 0;
    if (!tls_ended_) {
      ERR_clear_error();
      while (filled < kRecordBytes) {
        size_t n = 0;
        if (SSL_read_ex(ssl_.get(), buffer + filled, kRecordBytes - filled, &n) == 1) {
          filled += n;
          // Asking again only to hear "want read" would make OpenSSL allocate its read buffer
          // again (SSL_MODE_RELEASE_BUFFERS freed it): stop when nothing is left to read.
          if (chunk_.empty() && stash_offset_ == stash_.size() && !SSL_has_pending(ssl_.get())) {
            break;
          }
          continue;
        }
        int error = SSL_get_error(ssl_.get(), 0);
        if (error == SSL_ERROR_WANT_READ) break;  // every byte we had is taken
        tls_ended_ = true;
        if (error == SSL_ERROR_ZERO_RETURN) {  // close_notify
          ERR_clear_error();
          if (end_status_ == 0) end_status_ = UV_EOF;
        } else {
          end_status_ = UV_EPROTO;
          failure_ = describe_failure(error);
        }
        break;
      }
      flush_output();  // what reading made OpenSSL send (the answer to a key update)
    }
    if (filled > 0) {
      sink_.on_transport_read(std::string_view(buffer, filled));
      if (filled == kRecordBytes) continue;  // there may be more
    }
    if (end_status_ == 0) return;  // waiting for TCP
    if (want_reading_ && !end_delivered_ && !closing()) deliver_end();
    return;
  }
}

void TlsTransport::deliver_end() {
  end_delivered_ = true;
  update_tcp_reading();
  sink_.on_transport_eof(end_status_);
}

bool TlsTransport::has_buffered_input() const {
  return stash_offset_ < stash_.size() || SSL_has_pending(ssl_.get()) == 1 || end_status_ != 0;
}

void TlsTransport::set_reading(bool on) {
  want_reading_ = on;
  if (failed_ || end_delivered_) return;
  if (on && handshake_done_ && has_buffered_input()) resume_queue_->schedule(*this);
  update_tcp_reading();
}

void TlsTransport::resume() {
  if (pending_report_ != 0) {
    int status = pending_report_;
    pending_report_ = 0;
    report_failure(status);
    return;
  }
  if (failed_ || end_delivered_ || !handshake_done_ || closing()) return;
  pump();
  update_tcp_reading();
}

void TlsTransport::update_tcp_reading() {
  bool want;
  if (failed_ || end_delivered_) {
    want = false;
  } else if (!handshake_done_) {
    want = handshake_started_;
  } else {
    want = want_reading_ && end_status_ == 0;
  }
  tcp_.set_reading(want);
}

// ---- Writing -------------------------------------------------------------------------------

int TlsTransport::write(std::span<const uv_buf_t> bufs) {
  if (write_error_ != 0) return write_error_;
  if (failed_) return UV_EPROTO;
  if (shutdown_requested_) return UV_EPIPE;
  if (!handshake_done_) {
    for (const uv_buf_t& buf : bufs)
      unsent_.append(buf.base, buf.len);
    if (!unsent_.empty()) drain_owed_ = true;
    return 0;
  }
  encrypt(bufs);
  if (pending_bytes() > 0) drain_owed_ = true;
  return write_error_;
}

void TlsTransport::encrypt(std::span<const uv_buf_t> bufs) {
  char* record = record_buffer();
  size_t used = 0;
  ERR_clear_error();
  for (size_t i = 0; i < bufs.size(); ++i) {
    const char* data = bufs[i].base;
    size_t size = bufs[i].len;
    bool last = i + 1 == bufs.size();
    while (size > 0) {
      if (used == 0 && (last || size >= kRecordBytes)) {
        // Whole records straight from the caller's memory; a tail joins the next buffer's bytes.
        size_t direct = last ? size : size - size % kRecordBytes;
        if (!seal(data, direct)) return;
        data += direct;
        size -= direct;
        continue;
      }
      size_t take = std::min(size, kRecordBytes - used);
      std::memcpy(record + used, data, take);
      used += take;
      data += take;
      size -= take;
      if (used == kRecordBytes) {
        if (!seal(record, used)) return;
        used = 0;
      }
    }
  }
  if (used > 0) seal(record, used);
  flush_output();
}

bool TlsTransport::seal(const char* data, size_t size) {
  size_t written = 0;
  if (SSL_write_ex(ssl_.get(), data, size, &written) == 1) return true;
  failure_ = describe_failure(SSL_get_error(ssl_.get(), 0));
  flush_output();
  if (write_error_ == 0) write_error_ = UV_EPROTO;
  return false;
}

void TlsTransport::on_transport_drained(int status) {
  if (failed_ || closing()) {
    sink_.on_transport_drained(status);  // a plaintext answer written straight to TCP, or a close
    return;
  }
  if (status < 0) {
    if (!handshake_done_) {
      fail_handshake(status, uv_strerror(status));
      return;
    }
    write_error_ = status;
    drain_owed_ = false;
    sink_.on_transport_drained(status);
    return;
  }
  // After the handshake every drain is passed on, so a codec waiting on pending_bytes() (that
  // includes bytes OpenSSL wrote by itself: tickets, a key update's answer) is never left waiting.
  // The handshake's own flights are nothing the codec wrote.
  if (pending_bytes() > 0 || (!handshake_done_ && !drain_owed_)) return;
  drain_owed_ = false;
  sink_.on_transport_drained(0);
}

void TlsTransport::shutdown() {
  if (shutdown_requested_) return;
  shutdown_requested_ = true;
  if (failed_) {
    tcp_.shutdown();
  } else if (handshake_done_) {
    send_close_notify();
  }  // else once the handshake is done, after what was written before it
}

void TlsTransport::send_close_notify() {
  ERR_clear_error();
  SSL_shutdown(ssl_.get());  // sends close_notify; the peer's is not awaited
  ERR_clear_error();
  flush_output();
  tcp_.shutdown();
}

void TlsTransport::on_transport_connected(int status) {
  if (status < 0) {
    failed_ = true;  // the TCP connect: failure_reason() stays empty
    sink_.on_transport_connected(status);
    return;
  }
  start_client_handshake();
}

// ---- What was negotiated -------------------------------------------------------------------

std::string_view TlsTransport::alpn() const {
  const unsigned char* protocol = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_.get(), &protocol, &length);
  return std::string_view(reinterpret_cast<const char*>(protocol), protocol ? length : 0);
}

std::string_view TlsTransport::server_name() const {
  const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return name ? std::string_view(name) : std::string_view();
}

std::string TlsTransport::peer_subject() const {
  X509* peer = SSL_get0_peer_certificate(ssl_.get());
  if (!peer || SSL_get_verify_result(ssl_.get()) != X509_V_OK) return {};
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (X509_NAME_print_ex(bio.get(), X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) < 0) {
    ERR_clear_error();
    return {};
  }
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, length > 0 ? static_cast<size_t>(length) : 0);
}

bool TlsTransport::session_reused() const {
  return SSL_session_reused(ssl_.get()) == 1;
}

}  // namespace waygate
