#include "discovery/kubernetes/endpoint_slice_watch.h"

#include <utility>

#include "core/log.h"
#include "discovery/json_member.h"
#include "discovery/kubernetes/endpoint_slice.h"

namespace waygate::discovery::kubernetes {
namespace {

constexpr const char* kServiceLabel = "kubernetes.io/service-name";

ListWatch::Options watch_options(const std::string& namespace_name) {
  ListWatch::Options options;
  options.path = "/apis/discovery.k8s.io/v1/namespaces/" + namespace_name + "/endpointslices";
  // Slices a Service owns; others (made by hand for no Service) are never sent.
  options.label_selector = kServiceLabel;
  options.trim_item = [](const nlohmann::json& object) { return trim_endpoint_slice(object); };
  return options;
}

std::string member_text(const nlohmann::json* object, const char* name) {
  const nlohmann::json* value = object ? json_member(*object, name) : nullptr;
  return value && value->is_string() ? value->get<std::string>() : "";
}

}  // namespace

EndpointSliceWatch::EndpointSliceWatch(uv_loop_t* loop, std::shared_ptr<const ApiClient> api,
                                       std::string namespace_name)
    : namespace_name_(std::move(namespace_name)),
      watch_(
          loop, std::move(api), watch_options(namespace_name_),
          [this](std::vector<nlohmann::json> items) { on_listed(std::move(items)); },
          [this](ListWatch::Event event, const nlohmann::json& object) { on_event(event, object); },
          [this](const std::string& error, uint64_t next_try_ms) {
            on_error(error, next_try_ms);
          }) {}

void EndpointSliceWatch::subscribe(const std::string& service, Subscriber* subscriber) {
  Service& entry = services_[service];
  entry.subscribers.push_back(subscriber);
  if (listed_) subscriber->on_slices(entry.slices);
  watch_.start();  // nothing when it runs already
}

void EndpointSliceWatch::unsubscribe(const std::string& service, Subscriber* subscriber) {
  auto entry = services_.find(service);
  if (entry == services_.end()) return;
  std::erase(entry->second.subscribers, subscriber);
}

const EndpointSliceWatch::Slices* EndpointSliceWatch::slices(const std::string& service) const {
  if (!listed_) return nullptr;
  static const Slices kNone;
  auto entry = services_.find(service);
  return entry == services_.end() ? &kNone : &entry->second.slices;
}

void EndpointSliceWatch::on_listed(std::vector<nlohmann::json> items) {
  listed_ = true;
  service_of_.clear();
  for (auto& [name, service] : services_)
    service.slices.clear();
  for (nlohmann::json& item : items) {  // trimmed already (trim_item)
    const nlohmann::json* metadata = json_member(item, "metadata");
    std::string name = member_text(metadata, "name");
    const nlohmann::json* labels = metadata ? json_member(*metadata, "labels") : nullptr;
    std::string service = member_text(labels, kServiceLabel);
    if (name.empty() || service.empty()) continue;
    service_of_[name] = service;
    services_[service].slices[name] = std::move(item);
  }
  // Services without slices or subscribers are dropped; the others hear of the new state.
  std::erase_if(services_, [](const auto& entry) {
    return entry.second.slices.empty() && entry.second.subscribers.empty();
  });
  std::vector<std::string> told;
  for (const auto& [name, service] : services_) {
    if (!service.subscribers.empty()) told.push_back(name);
  }
  for (const std::string& name : told)
    tell(name);
}

std::string EndpointSliceWatch::forget(const std::string& slice) {
  auto known = service_of_.find(slice);
  if (known == service_of_.end()) return "";
  std::string service = std::move(known->second);
  service_of_.erase(known);
  auto entry = services_.find(service);
  if (entry != services_.end()) {
    entry->second.slices.erase(slice);
    if (entry->second.slices.empty() && entry->second.subscribers.empty()) services_.erase(entry);
  }
  return service;
}

void EndpointSliceWatch::on_event(ListWatch::Event event, const nlohmann::json& object) {
  const nlohmann::json* metadata = json_member(object, "metadata");
  std::string name = member_text(metadata, "name");
  if (name.empty()) return;
  const nlohmann::json* labels = metadata ? json_member(*metadata, "labels") : nullptr;
  std::string service =
      event == ListWatch::Event::kDeleted ? "" : member_text(labels, kServiceLabel);
  // A slice whose label now names another Service (or none) leaves the one it was in.
  std::string before = forget(name);
  if (!before.empty() && before != service) tell(before);
  if (service.empty()) return;
  service_of_[name] = service;
  services_[service].slices[name] = trim_endpoint_slice(object);
  tell(service);
}

void EndpointSliceWatch::on_error(const std::string& error, uint64_t next_try_ms) {
  // One line however many clusters the watch serves: not thousands for one failure.
  size_t clusters = 0;
  for (const auto& [name, service] : services_)
    clusters += service.subscribers.size();
  WG_LOG_WARN(
      "discovery: kubernetes EndpointSlices of namespace %s: %s (keeping the last endpoints of "
      "%zu cluster%s; next try in %llu ms)",
      namespace_name_.c_str(), error.c_str(), clusters, clusters == 1 ? "" : "s",
      static_cast<unsigned long long>(next_try_ms));
}

void EndpointSliceWatch::tell(const std::string& service) {
  auto entry = services_.find(service);
  if (entry == services_.end()) return;
  // A copy: the list may change while it is told.
  std::vector<Subscriber*> subscribers = entry->second.subscribers;
  const Slices& slices = entry->second.slices;
  for (Subscriber* subscriber : subscribers)
    subscriber->on_slices(slices);
}

}  // namespace waygate::discovery::kubernetes
