// DnsResolver on c-ares 1.18 and libuv. c-ares owns the sockets and the retries; the loop watches
// each socket c-ares reports through its socket-state callback (one uv_poll each), calls
// ares_process_fd when one is ready, and runs a timer for ares_timeout's next deadline. Answers
// arrive raw (ares_query) and are read by parse_dns_response, so every record's TTL is known.
//
// What callers can rely on, and how:
// - Callbacks run from an idle handle, never inside c-ares nor inside the call that started the
//   lookup; so a callback may start lookups, or destroy the resolver (the rest are then dropped).
// - A lookup fails after timeout x tries (x servers, for the system's resolv.conf) at the latest:
//   c-ares 1.18 doubles the timeout on every round of tries (2 tries of 2 s would take 6 s), so
//   each lookup also has its own deadline, and c-ares's late answer is dropped.
// - kAny asks A and AAAA at once and succeeds when either has records: a server that fails AAAA
//   queries (some do) must not hide the IPv4 addresses.
// - SRV answers carry the SRV records only; a caller resolves the targets with resolve_addresses
//   (the additional section's addresses are parsed, but the answer has no place for them).
#include "discovery/dns_resolver.h"

#include <ares.h>

#include <algorithm>
#include <array>
#include <climits>
#include <initializer_list>
#include <iterator>
#include <list>
#include <span>
#include <unordered_map>

#include "core/log.h"
#include "core/uv_handle.h"
#include "discovery/dns_message.h"

namespace waygate::discovery {
namespace {

// Once per process, before the first channel, and never cleaned up: resolvers on other loops may
// be alive. (On Linux it sets nothing up, but the API asks for it.)
int init_ares_library() {
  static const int status = ares_library_init(ARES_LIB_INIT_ALL);
  return status;
}

int count_servers(ares_channel channel) {
  ares_addr_port_node* servers = nullptr;
  if (ares_get_servers_ports(channel, &servers) != ARES_SUCCESS) return 1;
  int count = 0;
  for (ares_addr_port_node* server = servers; server; server = server->next)
    ++count;
  ares_free_data(servers);
  return std::max(count, 1);
}

const char* type_name(uint16_t type) {
  switch (type) {
    case kDnsTypeA:
      return "A";
    case kDnsTypeAaaa:
      return "AAAA";
    default:
      return "SRV";
  }
}

std::string describe_status(int status, bool configured_server) {
  switch (status) {
    case ARES_ETIMEOUT:
      return "no answer in time";
    case ARES_ECONNREFUSED:
      // c-ares 1.18 also reports a server it skipped for SERVFAIL, REFUSED or NOTIMP this way.
      return configured_server ? "server unreachable (connection refused)"
                               : "no server gave a usable answer (connection refused, SERVFAIL, "
                                 "REFUSED or NOTIMP)";
    case ARES_ESERVFAIL:
      return "server failure (SERVFAIL)";
    case ARES_EREFUSED:
      return "query refused (REFUSED)";
    case ARES_EFORMERR:
      return "the server could not read the query (FORMERR)";
    case ARES_ENOTIMP:
      return "not implemented by the server (NOTIMP)";
    case ARES_EBADNAME:
      return "not a valid DNS name";
    case ARES_EBADRESP:
      return "malformed answer";
    default:
      return ares_strerror(status);
  }
}

}  // namespace

class DnsResolver::Impl {
 public:
  Impl(uv_loop_t* loop, Options options);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  const std::string& error() const { return error_; }
  void resolve_addresses(const std::string& name, AddressFamily family,
                         std::function<void(AddressAnswer)> done);
  void resolve_srv(const std::string& name, std::function<void(SrvAnswer)> done);

 private:
  struct Lookup;

  // One c-ares query of a lookup (kAny makes two), and what its answer said.
  struct Query {
    Lookup* lookup = nullptr;
    uint16_t type = 0;
    DnsStatus status = DnsStatus::kFailure;
    std::vector<std::string> addresses;
    std::vector<SrvRecord> records;
    uint32_t ttl = 0;
    std::string error;
  };

  struct Lookup {
    Impl* resolver = nullptr;
    std::string name;
    std::string label;                                // "A web.internal", for errors
    uint64_t deadline = 0;                            // loop time, ms
    std::function<void(AddressAnswer)> on_addresses;  // one of the two is set
    std::function<void(SrvAnswer)> on_srv;
    std::array<Query, 2> queries;
    int query_count = 0;
    int open = 0;           // queries c-ares has yet to finish
    bool answered = false;  // the answer is queued (or delivered)
    std::list<Lookup>::iterator position;
  };

  Lookup& add_lookup(const std::string& name, std::string label);
  void send(Lookup& lookup, std::initializer_list<uint16_t> types);
  void read_answer(const std::string& name, Query& query, int status,
                   std::span<const uint8_t> message) const;
  void answer(Lookup& lookup);
  void answer_failure(Lookup& lookup, std::string error);
  void queue(std::function<void()> deliver);
  void deliver_ready();
  void arm_ares_timer();
  void arm_deadline_timer();
  void expire_lookups();

  static void on_query_done(void* arg, int status, int timeouts, unsigned char* message,
                            int length);
  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable);
  static void on_poll(uv_poll_t* poll, int status, int events);
  static void on_ares_timer(uv_timer_t* timer);
  static void on_deadline_timer(uv_timer_t* timer);
  static void on_deliver(uv_idle_t* idle);

  uv_loop_t* loop_;
  Options options_;
  std::string error_;
  uint64_t budget_ms_ = 0;  // from a lookup's start to its deadline
  int server_count_ = 1;
  bool configured_server_ = false;  // a configured server: c-ares takes its answers as they are
  ares_channel channel_ = nullptr;
  std::unordered_map<ares_socket_t, UvHandle<uv_poll_t>> polls_;  // c-ares's sockets
  UvHandle<uv_timer_t> ares_timer_;
  UvHandle<uv_timer_t> deadline_timer_;  // the oldest unanswered lookup's deadline
  UvHandle<uv_idle_t> deliver_;          // runs the queued callbacks
  std::list<Lookup> lookups_;  // in start order, which is deadline order: all have one budget
  std::vector<std::function<void()>> ready_;
  bool* destroyed_ = nullptr;  // set while callbacks run, so one may destroy the resolver
};

DnsResolver::Impl::Impl(uv_loop_t* loop, Options options)
    : loop_(loop), options_(std::move(options)) {
  ares_timer_.init(uv_timer_init, loop_, this);
  deadline_timer_.init(uv_timer_init, loop_, this);
  deliver_.init(uv_idle_init, loop_, this);

  if (int status = init_ares_library(); status != ARES_SUCCESS) {
    error_ = std::string("c-ares setup: ") + ares_strerror(status);
    return;
  }
  options_.timeout_ms = std::clamp<uint64_t>(options_.timeout_ms, 1, INT_MAX);
  options_.tries = std::max(options_.tries, 1);
  ares_options settings{};
  settings.timeout = static_cast<int>(options_.timeout_ms);
  settings.tries = options_.tries;
  settings.sock_state_cb = &Impl::on_sock_state;
  settings.sock_state_cb_data = this;
  // A configured server is the only one: c-ares 1.18 would skip it on SERVFAIL, REFUSED or
  // NOTIMP and report "connection refused"; taking the answer as it is keeps the real reason.
  // With resolv.conf's servers, c-ares checks answers and moves on to the next server.
  configured_server_ = !options_.server.empty();
  if (configured_server_) {
    settings.flags = ARES_FLAG_NOCHECKRESP;
  }
  int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB |
             (configured_server_ ? ARES_OPT_FLAGS : 0);
  if (int status = ares_init_options(&channel_, &settings, mask); status != ARES_SUCCESS) {
    channel_ = nullptr;
    error_ = std::string("c-ares setup: ") + ares_strerror(status);
    return;
  }
  if (!options_.server.empty() &&
      ares_set_servers_ports_csv(channel_, options_.server.c_str()) != ARES_SUCCESS) {
    error_ = "DNS server \"" + options_.server +
             "\" is not an IP address with an optional port (127.0.0.1:5353, [::1]:53)";
    return;
  }
  server_count_ = count_servers(channel_);
  budget_ms_ = options_.timeout_ms * static_cast<uint64_t>(options_.tries) *
               static_cast<uint64_t>(server_count_);
}

DnsResolver::Impl::~Impl() {
  if (destroyed_) *destroyed_ = true;
  // Every query still under way is answered with ARES_EDESTRUCTION (dropped), and c-ares closes
  // its sockets, reporting each through on_sock_state, which closes its poll.
  if (channel_) ares_destroy(channel_);
  polls_.clear();
  // The timers and the idle handle close with their owners; the pending callbacks and lookups
  // are freed without being called.
}

void DnsResolver::Impl::resolve_addresses(const std::string& name, AddressFamily family,
                                          std::function<void(AddressAnswer)> done) {
  switch (family) {
    case AddressFamily::kAny: {
      // A first: answer() lists addresses in query order, so IPv4 comes before IPv6.
      Lookup& lookup = add_lookup(name, "A+AAAA " + name);
      lookup.on_addresses = std::move(done);
      send(lookup, {kDnsTypeA, kDnsTypeAaaa});
      break;
    }
    case AddressFamily::kIPv4: {
      Lookup& lookup = add_lookup(name, "A " + name);
      lookup.on_addresses = std::move(done);
      send(lookup, {kDnsTypeA});
      break;
    }
    case AddressFamily::kIPv6: {
      Lookup& lookup = add_lookup(name, "AAAA " + name);
      lookup.on_addresses = std::move(done);
      send(lookup, {kDnsTypeAaaa});
      break;
    }
  }
}

void DnsResolver::Impl::resolve_srv(const std::string& name, std::function<void(SrvAnswer)> done) {
  Lookup& lookup = add_lookup(name, "SRV " + name);
  lookup.on_srv = std::move(done);
  send(lookup, {kDnsTypeSrv});
}

DnsResolver::Impl::Lookup& DnsResolver::Impl::add_lookup(const std::string& name,
                                                         std::string label) {
  // The loop's clock stops while callbacks run; a lookup started after a long one (or before
  // the loop first runs) must not begin with part of its budget already gone.
  uv_update_time(loop_);
  Lookup& lookup = lookups_.emplace_back();
  lookup.position = std::prev(lookups_.end());
  lookup.resolver = this;
  lookup.name = name;
  lookup.label = std::move(label);
  lookup.deadline = uv_now(loop_) + budget_ms_;
  return lookup;
}

void DnsResolver::Impl::send(Lookup& lookup, std::initializer_list<uint16_t> types) {
  if (!error_.empty() || lookup.name.empty()) {
    answer_failure(lookup, error_.empty() ? "empty DNS name" : error_);
    lookups_.erase(lookup.position);
    return;
  }
  // All queries count as open before the first is sent: c-ares may finish one at once (a bad
  // name), and the lookup must not be answered before its other half.
  lookup.query_count = lookup.open = static_cast<int>(types.size());
  int index = 0;
  for (uint16_t type : types) {
    lookup.queries[index].lookup = &lookup;
    lookup.queries[index++].type = type;
  }
  // `lookup` may be gone after the last ares_query (answered and erased), so read nothing of it.
  const std::string& name = lookup.name;
  for (int i = 0; i < index; ++i) {
    Query& query = lookup.queries[i];
    ares_query(channel_, name.c_str(), kDnsClassIn, query.type, &Impl::on_query_done, &query);
  }
  arm_ares_timer();
  if (!uv_is_active(deadline_timer_.handle())) arm_deadline_timer();
}

void DnsResolver::Impl::on_query_done(void* arg, int status, int, unsigned char* message,
                                      int length) {
  // ~Impl is running ares_destroy: it frees the lookups, and nothing may be called any more.
  if (status == ARES_EDESTRUCTION) return;
  Query& query = *static_cast<Query*>(arg);
  Lookup& lookup = *query.lookup;
  Impl& self = *lookup.resolver;
  if (!lookup.answered) {
    std::span<const uint8_t> bytes;
    if (message && length > 0) bytes = {message, static_cast<size_t>(length)};
    self.read_answer(lookup.name, query, status, bytes);
  }
  if (--lookup.open > 0) return;
  if (!lookup.answered) self.answer(lookup);
  self.lookups_.erase(lookup.position);
}

void DnsResolver::Impl::read_answer(const std::string& name, Query& query, int status,
                                    std::span<const uint8_t> message) const {
  std::string label = std::string(type_name(query.type)) + " " + name + ": ";
  query.status = DnsStatus::kNoData;
  if (status == ARES_ENOTFOUND) {
    query.error = label + "no such name (NXDOMAIN)";
    return;
  }
  if (status == ARES_ENODATA) {
    query.error = label + "no records";
    return;
  }
  query.status = DnsStatus::kFailure;
  if (status != ARES_SUCCESS) {
    query.error = label + describe_status(status, configured_server_);
    return;
  }
  DnsParseResult parsed = parse_dns_response(message);
  if (!parsed.ok()) {
    query.error = label + "malformed answer: " + parsed.error;
    return;
  }
  const DnsResponse& response = parsed.response;
  uint32_t ttl = response.cname_ttl;
  if (query.type == kDnsTypeSrv) {
    for (const DnsSrvRecord& service : response.services) {
      if (service.target.empty()) continue;  // "." : not offered at this name (RFC 2782)
      query.records.push_back({service.target, service.port, service.priority, service.weight});
      ttl = std::min(ttl, service.ttl);
    }
  } else {
    for (const DnsAddressRecord& record : response.addresses) {
      if (record.type != query.type) continue;
      ttl = std::min(ttl, record.ttl);
      auto& addresses = query.addresses;
      if (std::find(addresses.begin(), addresses.end(), record.address) == addresses.end()) {
        addresses.push_back(record.address);
      }
    }
  }
  if (query.addresses.empty() && query.records.empty()) {
    query.status = DnsStatus::kNoData;
    if (!response.services.empty()) {
      query.error = label + "service not available (SRV target \".\")";
    } else if (response.canonical_name != response.question_name) {
      query.error =
          label + "no records at the end of the CNAME chain (" + response.canonical_name + ")";
    } else {
      query.error = label + "no records";
    }
    return;
  }
  query.status = DnsStatus::kOk;
  query.ttl = ttl;
}

void DnsResolver::Impl::answer(Lookup& lookup) {
  lookup.answered = true;
  if (lookup.on_srv) {
    Query& query = lookup.queries[0];
    SrvAnswer srv{query.status, std::move(query.records),
                  query.status == DnsStatus::kOk ? query.ttl : 0, std::move(query.error)};
    queue([done = std::move(lookup.on_srv), srv = std::move(srv)]() mutable {
      done(std::move(srv));
    });
    return;
  }
  AddressAnswer merged;
  merged.ttl = UINT32_MAX;
  std::string failures, no_data;
  for (int i = 0; i < lookup.query_count; ++i) {
    Query& query = lookup.queries[i];
    if (query.status == DnsStatus::kOk) {
      merged.status = DnsStatus::kOk;
      merged.ttl = std::min(merged.ttl, query.ttl);
      for (std::string& address : query.addresses)
        merged.addresses.push_back(std::move(address));
    } else {
      std::string& errors = query.status == DnsStatus::kFailure ? failures : no_data;
      errors += (errors.empty() ? "" : "; ") + query.error;
    }
  }
  if (merged.status != DnsStatus::kOk) {
    merged.ttl = 0;
    merged.status = failures.empty() ? DnsStatus::kNoData : DnsStatus::kFailure;
    merged.error = failures.empty() ? std::move(no_data) : std::move(failures);
  }
  queue([done = std::move(lookup.on_addresses), merged = std::move(merged)]() mutable {
    done(std::move(merged));
  });
}

void DnsResolver::Impl::answer_failure(Lookup& lookup, std::string error) {
  lookup.answered = true;
  if (lookup.on_srv) {
    SrvAnswer srv;
    srv.error = std::move(error);
    queue([done = std::move(lookup.on_srv), srv = std::move(srv)]() mutable {
      done(std::move(srv));
    });
  } else {
    AddressAnswer addresses;
    addresses.error = std::move(error);
    queue([done = std::move(lookup.on_addresses), addresses = std::move(addresses)]() mutable {
      done(std::move(addresses));
    });
  }
}

void DnsResolver::Impl::queue(std::function<void()> deliver) {
  ready_.push_back(std::move(deliver));
  if (!uv_is_active(deliver_.handle())) uv_idle_start(deliver_.get(), &Impl::on_deliver);
}

void DnsResolver::Impl::on_deliver(uv_idle_t* idle) {
  static_cast<Impl*>(idle->data)->deliver_ready();
}

void DnsResolver::Impl::deliver_ready() {
  // Callbacks queued by these callbacks wait for the next turn of the loop, so a caller that
  // retries at once from its callback cannot keep the loop from polling.
  uv_idle_stop(deliver_.get());
  std::vector<std::function<void()>> batch;
  batch.swap(ready_);
  bool destroyed = false;
  destroyed_ = &destroyed;
  for (std::function<void()>& deliver : batch) {
    deliver();
    if (destroyed) return;  // a callback destroyed the resolver; the rest are dropped
  }
  destroyed_ = nullptr;
}

void DnsResolver::Impl::on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
  Impl& self = *static_cast<Impl*>(data);
  if (!readable && !writable) {
    self.polls_.erase(fd);  // c-ares closes the socket next; the poll stops watching it first
    return;
  }
  auto [entry, added] = self.polls_.try_emplace(fd);
  UvHandle<uv_poll_t>& poll = entry->second;
  if (added) {
    if (int rc = poll.init(uv_poll_init_socket, self.loop_, &self, fd); rc != 0) {
      // c-ares's timeout ends the queries on this socket.
      WG_LOG_WARN("DNS: cannot watch socket %d: %s", fd, uv_strerror(rc));
      self.polls_.erase(entry);
      return;
    }
  }
  int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  if (int rc = uv_poll_start(poll.get(), events, &Impl::on_poll); rc != 0) {
    WG_LOG_WARN("DNS: cannot watch socket %d: %s", fd, uv_strerror(rc));
  }
}

void DnsResolver::Impl::on_poll(uv_poll_t* poll, int status, int events) {
  Impl& self = *static_cast<Impl*>(poll->data);
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(poll), &fd) != 0) return;
  // On a socket error, let c-ares both read and write: it meets the error itself and moves on.
  bool error = status < 0;
  ares_socket_t read_fd = (error || (events & UV_READABLE)) ? fd : ARES_SOCKET_BAD;
  ares_socket_t write_fd = (error || (events & UV_WRITABLE)) ? fd : ARES_SOCKET_BAD;
  ares_process_fd(self.channel_, read_fd, write_fd);  // may close `poll`
  self.arm_ares_timer();
}

void DnsResolver::Impl::arm_ares_timer() {
  timeval buffer{};
  timeval* next = ares_timeout(channel_, nullptr, &buffer);
  if (!next) {
    uv_timer_stop(ares_timer_.get());
    return;
  }
  uint64_t ms = static_cast<uint64_t>(next->tv_sec) * 1000 +
                (static_cast<uint64_t>(next->tv_usec) + 999) / 1000;
  uv_timer_start(ares_timer_.get(), &Impl::on_ares_timer, ms, 0);
}

void DnsResolver::Impl::on_ares_timer(uv_timer_t* timer) {
  Impl& self = *static_cast<Impl*>(timer->data);
  ares_process_fd(self.channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // runs c-ares's timeouts
  self.arm_ares_timer();
}

void DnsResolver::Impl::arm_deadline_timer() {
  for (const Lookup& lookup : lookups_) {
    if (lookup.answered) continue;
    uint64_t now = uv_now(loop_);
    uint64_t wait = lookup.deadline > now ? lookup.deadline - now : 0;
    uv_timer_start(deadline_timer_.get(), &Impl::on_deadline_timer, wait, 0);
    return;
  }
  uv_timer_stop(deadline_timer_.get());
}

void DnsResolver::Impl::on_deadline_timer(uv_timer_t* timer) {
  static_cast<Impl*>(timer->data)->expire_lookups();
}

void DnsResolver::Impl::expire_lookups() {
  uint64_t now = uv_now(loop_);
  for (Lookup& lookup : lookups_) {
    if (lookup.answered) continue;
    if (lookup.deadline > now) break;
    // Stays listed until c-ares finishes its queries, whose answers are then dropped.
    std::string error = lookup.label + ": no answer within " + std::to_string(budget_ms_) +
                        " ms (" + std::to_string(options_.tries) + " tries of " +
                        std::to_string(options_.timeout_ms) + " ms";
    if (server_count_ > 1) error += " at each of " + std::to_string(server_count_) + " servers";
    answer_failure(lookup, error + ")");
  }
  arm_deadline_timer();
}

DnsResolver::DnsResolver(uv_loop_t* loop, Options options)
    : impl_(std::make_unique<Impl>(loop, std::move(options))) {}

DnsResolver::~DnsResolver() = default;

const std::string& DnsResolver::error() const {
  return impl_->error();
}

void DnsResolver::resolve_addresses(const std::string& name, AddressFamily family,
                                    std::function<void(AddressAnswer)> done) {
  impl_->resolve_addresses(name, family, std::move(done));
}

void DnsResolver::resolve_srv(const std::string& name, std::function<void(SrvAnswer)> done) {
  impl_->resolve_srv(name, std::move(done));
}

}  // namespace waygate::discovery
