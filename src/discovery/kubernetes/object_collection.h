// One kind of Kubernetes object (the Services of a namespace, every IngressClass...) listed and
// watched once for every routes source that reads it, kept by "NAMESPACE/NAME" (NAME for an
// object without a namespace); each source listening is told whenever it changes. The Ingress
// and the Gateway sources read the Services through one watch. Runs on the control loop.
#pragma once

#include <uv.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "discovery/kubernetes/api_client.h"
#include "discovery/kubernetes/list_watch.h"

namespace waygate::discovery::kubernetes {

class ObjectCollection : public std::enable_shared_from_this<ObjectCollection> {
 public:
  using Objects = std::map<std::string, nlohmann::json>;
  struct Listener {
    std::function<void()> on_changed;  // after each LIST and each change watched
    ListWatch::ErrorFn on_error;
  };
  // Tells its listener until it is dropped (or reset); may be dropped from within a callback.
  class Subscription {
   public:
    Subscription() = default;
    Subscription(std::shared_ptr<ObjectCollection> collection, uint64_t id)
        : collection_(std::move(collection)), id_(id) {}
    ~Subscription() { reset(); }
    Subscription(Subscription&& other) noexcept = default;
    Subscription& operator=(Subscription&& other) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;

    void reset();
    // False before the collection is first listed, and once reset.
    bool listed() const { return collection_ && collection_->listed(); }
    const Objects& objects() const { return collection_->objects(); }

   private:
    std::shared_ptr<ObjectCollection> collection_;
    uint64_t id_ = 0;
  };

  // kind names the objects in warnings ("Service").
  ObjectCollection(uv_loop_t* loop, std::shared_ptr<const ApiClient> api, const char* kind,
                   const ListWatch::Options& options);
  ObjectCollection(const ObjectCollection&) = delete;
  ObjectCollection& operator=(const ObjectCollection&) = delete;

  // The first listener starts the LIST and WATCH. One joining later is told of the changes from
  // then on, not at once: it reads listed() and objects() for what is known already.
  Subscription listen(Listener listener);
  bool listed() const { return listed_; }
  const Objects& objects() const { return objects_; }
  const char* kind() const { return kind_; }

  // "NAMESPACE/NAME", or NAME for an object without a namespace; "" without a name.
  static std::string key_of(const nlohmann::json& object);

 private:
  void changed();
  void failed(const std::string& error, uint64_t next_try_ms);

  const char* kind_;
  Objects objects_;
  bool listed_ = false;
  std::map<uint64_t, Listener> listeners_;
  uint64_t next_id_ = 1;
  ListWatch watch_;
};

// The collections of one API server that the routes sources share, by path and field selector:
// the running one while any source holds it, else a new one.
class ObjectCollections {
 public:
  ObjectCollections(uv_loop_t* loop, std::shared_ptr<const ApiClient> api)
      : loop_(loop), api_(std::move(api)) {}

  std::shared_ptr<ObjectCollection> get(const char* kind, const std::string& path,
                                        const std::string& field_selector = "");
  uv_loop_t* loop() const { return loop_; }
  const std::shared_ptr<const ApiClient>& api() const { return api_; }

 private:
  uv_loop_t* loop_;
  std::shared_ptr<const ApiClient> api_;
  std::map<std::string, std::weak_ptr<ObjectCollection>> collections_;
};

}  // namespace waygate::discovery::kubernetes
