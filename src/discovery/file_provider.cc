#include "discovery/file_provider.h"

#include <fstream>
#include <sstream>

#include "core/log.h"
#include "routing/yaml_reader.h"

namespace waygate::discovery {

FileProvider::FileProvider(std::string cluster, ProviderSink& sink, uv_loop_t* loop,
                           std::string path)
    : Provider(std::move(cluster), sink), path_(path), watcher_(loop, std::move(path), [this] {
        std::vector<routing::EndpointSpec> endpoints;
        if (read(&endpoints)) report(std::move(endpoints));
      }) {
  std::vector<routing::EndpointSpec> endpoints;
  if (read(&endpoints)) preload(std::move(endpoints));
}

void FileProvider::start() {
  watcher_.set_on_missing([this] { keep_after_failure("the file is gone"); });
  if (std::string error = watcher_.start(); !error.empty()) {
    WG_LOG_WARN("discovery: cluster %s, %s: %s; changes to it will not be seen", cluster().c_str(),
                describe().c_str(), error.c_str());
  }
}

bool FileProvider::read(std::vector<routing::EndpointSpec>* endpoints) {
  std::ifstream file(path_, std::ios::binary);
  if (!file) {
    keep_after_failure("cannot read the file");
    return false;
  }
  std::ostringstream text;
  text << file.rdbuf();
  watcher_.note_loaded(text.str());
  std::vector<std::string> errors;
  if (parse(text.str(), path_, endpoints, &errors)) return true;
  for (const std::string& error : errors) {
    keep_after_failure(error);
  }
  return false;
}

bool FileProvider::parse(const std::string& text, const std::string& path,
                         std::vector<routing::EndpointSpec>* endpoints,
                         std::vector<std::string>* errors) {
  routing::Reader r(path);
  yaml::ParseResult document = yaml::parse(text);
  yaml::Node root = document.document.root();
  if (document.error) {
    r.error(document.error->mark, document.error->message);
  } else {
    // An empty file is more likely one caught mid-write (truncated, not yet filled) than a
    // deliberate "no endpoints", which is written as [].
    if (!root || root.IsNull()) {
      r.error(yaml::Mark(), "the file is empty (write [] for no endpoints)");
    } else {
      for (const yaml::Node& item : r.sequence(root, "the endpoint list")) {
        if (!r.check_map(item, "an endpoint", {"address", "port", "weight", "zone", "metadata"})) {
          continue;
        }
        routing::EndpointSpec endpoint;
        std::string address;
        uint64_t port = 0;
        if (!item["address"]) {
          r.error(item, "an endpoint needs an address");
        } else if (auto text_value = r.string(item["address"], "address")) {
          address = *text_value;
        }
        if (!item["port"]) {
          r.error(item, "an endpoint needs a port");
        } else if (auto value = r.count_between(item["port"], "port", 1, 65535)) {
          port = *value;
        }
        if (item["weight"]) {
          if (auto value = r.count_between(item["weight"], "weight", 1, 1'000'000)) {
            endpoint.weight = static_cast<uint32_t>(*value);
          }
        }
        if (item["zone"]) endpoint.zone = r.string(item["zone"], "zone").value_or("");
        if (const yaml::Node& metadata = item["metadata"]) {
          if (!metadata.IsMap()) {
            r.error(metadata, "metadata must be a mapping");
          } else {
            for (auto it = metadata.begin(); it != metadata.end(); ++it) {
              auto key = r.string(it->first, "metadata key");
              if (key && it->second.IsScalar())
                endpoint.metadata.emplace_back(*key, it->second.Scalar());
            }
          }
        }
        if (address.empty() || port == 0) continue;
        std::string text_address = address.find(':') == std::string::npos
                                       ? address + ":" + std::to_string(port)
                                       : "[" + address + "]:" + std::to_string(port);
        auto parsed = parse_socket_address(text_address);
        if (!parsed) {
          r.error(item["address"],
                  "address " + routing::quoted_value(address) + " is not an IP address");
          continue;
        }
        endpoint.address_text = text_address;
        endpoint.address = *parsed;
        endpoints->push_back(std::move(endpoint));
      }
    }
  }
  *errors = r.sorted_errors();
  return errors->empty();
}

}  // namespace waygate::discovery
