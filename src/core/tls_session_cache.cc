#include "core/tls_session_cache.h"

#include <utility>

namespace waygate::tls {
namespace {

bool single_use(const SSL_SESSION* session) {
  return SSL_SESSION_get_protocol_version(session) >= TLS1_3_VERSION;
}

}  // namespace

SslSessionPtr ClientSessionCache::take(const std::string& peer) {
  std::lock_guard lock(mutex_);
  auto found = sessions_.find(peer);
  if (found == sessions_.end()) return nullptr;
  std::vector<SslSessionPtr>& kept = found->second;
  while (!kept.empty() && SSL_SESSION_is_resumable(kept.back().get()) != 1)
    kept.pop_back();
  if (kept.empty()) return nullptr;
  if (single_use(kept.back().get())) {
    SslSessionPtr newest = std::move(kept.back());
    kept.pop_back();
    return newest;
  }
  SSL_SESSION_up_ref(kept.back().get());
  return SslSessionPtr(kept.back().get());
}

void ClientSessionCache::store(const std::string& peer, SslSessionPtr session) {
  if (!session || SSL_SESSION_is_resumable(session.get()) != 1) return;
  std::lock_guard lock(mutex_);
  auto found = sessions_.find(peer);
  if (found == sessions_.end()) {
    if (sessions_.size() >= kMaxPeers) sessions_.erase(sessions_.begin());
    found = sessions_.try_emplace(peer).first;
  }
  std::vector<SslSessionPtr>& kept = found->second;
  if (!single_use(session.get())) kept.clear();
  if (kept.size() >= kTicketsPerPeer) kept.erase(kept.begin());
  kept.push_back(std::move(session));
}

size_t ClientSessionCache::count(const std::string& peer) const {
  std::lock_guard lock(mutex_);
  auto found = sessions_.find(peer);
  return found == sessions_.end() ? 0 : found->second.size();
}

}  // namespace waygate::tls
