// The EndpointSlices of one namespace, listed and watched once for every cluster that takes its
// endpoints from a Service there: one connection per namespace however many Services are named,
// each slice handed to the subscribers of its Service (label kubernetes.io/service-name) alone.
// Slices are kept trimmed to what parse_endpoint_slice reads. Runs on the control loop.
#pragma once

#include <uv.h>

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "discovery/kubernetes/api_client.h"
#include "discovery/kubernetes/list_watch.h"

namespace waygate::discovery::kubernetes {

class EndpointSliceWatch {
 public:
  using Slices = std::map<std::string, nlohmann::json>;  // by the slice's name

  class Subscriber {
   public:
    // The Service's slices as they are now: after each LIST, and when one of them changed. (A
    // failed LIST or WATCH tells nothing: what the subscriber knew stands, and the watch warns
    // once for all of them.)
    virtual void on_slices(const Slices& slices) = 0;

   protected:
    ~Subscriber() = default;
  };

  EndpointSliceWatch(uv_loop_t* loop, std::shared_ptr<const ApiClient> api,
                     std::string namespace_name);
  EndpointSliceWatch(const EndpointSliceWatch&) = delete;
  EndpointSliceWatch& operator=(const EndpointSliceWatch&) = delete;

  // The first subscriber starts the LIST and WATCH; one joining after the LIST is told the
  // Service's slices at once.
  void subscribe(const std::string& service, Subscriber* subscriber);
  void unsubscribe(const std::string& service, Subscriber* subscriber);
  // The Service's slices as last listed or watched; null before the first LIST.
  const Slices* slices(const std::string& service) const;

 private:
  struct Service {
    Slices slices;
    std::vector<Subscriber*> subscribers;
  };
  void on_listed(std::vector<nlohmann::json> items);
  void on_event(ListWatch::Event event, const nlohmann::json& object);
  void on_error(const std::string& error, uint64_t next_try_ms);
  // Removes the slice from the Service it was in; that Service, or "" when it was in none.
  std::string forget(const std::string& slice);
  void tell(const std::string& service);

  std::string namespace_name_;
  std::map<std::string, Service> services_;        // by the Service's name
  std::map<std::string, std::string> service_of_;  // the Service of each slice, by its name
  bool listed_ = false;
  ListWatch watch_;
};

}  // namespace waygate::discovery::kubernetes
