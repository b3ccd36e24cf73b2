// EtcdWatcher: one http::Client at a time, on the endpoint in turn. A range read fills the view;
// a watch from the next revision keeps it; failures move to the next endpoint, with backoff once a
// whole round has failed. User callbacks run last in each path, and may destroy the watcher.
#include "discovery/etcd_watcher.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <optional>
#include <random>
#include <string_view>

#include "core/socket_address.h"
#include "core/uv_handle.h"
#include "discovery/base64.h"
#include "discovery/etcd_messages.h"
#include "http/client.h"

namespace waygate::discovery {
namespace {

using Json = nlohmann::json;

// A broken server must not make the watcher buffer without bound: a range of 100,000 endpoints
// is some tens of MiB as base64 JSON.
constexpr size_t kMaxResponseBytes = 256 * 1024 * 1024;
constexpr std::string_view kScheme = "http://";

struct Endpoint {
  std::string name;  // "127.0.0.1:2379": the Host header and the error messages
  SocketAddress address;
};

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  if (!text.starts_with(kScheme)) return std::nullopt;
  text.remove_prefix(kScheme.size());
  if (text.ends_with('/')) text.remove_suffix(1);
  std::optional<SocketAddress> address = parse_socket_address(text);
  if (!address) return std::nullopt;
  return Endpoint{std::string(text), *address};
}

// etcd clientv3's GetPrefixRangeEnd: the first key past every key that starts with the prefix.
// A prefix of 0xff bytes alone has none; "\0" then means "to the end of the keyspace".
std::string prefix_range_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

// "connect-refused" -> "connect refused", for messages that a person reads.
std::string describe(const char* reason) {
  std::string text(reason);
  std::replace(text.begin(), text.end(), '-', ' ');
  return text;
}

std::vector<EtcdWatcher::Change> diff(const EtcdWatcher::Keys& before,
                                      const EtcdWatcher::Keys& after) {
  using Kind = EtcdWatcher::Change::Kind;
  std::vector<EtcdWatcher::Change> changes;
  auto old_it = before.begin();
  auto new_it = after.begin();
  while (old_it != before.end() || new_it != after.end()) {
    if (new_it == after.end() || (old_it != before.end() && old_it->first < new_it->first)) {
      changes.push_back({Kind::kDelete, old_it->first});
      ++old_it;
    } else if (old_it == before.end() || new_it->first < old_it->first) {
      changes.push_back({Kind::kPut, new_it->first});
      ++new_it;
    } else {
      if (old_it->second != new_it->second) changes.push_back({Kind::kPut, new_it->first});
      ++old_it;
      ++new_it;
    }
  }
  return changes;
}

const http::HeaderList kJsonHeaders = {{"Content-Type", "application/json"}};
// The gateway passes Grpc-Metadata-* headers on as gRPC metadata; "hasleader" is clientv3's
// WithRequireLeader. Without it, a member cut off from the others keeps a watch open and silent
// while the rest of the cluster takes writes; with it, etcd ends the watch ("no leader").
const http::HeaderList kWatchHeaders = {{"Content-Type", "application/json"},
                                        {"Grpc-Metadata-hasleader", "true"}};

}  // namespace

class EtcdWatcher::Impl final : private http::ClientHandler {
 public:
  Impl(uv_loop_t* loop, Options options, UpdateFn on_update, ErrorFn on_error)
      : loop_(loop),
        options_(std::move(options)),
        on_update_(std::move(on_update)),
        on_error_(std::move(on_error)),
        random_(static_cast<uint32_t>(uv_hrtime())) {
    for (const std::string& text : options_.endpoints) {
      if (std::optional<Endpoint> endpoint = parse_endpoint(text)) {
        endpoints_.push_back(std::move(*endpoint));
      }
    }
    options_.min_backoff_ms = std::max<uint64_t>(options_.min_backoff_ms, 1);
    options_.max_backoff_ms = std::max(options_.max_backoff_ms, options_.min_backoff_ms);
    backoff_ms_ = options_.min_backoff_ms;
    std::string key = options_.key;
    std::string range_end;
    if (options_.prefix) {
      if (key.empty()) key.assign(1, '\0');  // every key, as clientv3 does for an empty prefix
      range_end = prefix_range_end(options_.key);
    }
    key_b64_ = base64_encode(key);
    range_end_b64_ = base64_encode(range_end);
    timer_.init(uv_timer_init, loop_, this);
  }

  ~Impl() {
    if (destroyed_) *destroyed_ = true;
  }

  void start() {
    if (phase_ != Phase::kStopped) return;
    if (endpoints_.empty()) {
      phase_ = Phase::kWaiting;  // nothing will ever be tried
      notify_error("no usable etcd endpoint (http://IP:PORT)");
      return;
    }
    attempt();
  }

  Keys keys_;
  std::map<std::string, uint64_t> mod_revisions_;
  uint64_t revision_ = 0;
  bool synced_ = false;

 private:
  enum class Phase : uint8_t {
    kStopped,  // not started
    kRange,    // reading the whole range
    kWatch,    // a watch stream is open (or being opened)
    kWaiting,  // after a failure, until the next attempt
  };

  // One attempt on the current endpoint: a range read when the view needs one, else the watch
  // from the revision after the view's.
  void attempt() {
    uv_timer_stop(timer_.get());
    if (!client_) {
      http::ClientHandler& handler = *this;
      client_ = std::make_unique<http::Client>(loop_, endpoints_[endpoint_].address, handler);
    }
    if (!synced_ || relist_) {
      send_range();
    } else {
      watch_after_range_ = false;
      send_watch();
    }
  }

  void send_range() {
    phase_ = Phase::kRange;
    Json body = {{"key", key_b64_}};
    if (options_.prefix) body["range_end"] = range_end_b64_;
    send("/v3/kv/range", kJsonHeaders, body.dump(), options_.request_timeout_ms);
  }

  void send_watch() {
    phase_ = Phase::kWatch;
    created_ = false;
    Json create = {{"key", key_b64_},
                   {"start_revision", std::to_string(revision_ + 1)},
                   {"progress_notify", true}};
    if (options_.prefix) create["range_end"] = range_end_b64_;
    // The stream may be quiet for hours: no request timeout (the client's TCP keepalive finds a
    // dead peer), but the watch must be created in time.
    send("/v3/watch", kWatchHeaders, Json{{"create_request", create}}.dump(), 0);
    if (options_.request_timeout_ms > 0) {
      uv_timer_start(timer_.get(), &Impl::on_timer, options_.request_timeout_ms, 0);
    }
  }

  void send(std::string_view target, const http::HeaderList& headers, const std::string& body,
            uint64_t timeout_ms) {
    status_ = 0;
    body_.clear();
    http::ClientRequest request;
    request.method = "POST";
    request.target = target;
    request.host = endpoints_[endpoint_].name;
    request.headers = &headers;
    request.body = body;
    request.timeout_ms = timeout_ms;
    client_->send(request);
  }

  // ---- http::ClientHandler --------------------------------------------------------------------

  void on_response_head(const http::MessageHead& head) override { status_ = head.status; }

  void on_response_body(std::string_view bytes) override {
    if (body_.size() + bytes.size() > kMaxResponseBytes) {
      fail("response larger than " + std::to_string(kMaxResponseBytes >> 20) + " MiB");
      return;
    }
    body_.append(bytes);
    if (phase_ == Phase::kWatch && status_ == 200) read_watch_stream();
  }

  void on_response_complete() override {
    if (status_ != 200) {
      fail("HTTP " + std::to_string(status_) + ": " + response_error());
    } else if (phase_ == Phase::kRange) {
      on_range_read();
    } else {
      fail("the watch stream ended");
    }
  }

  void on_client_error(const char* reason) override { fail(describe(reason)); }

  std::string response_error() const {
    std::string message = etcd_error_text(body_);
    return message.empty() ? "no error message" : message;
  }

  // ---- The range read -----------------------------------------------------------------------

  void on_range_read() {
    std::string error;
    std::optional<EtcdRange> range = parse_etcd_range(body_, &error);
    body_.clear();
    if (!range) {
      fail("range: " + error);
      return;
    }
    Keys& keys = range->keys;
    bool relisted = synced_;
    std::vector<Change> changes = diff(keys_, keys);
    keys_.swap(keys);
    mod_revisions_.swap(range->mod_revisions);
    revision_ = range->revision;
    synced_ = true;
    relist_ = false;
    watch_after_range_ = true;
    send_watch();  // on the same connection
    if (on_update_) notify([&] { on_update_(keys_, changes, revision_, relisted); });
  }

  // ---- The watch stream ---------------------------------------------------------------------

  // The gateway writes one JSON object per line; a read may end anywhere in one.
  void read_watch_stream() {
    size_t start = 0;
    size_t end;
    while ((end = body_.find('\n', start)) != std::string::npos) {
      EtcdWatchMessage message =
          parse_etcd_watch_message(std::string_view(body_).substr(start, end - start));
      start = end + 1;
      if (!on_watch_message(message)) return;  // the stream (or the watcher) is gone
    }
    body_.erase(0, start);
  }

  // Returns whether to go on reading the stream.
  bool on_watch_message(EtcdWatchMessage& message) {
    using Kind = EtcdWatchMessage::Kind;
    switch (message.kind) {
      case Kind::kInvalid:
      case Kind::kError:
        fail("watch: " + message.error);
        return false;
      case Kind::kCanceled:
        fail("watch canceled: " + message.error);
        return false;
      case Kind::kCompacted:
        return on_compacted(message.revision);
      case Kind::kCreated:
        created_ = true;
        created_at_ = uv_now(loop_);
        uv_timer_stop(timer_.get());
        return true;
      case Kind::kProgress:
        // The view is current at the header's revision (a later watch can start there).
        if (created_ && message.has_revision) revision_ = std::max(revision_, message.revision);
        return true;
      case Kind::kEvents:
        return on_events(message.events);
    }
    return true;
  }

  bool on_events(std::vector<EtcdWatchMessage::Event>& events) {
    std::vector<Change> changes;
    for (EtcdWatchMessage::Event& event : events) {
      if (event.revision <= revision_) continue;  // already in the view
      if (event.put) {
        keys_[event.key] = std::move(event.value);
        mod_revisions_[event.key] = event.revision;
      } else {
        keys_.erase(event.key);
        mod_revisions_.erase(event.key);
      }
      changes.push_back(
          {event.put ? Change::Kind::kPut : Change::Kind::kDelete, std::move(event.key)});
    }
    for (const EtcdWatchMessage::Event& event : events)
      revision_ = std::max(revision_, event.revision);
    if (changes.empty()) return true;
    return !on_update_ || notify([&] { on_update_(keys_, changes, revision_, false); });
  }

  // The revision after the view's is gone: read the whole range again, then watch from there.
  bool on_compacted(uint64_t compacted) {
    relist_ = true;
    if (watch_after_range_) {
      // Compacted between a read and its watch: possible once, but a server that says so every
      // time would make this a busy loop. Retry like any failure.
      fail("watch: revision " + std::to_string(revision_ + 1) + " compacted (at " +
           std::to_string(compacted) + ") right after a read");
      return false;
    }
    uv_timer_stop(timer_.get());
    client_->close();  // the gateway keeps a canceled watch's stream open
    attempt();
    return false;
  }

  // ---- Failures and retries -----------------------------------------------------------------

  void fail(const std::string& message) {
    phase_ = Phase::kWaiting;
    client_.reset();  // may be inside one of its callbacks: it allows that
    body_.clear();
    uv_timer_stop(timer_.get());
    // A watch that stood for a while ends the run of failures; one that failed at once counts
    // as a failure, so a server that accepts and drops watches cannot make a busy loop.
    if (created_ && uv_now(loop_) - created_at_ >= backoff_ms_) {
      failures_ = 0;
      backoff_ms_ = options_.min_backoff_ms;
    }
    created_ = false;
    std::string error = endpoints_[endpoint_].name + ": " + message;
    ++failures_;
    endpoint_ = (endpoint_ + 1) % endpoints_.size();
    uint64_t delay_ms = 0;
    if (failures_ % endpoints_.size() == 0) {
      // Every endpoint failed in this round: wait, with jitter so that many instances watching
      // the same cluster do not come back in step.
      std::uniform_real_distribution<double> jitter(0.8, 1.2);
      delay_ms = static_cast<uint64_t>(static_cast<double>(backoff_ms_) * jitter(random_));
      backoff_ms_ = std::min(backoff_ms_ * 2, options_.max_backoff_ms);
    }
    uv_timer_start(timer_.get(), &Impl::on_timer, delay_ms, 0);
    notify_error(error);
  }

  static void on_timer(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    if (self->phase_ == Phase::kWaiting) {
      self->attempt();
    } else if (self->phase_ == Phase::kWatch && !self->created_) {
      self->fail("watch not created within " + std::to_string(self->options_.request_timeout_ms) +
                 " ms");
    }
  }

  void notify_error(const std::string& error) {
    if (on_error_) notify([&] { on_error_(error); });
  }

  // Runs a user callback; false when the watcher was destroyed inside it.
  template <typename Fn>
  bool notify(Fn&& callback) {
    bool destroyed = false;
    bool* outer = destroyed_;
    destroyed_ = &destroyed;
    callback();
    if (destroyed) {
      if (outer) *outer = true;
      return false;
    }
    destroyed_ = outer;
    return true;
  }

  uv_loop_t* loop_;
  Options options_;
  UpdateFn on_update_;
  ErrorFn on_error_;
  std::vector<Endpoint> endpoints_;
  std::string key_b64_;
  std::string range_end_b64_;
  size_t endpoint_ = 0;  // the one in use, or the next to try
  std::unique_ptr<http::Client> client_;
  UvHandle<uv_timer_t> timer_;  // the next attempt, or the deadline for a watch's creation
  Phase phase_ = Phase::kStopped;
  uint16_t status_ = 0;
  std::string body_;                // a range response, or watch stream bytes short of a whole line
  bool relist_ = false;             // the watch needs a revision that was compacted
  bool watch_after_range_ = false;  // the watch was sent right after a range read
  bool created_ = false;
  uint64_t created_at_ = 0;
  size_t failures_ = 0;  // in a row, since a watch last stood
  uint64_t backoff_ms_ = 0;
  std::minstd_rand random_;
  bool* destroyed_ = nullptr;  // set while a user callback runs
};

EtcdWatcher::EtcdWatcher(uv_loop_t* loop, Options options, UpdateFn on_update, ErrorFn on_error)
    : impl_(std::make_unique<Impl>(loop, std::move(options), std::move(on_update),
                                   std::move(on_error))) {}

EtcdWatcher::~EtcdWatcher() = default;

void EtcdWatcher::start() {
  impl_->start();
}

const EtcdWatcher::Keys& EtcdWatcher::keys() const {
  return impl_->keys_;
}

uint64_t EtcdWatcher::revision() const {
  return impl_->revision_;
}

uint64_t EtcdWatcher::mod_revision(const std::string& key) const {
  auto found = impl_->mod_revisions_.find(key);
  return found == impl_->mod_revisions_.end() ? 0 : found->second;
}

bool EtcdWatcher::synced() const {
  return impl_->synced_;
}

std::string EtcdWatcher::check_endpoint(const std::string& endpoint) {
  if (!endpoint.starts_with(kScheme)) {
    return "etcd endpoint '" + endpoint + "' must start with http://";
  }
  if (!parse_endpoint(endpoint)) {
    return "etcd endpoint '" + endpoint + "' must be http://IP:PORT (an IP address, not a name)";
  }
  return {};
}

}  // namespace waygate::discovery
