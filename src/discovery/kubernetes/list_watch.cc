// ListWatch: one http::Client at a time; a LIST, then WATCH requests on the same connection for
// as long as it stands. User callbacks run last in each path, and may destroy the ListWatch.
#include "discovery/kubernetes/list_watch.h"

#include <algorithm>
#include <random>
#include <string_view>

#include "core/uv_handle.h"
#include "discovery/json_member.h"

namespace waygate::discovery::kubernetes {
namespace {

using Json = nlohmann::json;

// A broken server must not make waygate buffer without bound.
constexpr size_t kMaxResponseBytes = 256 * 1024 * 1024;
// A watch that ends sooner than this without a change counts as a failure: a server that accepts
// and ends watches at once must not make a busy loop.
constexpr uint64_t kShortestWatchMs = 1000;

std::string string_member(const Json* object, const char* name) {
  const Json* value = object ? json_member(*object, name) : nullptr;
  return value && value->is_string() ? value->get<std::string>() : std::string();
}

std::string resource_version_of(const Json& object) {
  return string_member(json_member(object, "metadata"), "resourceVersion");
}

// A Status object's message ("too old resource version: 5 (9)"), or the bytes as they came.
std::string status_message(const std::string& body) {
  Json status = Json::parse(body, nullptr, false);
  std::string message = status.is_discarded() ? std::string() : string_member(&status, "message");
  if (!message.empty()) return message;
  return body.size() > 200 ? body.substr(0, 200) + "..." : body;
}

std::string describe(const char* reason) {
  std::string text(reason);
  std::replace(text.begin(), text.end(), '-', ' ');
  return text;
}

}  // namespace

std::string ListWatch::query_escape(std::string_view text) {
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
  return out;
}

class ListWatch::Impl final : private http::ClientHandler {
 public:
  Impl(uv_loop_t* loop, std::shared_ptr<const ApiClient> api, Options options, ListedFn on_listed,
       EventFn on_event, ErrorFn on_error)
      : loop_(loop),
        api_(std::move(api)),
        options_(std::move(options)),
        on_listed_(std::move(on_listed)),
        on_event_(std::move(on_event)),
        on_error_(std::move(on_error)),
        random_(static_cast<uint32_t>(uv_hrtime())) {
    options_.min_backoff_ms = std::max<uint64_t>(options_.min_backoff_ms, 1);
    options_.max_backoff_ms = std::max(options_.max_backoff_ms, options_.min_backoff_ms);
    backoff_ms_ = options_.min_backoff_ms;
    timer_.init(uv_timer_init, loop_, this);
  }

  ~Impl() {
    if (destroyed_) *destroyed_ = true;
  }

  void start() {
    if (phase_ != Phase::kStopped) return;
    attempt();
  }

  std::string resource_version_;

 private:
  enum class Phase : uint8_t { kStopped, kList, kWatch, kWaiting };

  void attempt() {
    uv_timer_stop(timer_.get());
    if (!api_->error().empty()) {
      fail(api_->error());
      return;
    }
    if (!client_) client_ = api_->connect(loop_, *this);
    if (resource_version_.empty() || relist_) {
      send_list();
    } else {
      send_watch(false);
    }
  }

  std::string target(bool watch) {
    std::string target = options_.path;
    char separator = '?';
    if (!watch && options_.page_size > 0) {
      target += "?limit=" + std::to_string(options_.page_size);
      if (!continue_.empty()) target += "&continue=" + query_escape(continue_);
      separator = '&';
    }
    if (!options_.label_selector.empty()) {
      target += separator;
      target += "labelSelector=" + query_escape(options_.label_selector);
      separator = '&';
    }
    if (!options_.field_selector.empty()) {
      target += separator;
      target += "fieldSelector=" + query_escape(options_.field_selector);
      separator = '&';
    }
    if (watch) {
      std::uniform_int_distribution<uint32_t> extra(0, options_.watch_timeout_s);
      target += separator;
      target += "watch=1&resourceVersion=" + query_escape(resource_version_) +
                "&allowWatchBookmarks=true&timeoutSeconds=" +
                std::to_string(options_.watch_timeout_s + extra(random_));
    }
    return target;
  }

  // The first page, or with continue_ the next.
  void send_list() {
    if (continue_.empty()) listing_.clear();
    phase_ = Phase::kList;
    send(target(false), options_.request_timeout_ms);
  }

  void send_watch(bool after_list) {
    phase_ = Phase::kWatch;
    watch_after_list_ = after_list;
    watch_started_ = uv_now(loop_);
    watch_changed_ = false;
    // The server ends the watch by itself; the limit only finds a server that went silent.
    send(target(true), (options_.watch_timeout_s * 2 + 30) * 1000ull);
  }

  void send(const std::string& target, uint64_t timeout_ms) {
    status_ = 0;
    body_.clear();
    // Read for every request: a rotated token is used from the next one on.
    std::string error;
    if (!api_->request_headers(&headers_, &error)) {
      fail(error);
      return;
    }
    http::ClientRequest request;
    request.method = "GET";
    request.target = target;
    request.host = api_->access().host;
    request.headers = &headers_;
    request.timeout_ms = timeout_ms;
    client_->send(request);
  }

  // ---- http::ClientHandler --------------------------------------------------------------------

  void on_response_head(const http::MessageHead& head) override { status_ = head.status; }

  void on_response_body(std::string_view bytes) override {
    if (body_.size() + bytes.size() > kMaxResponseBytes) {
      fail("a response larger than " + std::to_string(kMaxResponseBytes >> 20) + " MiB");
      return;
    }
    body_.append(bytes);
    if (phase_ == Phase::kWatch && status_ == 200) read_watch_stream();
  }

  void on_response_complete() override {
    if (status_ == 410 && phase_ == Phase::kWatch) {
      expired(status_message(body_));
    } else if (status_ != 200) {
      fail("HTTP " + std::to_string(status_) + ": " + status_message(body_));
    } else if (phase_ == Phase::kList) {
      on_list();
    } else if (watch_changed_ || uv_now(loop_) - watch_started_ >= kShortestWatchMs) {
      // The server ended the watch (timeoutSeconds): resume from where the view is.
      backoff_ms_ = options_.min_backoff_ms;
      send_watch(false);
    } else {
      fail("the watch ended at once");
    }
  }

  void on_client_error(const char* reason) override { fail(describe(reason)); }

  // ---- LIST ---------------------------------------------------------------------------------

  void on_list() {
    Json list = Json::parse(body_, nullptr, false);
    body_.clear();
    std::string version = list.is_discarded() ? std::string() : resource_version_of(list);
    const Json* items = json_member(list, "items");
    if (version.empty() || (items && !items->is_array() && !items->is_null())) {
      fail("LIST: not a list with a resourceVersion");
      return;
    }
    if (items && items->is_array()) {
      listing_.reserve(listing_.size() + items->size());
      for (Json& item : *const_cast<Json*>(items))
        listing_.push_back(options_.trim_item ? options_.trim_item(std::move(item))
                                              : std::move(item));
    }
    // Every page is of the first one's resourceVersion; the last has no continue token.
    continue_ = string_member(json_member(list, "metadata"), "continue");
    if (!continue_.empty()) {
      send_list();
      return;
    }
    std::vector<Json> objects = std::move(listing_);
    listing_.clear();
    resource_version_ = std::move(version);
    relist_ = false;
    send_watch(true);  // on the same connection
    if (on_listed_) notify([&] { on_listed_(std::move(objects)); });
  }

  // ---- WATCH --------------------------------------------------------------------------------

  // One JSON object per line; a read may end anywhere in one.
  void read_watch_stream() {
    size_t start = 0;
    size_t end;
    while ((end = body_.find('\n', start)) != std::string::npos) {
      Json message = Json::parse(body_.begin() + static_cast<ptrdiff_t>(start),
                                 body_.begin() + static_cast<ptrdiff_t>(end), nullptr, false);
      start = end + 1;
      if (!on_watch_event(message)) return;  // the stream (or the ListWatch) is gone
    }
    body_.erase(0, start);
  }

  // Returns whether to go on reading the stream.
  bool on_watch_event(const Json& message) {
    std::string type = string_member(&message, "type");
    const Json* object = json_member(message, "object");
    if (message.is_discarded() || !object || !object->is_object()) {
      fail("WATCH: an event that is not {type, object}");
      return false;
    }
    if (type == "ERROR") {
      const Json* code = json_member(*object, "code");
      std::string text = string_member(object, "message");
      if (code && code->is_number_integer() && code->get<int64_t>() == 410) {
        expired(text);
      } else {
        fail("WATCH: " + (text.empty() ? object->dump() : text));
      }
      return false;
    }
    std::string version = resource_version_of(*object);
    if (type == "BOOKMARK") {
      if (!version.empty()) resource_version_ = std::move(version);
      return true;
    }
    Event event;
    if (type == "ADDED") {
      event = Event::kAdded;
    } else if (type == "MODIFIED") {
      event = Event::kModified;
    } else if (type == "DELETED") {
      event = Event::kDeleted;
    } else {
      fail("WATCH: an event of unknown type " + type.substr(0, 20));
      return false;
    }
    if (!version.empty()) resource_version_ = std::move(version);
    watch_changed_ = true;
    return !on_event_ || notify([&] { on_event_(event, *object); });
  }

  // The resourceVersion the watch asked for is gone: LIST again, at once unless that is what the
  // last LIST gave (a server that says so every time must not make a busy loop).
  void expired(const std::string& message) {
    relist_ = true;
    if (watch_after_list_) {
      fail("WATCH: resourceVersion " + resource_version_ + " expired right after a LIST (" +
           message + ")");
      return;
    }
    client_.reset();  // the rest of this stream is of no use
    body_.clear();
    attempt();
  }

  // ---- Failures -----------------------------------------------------------------------------

  void fail(const std::string& message) {
    // A watch that stood for a while ends the run of failures; one that failed at once counts.
    if (phase_ == Phase::kWatch && status_ == 200 &&
        uv_now(loop_) - watch_started_ >= backoff_ms_) {
      backoff_ms_ = options_.min_backoff_ms;
    }
    phase_ = Phase::kWaiting;
    client_.reset();  // may be inside one of its callbacks: it allows that
    body_.clear();
    // A LIST cut short starts again from its first page (a continue token expires with 410).
    continue_.clear();
    listing_.clear();
    uv_timer_stop(timer_.get());
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    auto delay_ms = static_cast<uint64_t>(static_cast<double>(backoff_ms_) * jitter(random_));
    backoff_ms_ = std::min(backoff_ms_ * 2, options_.max_backoff_ms);
    uv_timer_start(timer_.get(), &Impl::on_timer, delay_ms, 0);
    std::string error = api_->access().server + ": " + message;
    if (on_error_) notify([&] { on_error_(error, std::max<uint64_t>(delay_ms, 1)); });
  }

  static void on_timer(uv_timer_t* timer) {
    auto* self = static_cast<Impl*>(timer->data);
    if (self->phase_ == Phase::kWaiting) self->attempt();
  }

  // Runs a user callback; false when the ListWatch was destroyed inside it.
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
  std::shared_ptr<const ApiClient> api_;
  Options options_;
  ListedFn on_listed_;
  EventFn on_event_;
  ErrorFn on_error_;
  std::unique_ptr<http::Client> client_;
  http::HeaderList headers_;  // of the request under way (the client reads them while sending)
  UvHandle<uv_timer_t> timer_;
  Phase phase_ = Phase::kStopped;
  uint16_t status_ = 0;
  std::string body_;           // a LIST response, or watch bytes short of a whole line
  std::string continue_;       // the token of the LIST's next page; empty: the first
  std::vector<Json> listing_;  // the objects of the LIST's pages so far
  bool relist_ = false;
  bool watch_after_list_ = false;
  bool watch_changed_ = false;
  uint64_t watch_started_ = 0;
  uint64_t backoff_ms_ = 0;
  std::minstd_rand random_;
  bool* destroyed_ = nullptr;
};

ListWatch::ListWatch(uv_loop_t* loop, std::shared_ptr<const ApiClient> api, Options options,
                     ListedFn on_listed, EventFn on_event, ErrorFn on_error)
    : impl_(std::make_unique<Impl>(loop, std::move(api), std::move(options), std::move(on_listed),
                                   std::move(on_event), std::move(on_error))) {}

ListWatch::~ListWatch() = default;

void ListWatch::start() {
  impl_->start();
}

const std::string& ListWatch::resource_version() const {
  return impl_->resource_version_;
}

}  // namespace waygate::discovery::kubernetes
