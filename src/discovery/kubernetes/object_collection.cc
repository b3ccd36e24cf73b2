#include "discovery/kubernetes/object_collection.h"

#include <utility>
#include <vector>

#include "discovery/json_member.h"

namespace waygate::discovery::kubernetes {

ObjectCollection::Subscription& ObjectCollection::Subscription::operator=(
    Subscription&& other) noexcept {
  if (this != &other) {
    reset();
    collection_ = std::move(other.collection_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

void ObjectCollection::Subscription::reset() {
  if (!collection_) return;
  collection_->listeners_.erase(id_);
  collection_.reset();
}

ObjectCollection::ObjectCollection(uv_loop_t* loop, std::shared_ptr<const ApiClient> api,
                                   const char* kind, const ListWatch::Options& options)
    : kind_(kind),
      watch_(
          loop, std::move(api), options,
          [this](std::vector<nlohmann::json> items) {
            objects_.clear();
            for (nlohmann::json& item : items) {
              std::string key = key_of(item);
              if (!key.empty()) objects_[key] = std::move(item);
            }
            listed_ = true;
            changed();
          },
          [this](ListWatch::Event event, const nlohmann::json& object) {
            std::string key = key_of(object);
            if (key.empty()) return;
            if (event == ListWatch::Event::kDeleted) {
              objects_.erase(key);
            } else {
              objects_[key] = object;
            }
            changed();
          },
          [this](const std::string& error, uint64_t next_try_ms) { failed(error, next_try_ms); }) {}

std::string ObjectCollection::key_of(const nlohmann::json& object) {
  const nlohmann::json* metadata = json_member(object, "metadata");
  const nlohmann::json* name = metadata ? json_member(*metadata, "name") : nullptr;
  if (!name || !name->is_string() || name->get<std::string>().empty()) return "";
  const nlohmann::json* namespace_name = json_member(*metadata, "namespace");
  if (!namespace_name || !namespace_name->is_string() || namespace_name->get<std::string>().empty())
    return name->get<std::string>();
  return namespace_name->get<std::string>() + "/" + name->get<std::string>();
}

ObjectCollection::Subscription ObjectCollection::listen(Listener listener) {
  uint64_t id = next_id_++;
  listeners_.emplace(id, std::move(listener));
  watch_.start();  // nothing when it runs already
  return {shared_from_this(), id};
}

void ObjectCollection::changed() {
  // A listener told may drop its subscription (or another's), and with the last one this.
  std::shared_ptr<ObjectCollection> keep = shared_from_this();
  std::vector<uint64_t> ids;
  for (const auto& [id, listener] : listeners_)
    ids.push_back(id);
  for (uint64_t id : ids) {
    auto listener = listeners_.find(id);
    if (listener == listeners_.end()) continue;
    std::function<void()> on_changed = listener->second.on_changed;
    on_changed();
  }
}

void ObjectCollection::failed(const std::string& error, uint64_t next_try_ms) {
  std::shared_ptr<ObjectCollection> keep = shared_from_this();
  std::vector<uint64_t> ids;
  for (const auto& [id, listener] : listeners_)
    ids.push_back(id);
  for (uint64_t id : ids) {
    auto listener = listeners_.find(id);
    if (listener == listeners_.end()) continue;
    ListWatch::ErrorFn on_error = listener->second.on_error;
    on_error(error, next_try_ms);
  }
}

std::shared_ptr<ObjectCollection> ObjectCollections::get(const char* kind, const std::string& path,
                                                         const std::string& field_selector) {
  std::erase_if(collections_, [](const auto& entry) { return entry.second.expired(); });
  std::weak_ptr<ObjectCollection>& slot = collections_[path + "?" + field_selector];
  std::shared_ptr<ObjectCollection> collection = slot.lock();
  if (!collection) {
    ListWatch::Options options;
    options.path = path;
    options.field_selector = field_selector;
    collection = std::make_shared<ObjectCollection>(loop_, api_, kind, options);
    slot = collection;
  }
  return collection;
}

}  // namespace waygate::discovery::kubernetes
